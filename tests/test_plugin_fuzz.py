"""Fuzzing every route: whatever the query, the answer is a 200 with strict JSON (or a PNG, or a file), or a
``text/plain`` 400/404 without a traceback; never a 500, and nothing the client sent reaches the log raw.

Over real logs with broken epochs (``tests/_hostile.py`` beside the routes tests' experiment): a corpus of missing,
empty, malformed, huge, unicode, traversal, HTML and control-character values, one parameter at a time from a
valid request; hypothesis drawing every parameter at once and whole raw query strings; and a smaller corpus
against real ``tensorboard`` processes on both data back ends (slow).
"""

from __future__ import annotations

import json
import logging
import os
import urllib.parse

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from topoact_tensorboard.arguments import MAPPER_ARGS
from torch.utils.tensorboard import SummaryWriter

from tests._hostile import EXTREME_STEPS, ODD_LAYERS, ODD_RUN, write_hostile_logs
from tests._tensorboard import fetch, tensorboard_process
from tests.test_plugin_routes import BASE, N_SAMPLES, make_app, synthetic_graph, write_logs
from topoact_lightning.logformat import summary

#: Route -> a valid request's parameters. Each parameter of each route is fuzzed.
VALID = {
    "runs": {},
    "epochs": {"run": "hostile", "layer": "fc1"},
    "graph": {"run": "hostile", "layer": "fc1", "epoch": "0"},
    "compare": {
        "run": "hostile",
        "layer": "fc1",
        "epoch": "0",
        "epoch2": "-5",
        "run2": "hostile",
        "layer2": "fc1",
        "min_jaccard": "0.2",
    },
    "metrics": {"run": "hostile", "layer": "fc1"},
    "track": {"run": "hostile", "layer": "fc1", "samples": "0,1,29"},
    "findings": {"run": "hostile", "layer": "fc1", "kind": "dead,confusion"},
    "projection": {"run": "remap", "layer": "fc1", "epoch": "1", "method": "pca"},
    "thumbnail": {"run": "run_a", "sample": "3"},
    "thumbnails_info": {"run": "run_a"},
}
#: Route -> a valid re-mapping request (run ``remap`` has stored activations). Each parameter is fuzzed.
REMAP = {"n_intervals": "5", "overlap": "0.25", "eps": "auto", "min_samples": "3", "lens": "l2norm"}
REMAP_VALID = {
    "graph": {"run": "remap", "layer": "fc1", "epoch": "1", **REMAP, "metric": "cosine", "cover": "balanced"},
    "compare": {"run": "remap", "layer": "fc1", "epoch": "0", "epoch2": "2", **REMAP},
    "metrics": {"run": "remap", "layer": "fc1", **REMAP, "cover": "kmapper"},
    "track": {"run": "remap", "layer": "fc1", "samples": "0,1,29", **REMAP, "metric": "euclidean"},
}
#: Values every parameter gets in turn (None: the parameter is left out).
CORPUS = [
    None,
    "",
    " ",
    "0",
    "-1",
    "-5",
    str(2**40),
    str(2**63 - 1),
    str(2**63),
    str(-(2**63) - 1),
    "9" * 5000,
    "1.5",
    "1e3",
    "0x10",
    "+1",
    " 1",
    "1 ",
    "٣",  # an Arabic-Indic digit: int() accepts it, the routes must not
    "nan",
    "inf",
    "-inf",
    "1,2,,3",
    ",".join(["1"] * 1001),
    "1," * 3000,
    "../../../etc/passwd",
    "..%2F..%2Fsetup.py",
    "/etc/passwd",
    "..\\..\\x",
    "\x00",
    "a\x00b",
    "a\nb",
    "\r\n",
    "\t",
    "\x1b[31m",
    "\x7f",
    '"',
    "\\",
    "%",
    "%00",
    "<script>alert(1)</script>",
    "ünïcødé ☃ 𝔘",
    "\u202e",
    "fc1",
    "broken",
    "names",
    "dead",
    "suspect_labels,separation",
    "tsne",
    *ODD_LAYERS,
    "x" * 100_000,
]
#: Paths under ``static/``.
STATIC_CORPUS = [
    "index.js",
    "index.js%00.png",
    "index.js%00",
    "%00",
    "..%2Floader.py",
    "../loader.py",
    "%2e%2e/plugin.py",
    "sub/../../plugin.py",
    "index.js%0a",
    "index.js%0d%0aX-Injected:%201",
    "%5c..%5cplugin.py",
    "%c0%ae%c0%ae/plugin.py",
    "%ff%fe",
    "a" * 5000,
    "index.js?x=%00",
    ".%00./plugin.py",
    "THIRD_PARTY_LICENSES.txt",
    "%e2%80%ae",
]


