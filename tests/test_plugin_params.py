"""The ``params`` route: what each Mapper parameter of a request accepts, from the engine's one constraint table.

The answer is checked against what the routes really accept (``mapper_args``, which every re-mapping route
uses): each value the answer allows is taken and each it does not is a 400, probed at the bounds it states. And
against the engine: a value the table's spec allows is one ``Mapper`` accepts (``tests/test_params.py``).
"""

from __future__ import annotations

import json

import pytest
from tensorboard import errors
from topoact_tensorboard.arguments import (
    MAPPER_ARGS,
    MAX_REQUEST_INTERVALS,
    MAX_REQUEST_MIN_SAMPLES,
    mapper_args,
    request_parameters,
)
from werkzeug.test import EnvironBuilder
from werkzeug.wrappers import Request

from tests.test_plugin_routes import BASE, get_json, make_app
from topoact_lightning.engine.distances import METRICS
from topoact_lightning.engine.lenses import LENSES
from topoact_lightning.engine.params import parameter_spec

#: The keys the front end reads (the contract between the back and front ends).
CONTRACT = ("n_intervals", "overlap", "eps", "min_samples", "lens", "metric")


@pytest.fixture(scope="module")
def params(tmp_path_factory):
    client, _ = make_app(tmp_path_factory.mktemp("empty"))  # the same for every run, and without any
    return get_json(client, "params")["parameters"]


def test_the_answer_states_each_parameter_of_the_routes(params):
    assert set(CONTRACT) <= set(params) == set(MAPPER_ARGS)
    assert params["n_intervals"] == {"type": "integer", "min": 1, "max": MAX_REQUEST_INTERVALS}
    assert params["min_samples"] == {"type": "integer", "min": 1, "max": MAX_REQUEST_MIN_SAMPLES}
    assert params["overlap"] == parameter_spec("overlap") == {
        "type": "number", "min": 0, "max": 1, "max_exclusive": True,
    }  # fmt: skip
    assert params["eps"] == {"type": "number", "min": 0, "min_exclusive": True, "options": ["auto", "fixed"]}
    assert params["lens"] == {"type": "choice", "options": list(LENSES)}
    assert params["metric"] == {"type": "choice", "options": list(METRICS)}


def test_the_route_is_json_without_a_run(tmp_path):
    client, _ = make_app(tmp_path)
    r = client.get(BASE + "params")
    assert r.status_code == 200 and r.mimetype == "application/json"
    assert json.loads(r.get_data())["parameters"]["lens"]["type"] == "choice"


def probes(spec: dict) -> list[tuple[str, bool]]:
    """Query values at and beyond the bounds ``spec`` states, each with whether ``spec`` allows it."""
    out = [(o, True) for o in spec.get("options", [])] + [("nope", False), ("", True)]  # "" = not given
    low, high = spec.get("min"), spec.get("max")
    if spec["type"] == "integer":
        out += [(str(low), True), (str(low - 1), False), ("1.5", False)]
        if high is not None:
            out += [(str(high), True), (str(high + 1), False)]
    elif spec["type"] == "number":
        inside = (low + high) / 2 if high is not None else low + 1
        out += [(str(inside), True), (str(low), not spec.get("min_exclusive")), ("-1", False), ("nan", False)]
        out += [("1e999", False)]  # infinite: no bound says so, and no JSON number can
        if high is not None:
            out += [(str(high), not spec.get("max_exclusive")), (str(high + 1), False)]
    return out


@pytest.mark.parametrize(
    ("name", "value", "allowed"),
    [
        (name, value, allowed)
        for name, spec in request_parameters().items()
        for value, allowed in probes(spec)
    ],
)
def test_the_routes_accept_exactly_what_the_answer_states(params, name, value, allowed):
    assert params[name] == request_parameters()[name]  # what is probed here is what the route answers
    request = Request(EnvironBuilder(query_string={name: value}).get_environ())
    if allowed:
        mapper_args(request)
    else:
        with pytest.raises(errors.InvalidArgumentError, match=name):
            mapper_args(request)
