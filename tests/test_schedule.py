"""The logging schedule: which steps (epochs completed) get a graph."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from topoact_lightning.errors import TopoActConfigError
from topoact_lightning.monitor.schedule import Schedule


@given(n=st.integers(1, 50), step=st.integers(1, 10_000), untrained=st.booleans())
def test_every_n_epochs(n, step, untrained):
    s = Schedule.from_spec(n, untrained=untrained)
    assert s.is_due(step) == (step % n == 0)
    assert s.is_due(0) == untrained


@given(steps=st.sets(st.integers(0, 200), min_size=1), probe=st.integers(0, 300))
def test_explicit_list(steps, probe):
    s = Schedule.from_spec(sorted(steps), untrained=False)
    assert s.is_due(probe) == (probe in steps)


def test_log_spaced_is_powers_of_two():
    s = Schedule.from_spec("log")
    assert [k for k in range(70) if s.is_due(k)] == [0, 1, 2, 4, 8, 16, 32, 64]


@given(step=st.integers(-100, -1))
def test_negative_steps_are_never_due(step):
    assert not Schedule.from_spec(1).is_due(step)


@pytest.mark.parametrize("spec", [0, -2, True, "weekly", [], [1, -1], [1.5], None, 2.0])
def test_bad_specs_name_the_accepted_forms(spec):
    with pytest.raises(TopoActConfigError, match="every n epochs"):
        Schedule.from_spec(spec)


def test_describe():
    assert (
        Schedule.from_spec([5, 1]).describe() == "after epochs 1, 5, the untrained network and the last epoch"
    )
    assert Schedule.from_spec(2, untrained=False).describe() == "every 2 epochs and the last epoch"
