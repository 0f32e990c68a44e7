"""Covers of the lens range: where each Mapper cover element (interval, or box for a multi-dimensional lens) lies.

Three placements per lens dimension, combined by a product for lenses with several dimensions:

- ``"uniform"``: ``n`` intervals of equal length ``L`` whose neighbours share exactly the fraction ``overlap`` of
  their length. With the lens range ``[m, M]`` and ``R = M - m``::

      L    = R / ((n - 1) * (1 - overlap) + 1)
      step = L * (1 - overlap)
      interval k = [m + k * step, m + k * step + L]          (k = 0 .. n-1; the last one ends at M)

  so ``(upper_k - lower_{k+1}) / L == overlap`` for every pair of neighbours.
- ``"balanced"``: intervals that hold (about) the same number of points, for skewed lenses such as the L2 norm of
  activations. In the sorted lens values, element ``k`` spans positions ``[k * t, k * t + s)`` with
  ``s = N / ((n - 1) * (1 - overlap) + 1)`` and ``t = s * (1 - overlap)``, so neighbours share the fraction
  ``overlap`` of their points; its bounds are the lens values at those positions (points tied with a bound join).
- ``"kmapper"``: the intervals of ``kmapper.Cover(n_cubes=n, perc_overlap=overlap)``, computed with the same
  floating-point operations, so the same lens gives the same members (and the same ``cube{i}`` numbering, since
  empty cover elements are dropped as KeplerMapper drops them). KeplerMapper's ``perc_overlap`` is not the shared
  fraction: each interval has radius ``R / (2 n (1 - p))`` around centres spread evenly between
  ``m + R / (2n)`` and ``M - R / (2n)``.

Membership is closed at both ends (``lower <= lens <= upper``) for all three, as in KeplerMapper. A lens dimension
with a single value (constant lens) gets one cover element ``[v, v]`` holding every point, whatever ``n``: this is
a documented deviation from KeplerMapper, which would repeat the same cube ``n`` times.

Example:
    >>> import numpy as np
    >>> uniform_bounds(0.0, 10.0, 3, 0.5).tolist()
    [[0.0, 5.0], [2.5, 7.5], [5.0, 10.0]]
    >>> bounds, members = cover_elements(np.array([0.0, 1.0, 9.0, 10.0]), "uniform", 2, 0.0)
    >>> [m.tolist() for m in members]
    [[0, 1], [2, 3]]
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence

import numpy as np

#: Cover names accepted by :func:`cover_elements` and :class:`topoact_lightning.Mapper`.
COVERS = ("uniform", "balanced", "kmapper")


def uniform_bounds(lo: float, hi: float, n: int, overlap: float) -> np.ndarray:
    """``n`` equal intervals over ``[lo, hi]``, neighbours sharing the fraction ``overlap`` of their length.

    Returns an ``(n, 2)`` float64 array of ``[lower, upper]``; a single ``[lo, lo]`` interval if ``lo == hi``.
    """
    lo, hi = float(lo), float(hi)
    if hi <= lo:
        return np.array([[lo, lo]])
    length = (hi - lo) / ((n - 1) * (1.0 - overlap) + 1.0)
    step = length * (1.0 - overlap)
    lower = lo + step * np.arange(n)
    upper = lower + length
    lower[0], upper[-1] = lo, hi  # exact ends, so rounding never leaves the extreme points out
    return np.stack([lower, upper], axis=1)


def balanced_bounds(sorted_values: np.ndarray, n: int, overlap: float) -> np.ndarray:
    """``n`` intervals holding about ``N / ((n - 1)(1 - overlap) + 1)`` points each, from sorted lens values.

    Neighbouring intervals share about the fraction ``overlap`` of their points. Duplicate intervals (many tied
    values) are kept, so the number of elements is always ``n`` unless all values are equal.
    """
    v = np.asarray(sorted_values, dtype=np.float64)
    count = len(v)
    if count == 0 or v[0] == v[-1]:
        x = float(v[0]) if count else 0.0
        return np.array([[x, x]])
    size = count / ((n - 1) * (1.0 - overlap) + 1.0)
    step = size * (1.0 - overlap)
    start = np.floor(step * np.arange(n) + 1e-9).astype(np.int64)
    stop = np.ceil(start + size - 1e-9).astype(np.int64)
    start = np.clip(start, 0, count - 1)
    stop = np.clip(stop, start + 1, count)
    stop[-1] = count
    return np.stack([v[start], v[stop - 1]], axis=1)


def kmapper_bounds(lo: float, hi: float, n: int, overlap: float) -> np.ndarray:
    """The intervals of ``kmapper.Cover(n_cubes=n, perc_overlap=overlap)`` for one lens dimension, bit for bit.

    Mirrors ``Cover.fit`` (``inner_range``, ``inset``, ``radius``, ``np.linspace`` of centres) and
    ``Cover.transform_single`` (``center - radius``, ``center + radius``) in the same operation order.
    """
    lo, hi = np.float64(lo), np.float64(hi)
    ranges = hi - lo
    if ranges == 0:
        return np.array([[lo, lo]])
    inner_range = ((n - 1) / n) * ranges
    inset = (ranges - inner_range) / 2
    with np.errstate(divide="ignore"):
        radius = ranges / (2 * n * (1 - np.float64(overlap)))
    centers = np.linspace(lo + inset, hi - inset, num=n)
    return np.stack([centers - radius, centers + radius], axis=1)


def cover_elements(
    lens: np.ndarray, cover: str, n_intervals: int | Sequence[int], overlap: float | Sequence[float]
) -> tuple[np.ndarray, list[np.ndarray]]:
    """Place the cover and find the points of every element.

    Args:
        lens: ``(n,)`` or ``(n, d)`` lens values.
        cover: one of :data:`COVERS`.
        n_intervals, overlap: per lens dimension, or one value for all.

    Returns:
        ``bounds`` of shape ``(n_elements, d, 2)`` and, per element, the sorted indices of its points. Elements
        are ordered as ``itertools.product`` of the per-dimension intervals (the first dimension varies slowest,
        as in KeplerMapper). With ``cover="kmapper"`` empty elements are dropped, as KeplerMapper drops them.
    """
    lens64 = np.asarray(lens, dtype=np.float64)
    if lens64.ndim == 1:
        lens64 = lens64[:, None]
    n_points, dim = lens64.shape
    ns = _per_dim(n_intervals, dim, "n_intervals")
    ps = _per_dim(overlap, dim, "overlap")
    order = np.argsort(lens64[:, 0], kind="stable")
    sorted0 = lens64[order, 0]

    per_dim = []
    for k in range(dim):
        col = sorted0 if k == 0 else np.sort(lens64[:, k])
        lo, hi = (col[0], col[-1]) if n_points else (0.0, 0.0)
        n, p = int(ns[k]), float(ps[k])
        if cover == "uniform":
            per_dim.append(uniform_bounds(lo, hi, n, p))
        elif cover == "balanced":
            per_dim.append(balanced_bounds(col, n, p))
        elif cover == "kmapper":
            per_dim.append(kmapper_bounds(lo, hi, n, p))
        else:
            raise ValueError(f"unknown cover {cover!r}; use one of {COVERS}")

    # The first dimension's intervals are contiguous slices of the points sorted by it; other dimensions filter.
    first = per_dim[0]
    starts = np.searchsorted(sorted0, first[:, 0], side="left")
    stops = np.searchsorted(sorted0, first[:, 1], side="right")
    bounds, members = [], []
    for combo in itertools.product(*(range(len(b)) for b in per_dim)):
        box = np.stack([per_dim[k][combo[k]] for k in range(dim)])
        idx = order[starts[combo[0]] : stops[combo[0]]]
        if dim > 1:
            sub = lens64[idx, 1:]
            inside = np.all((sub >= box[1:, 0]) & (sub <= box[1:, 1]), axis=1)
            idx = idx[inside]
        if cover == "kmapper" and len(idx) == 0:
            continue
        bounds.append(box)
        members.append(np.sort(idx))
    bounds_arr = np.array(bounds, dtype=np.float64).reshape(len(bounds), dim, 2)
    return bounds_arr, members


def _per_dim(value, dim: int, name: str) -> np.ndarray:
    arr = np.atleast_1d(np.asarray(value))
    if arr.shape == (1,):
        return np.repeat(arr, dim)
    if arr.shape != (dim,):
        raise ValueError(
            f"{name} has {arr.size} values for a {dim}-dimensional lens; give one value or {dim}"
        )
    return arr
