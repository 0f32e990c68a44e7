"""Dead units and collapse: examples with known answers and properties over random matrices."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from topoact_lightning.monitor.diagnostics import (
    activation_diagnostics,
    dead_unit_share,
    effective_dims,
    effective_rank,
)
from topoact_lightning.monitor.findings import fault_findings

finite = st.floats(-100, 100, allow_nan=False, width=32)
matrices = st.tuples(st.integers(2, 30), st.integers(1, 12)).flatmap(
    lambda s: arrays(np.float64, s, elements=finite)
)


def test_relu_units_that_never_fire_are_dead():
    rng = np.random.default_rng(0)
    x = np.maximum(rng.normal(size=(200, 10)), 0)
    x[:, [2, 7]] = 0.0
    assert dead_unit_share(x) == pytest.approx(0.2)


def test_a_varying_negative_unit_is_alive_and_a_constant_one_is_dead():
    x = np.array([[-3.0, 5.0], [-1.0, 5.0], [-2.0, 5.0]])
    assert dead_unit_share(x) == 0.5


def test_collapsed_activations_have_zero_effective_rank():
    x = np.tile(np.arange(16.0), (50, 1))  # every sample maps to the same vector
    assert effective_dims(x) == 0.0 and effective_rank(x) == 0.0


def test_rank_one_activations_use_one_direction():
    rng = np.random.default_rng(1)
    x = rng.normal(size=(100, 1)) @ rng.normal(size=(1, 32)) + 3.0
    assert effective_dims(x) == pytest.approx(1.0, abs=1e-6)
    assert [f.kind for f in fault_findings(0, "fc", x)] == ["collapsed"]


def test_isotropic_data_uses_nearly_every_direction():
    x = np.random.default_rng(2).normal(size=(2000, 8))
    assert effective_rank(x) > 0.95
    assert fault_findings(0, "fc", x) == []


@given(x=matrices)
@settings(max_examples=60, deadline=None)
def test_bounds_and_row_order_invariance(x):
    d = dead_unit_share(x)
    r = effective_rank(x)
    assert 0.0 <= d <= 1.0
    assert np.isnan(r) or 0.0 <= r <= 1.0
    perm = np.random.default_rng(0).permutation(len(x))
    assert dead_unit_share(x[perm]) == d
    assert np.isclose(effective_dims(x[perm]), effective_dims(x), rtol=1e-6, atol=1e-6)
    # The bundle the worker logs is the same numbers, from one eigendecomposition.
    both = activation_diagnostics(x)
    assert both["dead_units"] == d and both["effective_dims"] == effective_dims(x)
    assert both["effective_rank"] == r or (np.isnan(r) and np.isnan(both["effective_rank"]))


@given(x=matrices, c=finite)
@settings(max_examples=60, deadline=None)
def test_adding_a_constant_unit_adds_a_dead_unit(x, c):
    y = np.hstack([x, np.full((len(x), 1), c)])
    dead_x = dead_unit_share(x) * x.shape[1]
    assert dead_unit_share(y) * y.shape[1] == pytest.approx(dead_x + 1)
    # A constant unit adds no direction. Near the collapse threshold (a spread about 1e-6 of the activations' size)
    # it does change the verdict, by design: it raises the size the spread is judged against.
    spread = float(np.ptp(x, axis=0).max())
    assume(spread == 0 or spread > 1e-3 * float(np.abs(y).max()))
    assert np.isclose(effective_dims(y), effective_dims(x), rtol=1e-6, atol=1e-6)


@given(x=matrices, scale=st.floats(0.01, 100), shift=finite)
@settings(max_examples=60, deadline=None)
def test_effective_dims_ignore_scale_and_shift(x, scale, shift):
    a, b = effective_dims(x), effective_dims(x * scale + shift)
    assert np.isclose(a, b, rtol=1e-4, atol=1e-4) or (a == 0.0 or b == 0.0)


def test_shape_errors():
    with pytest.raises(ValueError, match="2-D"):
        dead_unit_share(np.zeros(3))
    with pytest.raises(ValueError, match="2-D"):
        effective_rank(np.zeros((2, 2, 2)))
    assert np.isnan(effective_rank(np.zeros((1, 4))))
