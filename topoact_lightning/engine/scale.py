"""Scale mode: DBSCAN of cover elements too large to compare every pair, on neighbours found within cells.

A cover element of a million-sample input holds up to a few hundred thousand points; comparing every pair (even in
windows, even screened) is quadratic. Scale mode finds the eps-neighbour pairs approximately, in the manner of an
inverted-file index:

1. the element's rows are projected on its top principal directions (from a sample), and k-means on those
   coordinates (a sample, a few iterations) splits the element into cells of about :data:`CELL_POINTS` points;
2. each point lives in its nearest cell and visits its :data:`PROBES` nearest: it is compared with every point
   living in the cells it visits, on whole rows (float32, centred on the element's sample mean);
3. DBSCAN labels come from the pairs within eps (:func:`~topoact_lightning.engine.dbscan.labels_from_pairs`).

A pair is found when either point visits the other's cell. The distances are exact (float32), so the only
approximation is a neighbour pair neither point visits: on activation-like data 200,000 x 256 the labels agree
with exact DBSCAN at an adjusted Rand index above 0.98 (BENCHMARKS.md). Memory stays at a few copies of one cell's
neighbourhood; nothing of the size of the element's rows is copied.

Example:
    >>> import numpy as np
    >>> from topoact_lightning.engine.dbscan import dbscan
    >>> rng = np.random.default_rng(0)
    >>> centres = rng.normal(size=(4, 64)) * 4
    >>> X = (centres[rng.integers(0, 4, 6000)] + rng.normal(size=(6000, 64))).astype(np.float32)
    >>> labels = cell_dbscan(X, np.arange(6000), eps=10.0, min_samples=5)
    >>> from sklearn.metrics import adjusted_rand_score
    >>> bool(adjusted_rand_score(dbscan(X, 10.0, 5), labels) > 0.99), int(labels.max()) + 1
    (True, 4)
"""

from __future__ import annotations

import numpy as np

from topoact_lightning.engine import lowrank
from topoact_lightning.engine.dbscan import labels_from_pairs

#: Points per k-means cell.
CELL_POINTS = 400
#: Cells each point visits (its nearest ones).
PROBES = 2
#: Principal directions the cells are made in.
CELL_DIMS = 46
#: Rows the directions and the cells' centres are computed from.
SAMPLE = 20_000
#: Rows projected at a time (bounds the copy of gathered rows).
_CHUNK = 16_384


def cell_dbscan(
    X: np.ndarray,
    idx: np.ndarray,
    eps: float,
    min_samples: int,
    *,
    metric: str = "euclidean",
    random_state: int | None = 0,
) -> np.ndarray:
    """Approximate labels of ``DBSCAN(eps, min_samples, metric).fit_predict(X[idx])``, in the order of ``idx``:
    the module's cells, whole-row float32 distances (cosine: euclidean distances of unit rows, ``1 - cos =
    |u - v|^2 / 2``; zero rows are nobody's neighbours, as their cosine distance 1 says)."""
    n = len(idx)
    rng = np.random.default_rng(random_state)
    unit = metric == "cosine"
    sample = np.sort(rng.choice(n, size=min(n, SAMPLE), replace=False))
    mean = _rows(X, idx[sample], None, unit).mean(axis=0, dtype=np.float64).astype(np.float32)
    coords, sq = _project(X, idx, mean, sample, rng, unit)
    home, visits = _cells(coords, sample, rng)
    thr = 2.0 * eps if unit else eps * eps
    i, j = _cell_pairs(X, idx, mean, sq, home, visits, thr, unit)
    counts = np.bincount(i, minlength=n) + np.bincount(j, minlength=n) + 1
    return labels_from_pairs(n, i, j, counts >= min_samples)


def _rows(X: np.ndarray, rows: np.ndarray, mean: np.ndarray | None, unit: bool) -> np.ndarray:
    """``X[rows]`` (a copy; unit rows for cosine), minus ``mean`` when given."""
    out = X[rows]
    if unit:
        norms = np.sqrt(np.einsum("ij,ij->i", out, out, dtype=np.float64))
        out /= np.where(norms > 0, norms, 1.0)[:, None].astype(np.float32)
    if mean is not None:
        out -= mean
    return out