def write_remap_run(logdir) -> None:
    """Run ``remap``: graphs of ``fc1`` at steps 0..2, each with stored activations."""
    writer = SummaryWriter(os.path.join(logdir, "remap"))
    rng = np.random.default_rng(0)
    for step in range(3):
        summary.write_summary(writer, summary.graph_summary("fc1", synthetic_graph(step).to_bytes()), step)
        x = rng.normal(size=(N_SAMPLES, 6)).astype(np.float32)
        summary.write_summary(writer, summary.activations_summary("fc1", summary.encode_activations(x)), step)
    writer.close()


def requests_one_parameter_at_a_time(valid_requests=VALID):
    for route, valid in valid_requests.items():
        yield route, dict(valid)
        names = [*valid, "unexpected"]
        for name in names:
            for value in CORPUS:
                params = dict(valid)
                if value is None:
                    params.pop(name, None)
                else:
                    params[name] = value
                yield route, params


def query(params: dict) -> str:
    return urllib.parse.urlencode(params, quote_via=urllib.parse.quote)


def check(status: int, content_type: str, body: bytes, what) -> None:
    """The promise every answer keeps."""
    assert status in (200, 400, 404), (what, status, body[:500])
    if status != 200:
        assert content_type.startswith("text/plain"), (what, content_type)
        text = body.decode("utf-8")
        assert "Traceback" not in text and "internal error" not in text, (what, text[:500])
    elif content_type.startswith("application/json"):
        json.loads(body, parse_constant=lambda c: pytest.fail(f"non-JSON constant {c} for {what}"))
    elif content_type.startswith("image/png"):
        assert body[:8] == b"\x89PNG\r\n\x1a\n"
    else:
        assert content_type.startswith(("text/javascript", "text/plain")), (what, content_type)


@pytest.fixture(scope="module")
def logdir(tmp_path_factory):
    logdir = tmp_path_factory.mktemp("fuzz")
    write_logs(str(logdir), n_epochs=3)
    write_hostile_logs(logdir)
    write_remap_run(logdir)
    return logdir


@pytest.fixture(scope="module")
def client(logdir):
    return make_app(logdir)[0]


@pytest.fixture
def no_plugin_errors(caplog):
    """Fails the test if the plugin logged anything (its only log line is the internal-error one)."""
    with caplog.at_level(logging.DEBUG, logger="tensorboard.plugins.topoact"):
        yield
    assert not [r for r in caplog.records if r.name.startswith("tensorboard.plugins.topoact")]


def in_process(client, path: str, what) -> int:
    r = client.get(path, headers={"Accept-Encoding": "identity"})
    check(r.status_code, r.headers.get("Content-Type", ""), r.get_data(), what)
    return r.status_code


@pytest.mark.parametrize("route", [*VALID, "static"])
def test_corpus_in_process(client, route, no_plugin_errors):
    if route == "static":
        statuses = {p: in_process(client, BASE + "static/" + p, p) for p in STATIC_CORPUS}
        assert {p for p, s in statuses.items() if s == 200} == {
            "index.js",
            "index.js?x=%00",
            "THIRD_PARTY_LICENSES.txt",
        }
        return
    statuses = {}
    for r, params in requests_one_parameter_at_a_time():
        if r == route:
            statuses[query(params)] = in_process(client, f"{BASE}{route}?{query(params)}", params)
    assert statuses[query(VALID[route])] == 200
    assert 400 in statuses.values() or route == "runs"


@pytest.mark.parametrize("route", list(REMAP_VALID))
def test_remap_corpus_in_process(client, route, no_plugin_errors):
    statuses = {}
    for r, params in requests_one_parameter_at_a_time(REMAP_VALID):
        if r == route:
            statuses[query(params)] = in_process(client, f"{BASE}{route}?{query(params)}", params)
    assert statuses[query(REMAP_VALID[route])] == 200
    assert 400 in statuses.values()


