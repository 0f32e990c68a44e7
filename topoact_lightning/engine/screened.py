"""Exact DBSCAN of a wide cover element that checks only the distances its labels depend on.

Exact mode's one-stage route compares whole rows for every pair in a window (:mod:`.distances`). On wide rows
(hundreds of features) most of that work decides nothing: the labels depend on which points are core, on which
core points connect, and on the core neighbours of the others, and a point with dozens of neighbours is core
after a handful of them are known. So wide elements go through two stages instead:

1. **Screen.** The element's rows on fast mode's principal directions (:class:`.lowrank.Projection`): the
   projected distance never exceeds the true one, so the pairs whose float32 projected distance exceeds eps by
   more than a rigorous rounding bound (:func:`screen_limit`) are certainly not neighbours. The others are the
   candidates (a few times the true neighbour pairs), each with fast mode's estimate of its distance.
2. **Checks, lazily** (:func:`lazy_labels`). Whole-row distances of candidates, decided exactly (float32 with
   the float64 recheck near eps, as everywhere in exact mode), in rounds and most likely neighbours first: each
   point until it has ``min_samples - 1`` neighbours (or has none left to check: then it is not core and every
   candidate of it is known); then candidates joining two clusters of core points found so far, until none is
   left. Unchecked candidates then lie inside one cluster of core points and change no label.

The labels are those of :func:`.dbscan.dbscan` (and so scikit-learn's). On 50,000 activation vectors of width 512
about one candidate in six is checked.

Example:
    >>> import numpy as np
    >>> from topoact_lightning.engine.dbscan import dbscan
    >>> from topoact_lightning.engine.lowrank import Projection, fast_basis
    >>> rng = np.random.default_rng(0)
    >>> X = (rng.normal(size=(3, 512))[rng.integers(0, 3, 1500)] * 3 + rng.normal(size=(1500, 512))).astype(np.float32)
    >>> rows = np.arange(1500)
    >>> sample = rows[::3]
    >>> basis = fast_basis(X[sample] - X[sample].mean(axis=0), eps=33.0)
    >>> projection = Projection.of(X, rows, basis, "euclidean", eps=33.0, sample=sample, rng=rng)
    >>> labels = screened_dbscan(X, rows, projection, eps=33.0, min_samples=5)
    >>> bool(np.array_equal(labels, dbscan(X, 33.0, 5))), int(labels.max()) + 1
    (True, 3)
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from topoact_lightning.engine.dbscan import labels_from_pairs
from topoact_lightning.engine.distances import _BLOCK, Points, window_pairs
from topoact_lightning.engine.lowrank import Projection
from topoact_lightning.engine.memberships import connected_components

_U32 = 2.0**-24
#: Steps of fast mode's estimate (over eps^2) that set the order of the checks, most likely neighbours first.
_LEVELS = 21
#: Candidates beyond the missing neighbours that each point gets checked per round.
_SLACK = 1
#: Rounds that check only the likeliest links between clusters; the next round checks all that are left.
_LINK_ROUNDS = 6
#: Pairs per chunk of whole-row checks, whose gathered rows stay in cache: on a busy 2-core machine 256 pairs of
#: rows of 512 float32 took 0.43 us a pair, 4096 pairs 2.8 us, and (cache aliasing) 512 pairs 2.8 us too.
_CHECK_CHUNK = 256


def _gamma(n: int) -> float:
    """The classical bound on the relative rounding error of an ``n``-term float32 dot product."""
    return n * _U32 / (1 - n * _U32)


def screen_limit(
    thr: float, sq_sum: np.ndarray | float, *, n_features: int, n_dims: int, sigma2: float = 1.0
) -> np.ndarray | float:
    """The value a pair's float32 screen value stays below when its true squared distance is at most ``thr``.

    ``sq_sum``: ``|w_x|^2 + |w_y|^2`` of the pair's centred float32 rows (exact, or float32 sums of squares);
    ``n_features``: the rows' width ``D``; ``n_dims``: the number ``k`` of directions; ``sigma2``: the largest eigenvalue of ``V^T V`` for
    the ``(D, k)`` basis ``V`` (1 when orthonormal).

    With ``u = 2^-24`` and ``gamma_n = n u / (1 - n u)``: the centred rows differ from the original ones by at
    most ``u`` relative per coordinate, and each projected coordinate ``fl(v^T w)`` errs by at most
    ``gamma_D |v| |w| <= gamma_D sigma |w|``, so ``|p_x - p_y| <= sigma (|x - y| + beta (|w_x| + |w_y|))`` with
    ``beta = 1.01 u + sqrt(k) gamma_D``; squared, for ``|x - y|^2 <= thr``, at most
    ``sigma^2 (thr (1 + beta) + 2 (beta + beta^2) S)`` with ``S = |w_x|^2 + |w_y|^2``. The block product
    ``[p_x, q_x, 1] . [-2 p_y, 1, q_y]`` (``q = fl(|p|^2)``, padded to ``k + 18`` columns at most) adds at most
    ``1.01 (u + 2.01 gamma_{k+18}) sigma^2 S``. Every error term is doubled for safety.

    Example:
        >>> limit = screen_limit(100.0, 400.0, n_features=512, n_dims=78)
        >>> bool(100.0 < limit < 100.5)
        True
    """
    beta = 1.01 * _U32 + np.sqrt(n_dims) * _gamma(n_features)
    per_sq = 2 * (beta + beta * beta) + 1.01 * (_U32 + 2.01 * _gamma(n_dims + 18))
    # The squared norms may be float32 sums: up to gamma_D below the true S.
    per_sq *= 1 + 2 * _gamma(n_features)
    return sigma2 * (thr * (1 + 2 * beta) + 2 * 1.01 * per_sq * np.asarray(sq_sum, dtype=np.float64))


def screened_dbscan(
    X: np.ndarray,
    idx: np.ndarray,
    projection: Projection,
    eps: float,
    min_samples: int,
    *,
    row_sq: np.ndarray | None = None,
    block_size: int = _BLOCK,
) -> np.ndarray:
    """The labels :func:`~topoact_lightning.engine.dbscan.dbscan` gives the rows ``X[idx]`` (euclidean), found
    through ``projection`` (which holds every row of ``idx``), in the order of ``idx``.

    ``row_sq``: ``|x|^2`` of every row of ``X`` in float64, if already known.
    """
    n = len(idx)
    thr = eps * eps
    at = np.searchsorted(projection.rows, idx)
    coords = projection.coords[at]
    order = np.argsort(coords[:, 0], kind="stable")
    coords, at = coords[order], at[order]
    kept = np.einsum("ij,ij->i", coords, coords, dtype=np.float64)
    sq = projection.sq[at]  # |w|^2 of the centred rows, float64
    screen = Points(coords, kept.astype(np.float32), "euclidean")
    n_dims, n_features = coords.shape[1], X.shape[1]

    def limit(r: slice, c: slice) -> np.ndarray:
        bound = screen_limit(
            thr, sq[r] + sq[c].max(), n_features=n_features, n_dims=n_dims, sigma2=projection.sigma2
        )
        # Rounded up to float32, so that the comparison with float32 block values keeps the bound's margin.
        return (bound * (1 + 4 * _U32)).astype(np.float32)

    reach = np.sqrt(float(limit(slice(0, n), slice(0, n)).max())) * (1 + 1e-6)
    first = coords[:, 0].astype(np.float64)
    ends = np.searchsorted(first, first + reach, side="right")
    i, j, screened = window_pairs(screen, ends, block_size, limit, values=True)
    # Fast mode's estimate of each candidate's squared distance: the projected one plus the weighted residuals.
    residual = projection.weight * np.maximum(sq - kept, 0.0)
    priority = (screened + residual[i] + residual[j]) / thr
    # The element's rows in position order: checks gather from this copy (in cache) rather than from all of X.
    local = X[idx[order]]
    norms = (
        row_sq[idx[order]] if row_sq is not None else np.einsum("ij,ij->i", local, local, dtype=np.float64)
    )

    def check(sel: np.ndarray) -> np.ndarray:
        return _within(local, norms, i[sel], j[sel], thr)

    return lazy_labels(n, i, j, priority, check, min_samples, order)


def _within(rows: np.ndarray, norms: np.ndarray, a: np.ndarray, b: np.ndarray, thr: float) -> np.ndarray:
    """Whether ``|rows[a] - rows[b]|^2 <= thr``, exactly: float32 products, and the float64 difference of the
    rows for values within the rounding band (``(4 D + 40) 2^-24 (|x|^2 + |y|^2)``, as in
    :class:`~topoact_lightning.engine.distances.Points`). ``norms``: the rows' ``|x|^2`` in float64."""
    out = np.empty(len(a), dtype=bool)
    rel_tol = (4 * rows.shape[1] + 40) * _U32
    for s in range(0, len(a), _CHECK_CHUNK):
        ca, cb = a[s : s + _CHECK_CHUNK], b[s : s + _CHECK_CHUNK]
        sums = norms[ca] + norms[cb]
        dist = sums - 2.0 * np.einsum("ij,ij->i", rows[ca], rows[cb])
        tol = rel_tol * sums
        inside = dist <= thr - tol
        unsure = np.flatnonzero(np.abs(dist - thr) <= tol)
        if len(unsure):
            diff = rows[ca[unsure]].astype(np.float64) - rows[cb[unsure]]
            inside[unsure] = np.einsum("ij,ij->i", diff, diff) <= thr
        out[s : s + len(ca)] = inside
    return out


