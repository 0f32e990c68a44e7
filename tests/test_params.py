"""Mapper's parameter table: every parameter's errors come from one place and name what would be accepted."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from topoact_lightning import Mapper, TopoActConfigError
from topoact_lightning.engine.params import PARAMETER_CONSTRAINTS, parameter_spec, validate_params


def test_the_table_covers_every_parameter_but_the_seed():
    assert set(PARAMETER_CONSTRAINTS) == set(Mapper().get_params()) - {"random_state"}
    assert Mapper._parameter_constraints is PARAMETER_CONSTRAINTS


def test_defaults_take_their_forms():
    validate_params(Mapper().get_params())


_ODD = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-5, 5),
    st.floats(allow_nan=True),
    st.text(max_size=4),
    st.lists(st.integers(-2, 3), max_size=3),
    st.just(object()),
    st.just([[1, 2], [3]]),
)


@given(name=st.sampled_from(sorted(PARAMETER_CONSTRAINTS)), value=_ODD)
@settings(max_examples=300, deadline=None)
def test_a_refused_value_gets_a_message_naming_the_parameter_and_its_forms(name, value):
    forms = PARAMETER_CONSTRAINTS[name]
    try:
        validate_params({name: value})
    except TopoActConfigError as e:
        message = str(e)
        assert message.startswith((f"{name} must be ", f"unknown {name} "))
        assert all(form.text in message for form in forms)
        return
    # Accepted: then it really is one of the forms.
    assert any(form.test(value) for form in forms)


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("n_jobs", 0, r"n_jobs must be None \(every core\) or an integer >= 1, got 0"),
        ("device", 3, "device must be None or a torch device string such as 'cuda', got 3"),
        ("eps_sample", 2, "eps_sample must be an integer >= 3, got 2"),
        (
            "n_intervals",
            [3, 0],
            r"n_intervals must be an integer >= 1, or one per lens dimension, got \[3, 0\]",
        ),
        ("lens", 5, "lens must be one of l2norm, .*, a callable X -> lens, or a non-empty numeric array"),
        ("lens_reference", "x", "lens_reference must be None or a fitted Mapper or a"),
    ],
)
def test_messages_name_the_fix(name, value, message):
    with pytest.raises(TopoActConfigError, match=message):
        Mapper(**{name: value}).check_params()


def _spec_allows(spec: dict, v) -> bool:
    """Whether a JSON scalar ``v`` takes the form ``spec`` states (what a check outside Python would decide)."""
    if isinstance(v, str):
        return v in spec.get("options", ())
    if (
        spec["type"] == "choice"
        or isinstance(v, bool)
        or (spec["type"] == "integer" and not isinstance(v, int))
    ):
        return False
    if v != v or v in (float("inf"), float("-inf")):
        return False
    low, high = spec.get("min"), spec.get("max")
    above = low is None or (v > low if spec.get("min_exclusive") else v >= low)
    return above and (high is None or (v < high if spec.get("max_exclusive") else v <= high))


#: Parameters whose every form has a spec, or whose other forms take no JSON scalar (callables, arrays).
_STATED = [n for n, forms in PARAMETER_CONSTRAINTS.items() if all(f.spec for f in forms)] + ["lens"]


@given(
    name=st.sampled_from(sorted(PARAMETER_CONSTRAINTS)),
    value=st.one_of(
        st.integers(-3, 10**4),
        st.floats(-2, 2),
        st.floats(allow_nan=True),
        st.sampled_from(["auto", "pca", "x"]),
    ),
)
@settings(max_examples=500, deadline=None)
def test_the_spec_states_the_table(name, value):
    """What :func:`parameter_spec` allows, the engine takes; for parameters it states whole, also the converse
    (numbers the engine takes but JSON cannot write, infinities, aside)."""
    allowed = _spec_allows(parameter_spec(name), value)
    try:
        validate_params({name: value})
        taken = True
    except TopoActConfigError:
        taken = False
    if allowed:
        assert taken, (name, value)
    elif name in _STATED and value not in (float("inf"), float("-inf")):
        assert not taken, (name, value)