def _project(
    X: np.ndarray,
    idx: np.ndarray,
    mean: np.ndarray,
    sample: np.ndarray,
    rng: np.random.Generator,
    unit: bool,
) -> tuple[np.ndarray, np.ndarray]:
    """Coordinates of the centred rows on the top directions of (part of) the sample, and their squared norms
    (zero rows under cosine: far beyond reach, 16 against at most 4 between centred unit rows)."""
    S = _rows(X, idx[sample[: min(len(sample), 2000)]], mean, unit)
    k = min(CELL_DIMS, S.shape[1], len(S))
    cov = S.T @ S if lowrank._covariance_is_cheaper(S.shape, k) else None
    V, _ = lowrank._top_directions(S, k, int(rng.integers(2**31)), cov=cov)
    coords = np.empty((len(idx), V.shape[1]), dtype=np.float32)
    sq = np.empty(len(idx), dtype=np.float32)
    for s in range(0, len(idx), _CHUNK):
        rows = _rows(X, idx[s : s + _CHUNK], mean, unit)
        coords[s : s + len(rows)] = rows @ V
        sq[s : s + len(rows)] = np.einsum("ij,ij->i", rows, rows)
        if unit:
            sq[s : s + len(rows)][~X[idx[s : s + _CHUNK]].any(axis=1)] = 16.0
    return coords, sq


def _cells(
    coords: np.ndarray, sample: np.ndarray, rng: np.random.Generator, iterations: int = 5
) -> tuple[np.ndarray, np.ndarray]:
    """``(home, visits)``: each point's nearest k-means cell, and its :data:`PROBES` nearest (``(n, probes)``)."""
    n = len(coords)
    n_cells = max(n // CELL_POINTS, 1)
    S = coords[sample]
    centres = S[rng.choice(len(S), size=n_cells, replace=False)].copy()
    for _ in range(iterations):
        label = _nearest(S, centres, 1)[:, 0]
        by_label = np.argsort(label, kind="stable")
        counts = np.bincount(label, minlength=n_cells)
        kept = np.flatnonzero(counts)
        starts = np.concatenate([[0], np.cumsum(counts[kept])[:-1]])
        sums = np.add.reduceat(S[by_label], starts, axis=0, dtype=np.float64)
        centres[kept] = (sums / counts[kept, None]).astype(np.float32)
    probes = min(PROBES, n_cells)
    visits = np.empty((n, probes), dtype=np.int64)
    for s in range(0, n, _CHUNK):
        visits[s : s + _CHUNK] = _nearest(coords[s : s + _CHUNK], centres, probes)
    return visits[:, 0], visits


def _nearest(points: np.ndarray, centres: np.ndarray, k: int) -> np.ndarray:
    """The ``k`` nearest centres of each point, nearest first (``(n, k)``): ``k`` passes of argmin, several
    times faster than a partition for the few probes used."""
    d = np.einsum("ij,ij->i", centres, centres)[None, :] - 2 * (points @ centres.T)
    out = np.empty((len(points), min(k, d.shape[1])), dtype=np.int64)
    rows = np.arange(len(points))
    for p in range(out.shape[1]):
        out[:, p] = np.argmin(d, axis=1)
        d[rows, out[:, p]] = np.inf
    return out


def _cell_pairs(
    X: np.ndarray,
    idx: np.ndarray,
    mean: np.ndarray,
    sq: np.ndarray,
    home: np.ndarray,
    visits: np.ndarray,
    thr: float,
    unit: bool = False,
) -> tuple[np.ndarray, np.ndarray]:
    """Every pair ``i < j`` (positions, ``i`` non-decreasing) within ``thr`` (squared) of which one point visits the
    other's cell, each found once."""
    n, probes = visits.shape
    n_cells = int(visits.max()) + 1
    by_home = np.argsort(home, kind="stable")
    home_cut = np.searchsorted(home[by_home], np.arange(n_cells + 1))
    visit_cell = visits.ravel()
    by_visit = np.argsort(visit_cell, kind="stable")
    visitor = by_visit // probes
    visit_cut = np.searchsorted(visit_cell[by_visit], np.arange(n_cells + 1))
    found_i, found_j = [], []
    for c in range(n_cells):
        residents = by_home[home_cut[c] : home_cut[c + 1]]
        guests = visitor[visit_cut[c] : visit_cut[c + 1]]
        if not len(residents) or not len(guests):
            continue
        left = _rows(X, idx[guests], mean, unit)
        right = _rows(X, idx[residents], mean, unit)
        d = left @ right.T
        d *= -2.0
        d += sq[guests][:, None]
        d += sq[residents][None, :]
        g, r = np.divmod(np.flatnonzero(d <= thr), len(residents))
        a, b = guests[g], residents[r]
        # Found here (b's cell). Also found in a's cell when b visits it: kept in the smaller of the two cells,
        # and once (a < b) when both live here.
        ha = home[a]
        also = (visits[b] == ha[:, None]).any(axis=1)
        keep = (a != b) & np.where(ha == c, a < b, ~also | (c < ha))
        found_i.append(a[keep])
        found_j.append(b[keep])
    if not found_i:
        empty = np.zeros(0, dtype=np.int64)
        return empty, empty
    i, j = np.concatenate(found_i), np.concatenate(found_j)
    lo, hi = np.minimum(i, j), np.maximum(i, j)
    by_row = np.argsort(lo, kind="stable")
    return lo[by_row], hi[by_row]