def lazy_labels(
    n: int,
    i: np.ndarray,
    j: np.ndarray,
    priority: np.ndarray,
    check: Callable[[np.ndarray], np.ndarray],
    min_samples: int,
    order: np.ndarray | None = None,
) -> np.ndarray:
    """DBSCAN labels of ``n`` points whose neighbour pairs are among the candidates ``(i, j)`` (positions,
    ``i < j``, ``i`` non-decreasing), calling ``check(k)`` (candidate numbers -> whether each is a neighbour
    pair) only for candidates that can change a label. ``priority``: lower is likelier a neighbour (the order
    of the checks only). ``order``: positions -> indices, as for
    :func:`~topoact_lightning.engine.dbscan.labels_from_pairs`.

    The result is :func:`~topoact_lightning.engine.dbscan.labels_from_pairs` of all the neighbour pairs: a
    point is core once ``min_samples - 1`` neighbours are found, and not core only when every candidate of it
    was checked; clusters are joined through checked pairs until no unchecked candidate links two clusters.

    Example:
        >>> i, j = np.array([0, 0, 1, 3]), np.array([1, 2, 2, 4])  # candidates; (0, 2) is not a neighbour pair
        >>> truth = np.array([True, False, True, True])
        >>> asked = []
        >>> def check(k):
        ...     asked.extend(k.tolist())
        ...     return truth[k]
        >>> lazy_labels(5, i, j, np.zeros(4), check, min_samples=2).tolist()
        [0, 0, 0, 1, 1]
        >>> sorted(asked)  # every point had a neighbour after the first round, and no link was left to check
        [0, 1, 2, 3]
    """
    status = np.zeros(len(i), dtype=np.int8)  # 0 unknown, 1 neighbours, -1 not

    def run(sel: np.ndarray) -> np.ndarray:
        """Check the candidates ``sel`` not known yet; returns those found to be neighbour pairs."""
        sel = sel[status[sel] == 0]
        if not len(sel):
            return sel
        near = check(sel)
        status[sel] = np.where(near, 1, -1)
        return sel[near]

    core = _core_points(n, i, j, priority, run, status, int(min_samples) - 1)
    both = (status == 1) & core[i] & core[j]
    comp = connected_components(n, i[both], j[both], rows_sorted=True)
    # Links: unchecked candidates between two clusters of core points. Checks only make clusters merge, so the
    # links of a round are among those of the round before.
    link = np.flatnonzero((status == 0) & core[i] & core[j] & (comp[i] != comp[j]))
    for rounds_left in range(_LINK_ROUNDS, -1, -1):
        if not len(link):
            break
        sel = _likeliest_links(link, comp[i[link]], comp[j[link]], priority[link]) if rounds_left else link
        joined = run(sel)
        if len(joined):
            merged = connected_components(n, comp[i[joined]], comp[j[joined]])
            comp = merged[comp]
        link = link[(status[link] == 0) & (comp[i[link]] != comp[j[link]])]
    # No link left: when the rounds ran out, the last one checked them all.
    true = status == 1
    return labels_from_pairs(n, i[true], j[true], core, order)


