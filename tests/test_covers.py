"""Cover placement: the uniform cover's true overlap, balanced counts, and KeplerMapper's cover bit for bit."""

from __future__ import annotations

import kmapper
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from topoact_lightning.engine.covers import balanced_bounds, cover_elements, kmapper_bounds, uniform_bounds

finite = st.floats(-1e3, 1e3, allow_nan=False, allow_infinity=False, width=32)


@given(
    lo=st.floats(-100, 100),
    length=st.floats(1e-3, 100),
    n=st.integers(2, 60),
    overlap=st.floats(0, 0.95),
)
def test_uniform_neighbours_share_exactly_the_overlap(lo, length, n, overlap):
    b = uniform_bounds(lo, lo + length, n, overlap)
    assert b.shape == (n, 2)
    assert b[0, 0] == lo and b[-1, 1] == lo + length
    lengths = b[:, 1] - b[:, 0]
    np.testing.assert_allclose(lengths, lengths[0], rtol=1e-9, atol=1e-9 * length)
    shared = b[:-1, 1] - b[1:, 0]
    np.testing.assert_allclose(shared / lengths[:-1], overlap, atol=1e-7)


def test_uniform_overlap_measured_on_points():
    # Evenly spread points: the share of one interval's points that its neighbour also holds is the overlap.
    lens = np.linspace(0, 1, 100_001)
    bounds, members = cover_elements(lens, "uniform", 10, 0.3)
    for a, b in zip(members[:-1], members[1:], strict=True):
        shared = len(np.intersect1d(a, b))
        assert shared / len(a) == pytest.approx(0.3, abs=1e-3)


@given(
    values=arrays(np.float64, st.integers(5, 400), elements=st.floats(0, 50)),
    n=st.integers(1, 12),
    overlap=st.floats(0, 0.9),
)
@settings(max_examples=60)
def test_balanced_cover_holds_equal_counts(values, n, overlap):
    bounds, members = cover_elements(values, "balanced", n, overlap)
    covered = np.zeros(len(values), dtype=bool)
    for box, m in zip(bounds, members, strict=True):
        assert np.all((values[m] >= box[0, 0]) & (values[m] <= box[0, 1]))
        covered[m] = True
    assert covered.all()  # every point is in some element
    if len(np.unique(values)) == len(values) and n > 1:
        sizes = np.array([len(m) for m in members])
        target = len(values) / ((n - 1) * (1 - overlap) + 1)
        assert np.all(np.abs(sizes - target) <= 2)


def test_balanced_cover_follows_a_skewed_lens():
    lens = np.random.default_rng(0).lognormal(size=5000)
    _, uniform = cover_elements(lens, "uniform", 10, 0.2)
    _, balanced = cover_elements(lens, "balanced", 10, 0.2)
    assert max(map(len, uniform)) > 5 * min(map(len, uniform))
    sizes = [len(m) for m in balanced]
    assert max(sizes) - min(sizes) <= 2


@given(
    lens=arrays(np.float32, st.tuples(st.integers(1, 200), st.integers(1, 2)), elements=finite),
    n=st.integers(1, 15),
    overlap=st.sampled_from([0.0, 0.1, 0.25, 0.3, 0.5, 0.75]),
)
@settings(max_examples=40, deadline=None)
def test_kmapper_cover_members_match_keplermapper(lens, n, overlap):
    ids = np.arange(len(lens))
    data = np.c_[ids, lens]
    cover = kmapper.Cover(n_cubes=n, perc_overlap=overlap)
    centers = cover.fit(data)
    expected = [cube[:, 0].astype(int).tolist() for cube in cover.transform(data, centers)]
    bounds, members = cover_elements(lens, "kmapper", n, overlap)
    constant = np.ptp(lens, axis=0) == 0
    if constant.any():
        # Documented deviation: a constant lens dimension gets one element instead of n identical ones.
        assert all(len(m) for m in members)
        return
    assert [m.tolist() for m in members] == expected
    # Bounds are KeplerMapper's centre -/+ radius, in its product order.
    # (With perc_overlap=0 KeplerMapper can lose the extreme points to rounding; that is reproduced too.)
    kept = np.array([c for c in centers if len(cover.transform_single(data, c))]).reshape(-1, lens.shape[1])
    np.testing.assert_array_equal(bounds[:, :, 0], kept - cover.radius_)
    np.testing.assert_array_equal(bounds[:, :, 1], kept + cover.radius_)


def test_kmapper_bounds_single_dimension():
    data = np.c_[np.arange(5), [0.0, 1.0, 2.5, 3.0, 7.0]]
    cover = kmapper.Cover(4, 0.4)
    centers = cover.fit(data)
    b = kmapper_bounds(0.0, 7.0, 4, 0.4)
    np.testing.assert_array_equal(b[:, 0], np.array(centers)[:, 0] - cover.radius_[0])


@given(
    lens=arrays(np.float32, st.tuples(st.integers(1, 100), st.integers(1, 2)), elements=finite),
    cover=st.sampled_from(["uniform", "balanced", "kmapper"]),
    n=st.integers(1, 8),
    overlap=st.floats(0, 0.8),
)
@settings(max_examples=40, deadline=None)
def test_every_point_is_covered_and_inside_its_elements(lens, cover, n, overlap):
    bounds, members = cover_elements(lens, cover, n, overlap)
    assert bounds.shape[1:] == (lens.shape[1], 2)
    lens64 = lens.astype(np.float64)
    covered = np.zeros(len(lens), dtype=bool)
    for box, m in zip(bounds, members, strict=True):
        assert np.all((lens64[m] >= box[:, 0]) & (lens64[m] <= box[:, 1]))
        assert np.all(np.diff(m) > 0)  # sorted, unique
        inside = np.flatnonzero(np.all((lens64 >= box[:, 0]) & (lens64 <= box[:, 1]), axis=1))
        assert m.tolist() == inside.tolist()  # exactly the points within the bounds
        covered[m] = True
    # KeplerMapper's own rounding can lose extremes without overlap (or one too small to move a bound).
    if not (cover == "kmapper" and overlap < 1e-12):
        assert covered.all()


def test_constant_lens_one_element_and_per_dimension_parameters():
    bounds, members = cover_elements(np.full(10, 3.0), "uniform", 5, 0.5)
    assert bounds.tolist() == [[[3.0, 3.0]]] and members[0].tolist() == list(range(10))
    lens = np.stack([np.linspace(0, 1, 50), np.linspace(5, 6, 50) ** 2], axis=1)
    bounds, _ = cover_elements(lens, "uniform", [3, 2], [0.5, 0.0])
    assert len(bounds) == 6
    with pytest.raises(ValueError, match="n_intervals has 3 values for a 2-dimensional lens"):
        cover_elements(lens, "uniform", [3, 2, 1], 0.5)
    with pytest.raises(ValueError, match="unknown cover"):
        cover_elements(lens, "cubes", 3, 0.5)


def test_balanced_bounds_ties():
    b = balanced_bounds(np.array([1.0, 1.0, 1.0, 1.0, 2.0, 3.0]), 2, 0.0)
    assert b[0, 0] == 1.0 and b[-1, 1] == 3.0