# Every parameter drawn at once, from the corpus or as any text without surrogates (which a URL cannot carry).
VALUE = st.one_of(st.sampled_from(CORPUS), st.text(st.characters(blacklist_categories=("Cs",)), max_size=40))


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(route=st.sampled_from(list(VALID)), data=st.data())
def test_hypothesis_every_parameter_at_once(client, route, data, no_plugin_errors):
    params = {}
    remap = MAPPER_ARGS if route in REMAP_VALID else ()
    for name in [*VALID[route], "run2", *remap]:
        value = data.draw(st.one_of(st.just(VALID[route].get(name)), VALUE), label=name)
        if value is not None:
            params[name] = value
    in_process(client, f"{BASE}{route}?{query(params)}", params)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    route=st.sampled_from([*VALID, "static/", "static/index.js"]),
    raw=st.text(st.sampled_from("%&=?#;/\\+ .0123456789abfFrunlayerpchsmit\x00\n\"'<>"), max_size=60),
)
def test_hypothesis_raw_query_strings_and_paths(client, route, raw, no_plugin_errors):
    # Raw: broken percent escapes, repeated and empty parameters, stray separators.
    target = f"{BASE}{route}{raw}" if route.startswith("static") else f"{BASE}{route}?{raw}"
    r = client.get(target.replace("#", "%23").replace("\n", "%0A").replace("\x00", "%00"))
    check(r.status_code, r.headers.get("Content-Type", ""), r.get_data(), raw)


# ----------------------------------------------------------------------------------- real tensorboard processes
#: The smaller corpus for real processes: each parameter of each route gets these.
SERVER_VALUES = [None, "", "-5", str(2**40), str(2**63), "1.5", "\x00", "a\nb", '"', "\\", "../x", "ünï ☃"]


@pytest.mark.slow
@pytest.mark.parametrize("backend", [[], ["--load_fast=false"]], ids=["rust", "python"])
def test_corpus_against_a_real_tensorboard(tmp_path, backend):
    logdir = tmp_path / "logs"
    write_logs(str(logdir), n_epochs=3)
    hostile = write_hostile_logs(logdir, odd_run_names=True)
    write_remap_run(logdir)
    with tensorboard_process(logdir, "--reload_interval", "1", *backend) as tb:
        plugin = tb.base + "/data/plugin/topoact/"

        def get(path: str, what) -> tuple[int, bytes]:
            status, ctype, body = fetch(plugin + path)
            check(status, ctype, body, what)
            return status, body

        def loaded():
            runs = json.loads(fetch(plugin + "runs")[2])
            return {r["run"] for r in runs} >= {"hostile", "names", "run_a", "remap", ODD_RUN}

        tb.wait_for(loaded, "every run")
        # Names that JSON escapes are layer names in tags (encoded) and served by both back ends.
        for layer in ODD_LAYERS:
            status, body = get(f"graph?{query({'run': 'names', 'layer': layer, 'epoch': 0})}", layer)
            assert status == 200, (layer, body[:300])
            assert json.loads(body)["layer"] == layer
        for step in EXTREME_STEPS:
            assert get(f"graph?{query({'run': 'hostile', 'layer': 'fc1', 'epoch': step})}", step)[0] == 200
        metrics = json.loads(get("metrics?run=hostile&layer=fc1", "metrics")[1])
        assert sorted(int(s) for s in metrics["errors"]) == hostile.crafted_steps
        # A run directory name whose blob keys the Rust server cannot read back: served from its event files.
        status, body = get(f"graph?{query({'run': ODD_RUN, 'layer': 'fc1', 'epoch': 0})}", ODD_RUN)
        assert status == 200, body[:300]
        assert json.loads(body)["run"] == ODD_RUN
        assert (
            json.loads(get(f"metrics?{query({'run': ODD_RUN, 'layer': 'fc1'})}", ODD_RUN)[1])["errors"] == {}
        )

        for route, valid in [*VALID.items(), *REMAP_VALID.items()]:
            assert get(f"{route}?{query(valid)}", route)[0] == 200
            for name in valid:
                for value in SERVER_VALUES:
                    params = {k: v for k, v in {**valid, name: value}.items() if v is not None}
                    get(f"{route}?{query(params)}", params)
        for path in STATIC_CORPUS:
            get("static/" + path, path)
        log = tb.log.read_bytes()
    assert b"\x00" not in log
    assert b"Traceback" not in log and b"TopoAct plugin failed" not in log