def _core_points(
    n: int,
    i: np.ndarray,
    j: np.ndarray,
    priority: np.ndarray,
    run: Callable[[np.ndarray], np.ndarray],
    status: np.ndarray,
    need: int,
) -> np.ndarray:
    """Which points are core (``need`` neighbours besides themselves), checking each point's candidates in
    rounds, likeliest first, until it has ``need`` neighbours or none is left; a point that is not core has
    every candidate checked."""
    if need <= 0:
        return np.ones(n, dtype=bool)
    n_levels = _LEVELS
    # Steps of 0.05 of eps^2 from 0.45 to 1.4, below and above them one step each.
    level = np.clip(((priority - 0.4) * 20).astype(np.int64) + 1, 0, n_levels - 1)
    level[priority < 0.4] = 0
    per_level = np.bincount(i * n_levels + level, minlength=n * n_levels) + np.bincount(
        j * n_levels + level, minlength=n * n_levels
    )
    cumulative = np.cumsum(per_level.reshape(n, n_levels), axis=1)
    upto = np.full(n, -1, dtype=np.int64)  # each point's candidates up to this level are checked
    found = np.zeros(n, dtype=np.int64)
    points = np.arange(n)
    todo = np.arange(len(i))  # candidates not checked, of points still open
    while True:
        open_ = (found < need) & (upto < n_levels - 1)
        if not open_.any():
            return found >= need
        have = np.where(upto >= 0, cumulative[points, np.maximum(upto, 0)], 0)
        goal = have + (need - found) + _SLACK
        target = np.argmax(cumulative >= goal[:, None], axis=1)
        target[cumulative[:, -1] < goal] = n_levels - 1
        upto = np.where(open_, np.maximum(upto, target), upto)
        ti, tj, tl = i[todo], j[todo], level[todo]
        near = run(todo[(tl <= upto[ti]) | (tl <= upto[tj])])
        found += np.bincount(i[near], minlength=n) + np.bincount(j[near], minlength=n)
        todo = todo[(status[todo] == 0) & (open_[ti] | open_[tj])]


def _likeliest_links(link: np.ndarray, a: np.ndarray, b: np.ndarray, priority: np.ndarray) -> np.ndarray:
    """Of the candidates ``link`` between clusters ``a`` and ``b``: the likeliest one for each pair of clusters,
    and every one that fast mode's estimate puts within eps."""
    lo, hi = np.minimum(a, b), np.maximum(a, b)
    by = np.lexsort((priority, hi, lo))
    pair = lo[by] * (int(hi.max()) + 1) + hi[by]
    first = np.ones(len(by), dtype=bool)
    first[1:] = pair[1:] != pair[:-1]
    return np.union1d(link[by[first]], link[priority <= 1.0])
