"""Mapper's parameter table: every parameter's errors come from one place and name what would be accepted."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from topoact_lightning import Mapper, TopoActConfigError
from topoact_lightning.engine.params import PARAMETER_CONSTRAINTS, validate_params


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
    "name, value, message",
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
