"""k-nearest-neighbour distances and the automatic DBSCAN eps (the knee of the sorted k-distance curve).

Example:
    >>> import numpy as np
    >>> knee(np.array([0.1, 0.1, 0.11, 0.12, 0.13, 2.0, 5.0]))
    0.13
    >>> X = np.concatenate([np.zeros((20, 2)), np.ones((20, 2))]).astype(np.float32)
    >>> X += np.random.default_rng(0).normal(0, 0.01, X.shape).astype(np.float32)
    >>> 0 < auto_eps(X, min_samples=3) < 0.1
    True
"""

from __future__ import annotations

import numpy as np

from topoact_lightning.engine.distances import Points, _block_ranges
from topoact_lightning.engine.threads import available_cores, single_threaded_blas


def kth_neighbor_distance(
    points: Points, k: int, query_index: np.ndarray, *, block_size: int = 256, n_threads: int | None = None
) -> np.ndarray:
    """Distance from each point ``query_index`` to its ``k``-th nearest other point (float32, not verified).

    Query blocks run on ``n_threads`` threads (default: every available core) with single-threaded BLAS, which
    keeps a busy machine's cores working instead of waiting on each other.
    """
    n = points.n
    query_index = np.asarray(query_index, dtype=np.int64)
    k_eff = min(int(k) + 1, n)  # the query itself sorts first
    out = np.empty(len(query_index), dtype=np.float32)
    if k_eff < 2:
        out[:] = 0.0
        return out
    everything = slice(0, n)

    def one(s: slice) -> None:
        q = query_index[s]
        d = points.block(q, everything)
        d[np.arange(len(q)), q] = -1.0
        d.partition(k_eff - 1, axis=1)  # in place: the block is ours, and np.partition would copy it
        kth = np.maximum(d[:, k_eff - 1], 0.0)
        if points.sq is not None:
            kth = np.sqrt(kth) if points.metric == "euclidean" else kth / 2.0
        out[s] = kth

    blocks = _block_ranges(len(query_index), block_size)
    threads = available_cores() if n_threads is None else n_threads
    points.block(slice(0, 1), slice(0, 1))  # builds the augmented rows once, before the threads share them
    with single_threaded_blas():
        if threads > 1 and len(blocks) > 1:
            from concurrent.futures import ThreadPoolExecutor

            with ThreadPoolExecutor(max_workers=threads) as pool:
                list(pool.map(one, blocks))
        else:
            for s in blocks:
                one(s)
    return out


def knee(values: np.ndarray) -> float:
    """The knee of a curve: the sorted value farthest below the chord from the smallest to the largest value.

    Both axes are scaled to ``[0, 1]`` first (the "Kneedle" rule), so the result does not depend on units.
    """
    y = np.sort(np.asarray(values, dtype=np.float64))
    if len(y) == 0:
        raise ValueError("knee of an empty curve")
    span = y[-1] - y[0]
    if len(y) < 3 or span == 0:
        return float(y[-1])
    x = np.linspace(0.0, 1.0, len(y))
    return float(y[np.argmax(x - (y - y[0]) / span)])


def auto_eps(
    X: np.ndarray | Points,
    min_samples: int,
    metric: str = "euclidean",
    *,
    sample: int = 1000,
    random_state: int | None = 0,
    n_threads: int | None = None,
) -> float:
    """DBSCAN eps from the data: the knee of the sorted k-distance curve (Ester et al. 1996; TopoBERT).

    ``k = max(min_samples - 1, 1)``: the distance at which a point has ``min_samples`` points (itself included)
    within reach, i.e. would be a core point. The curve uses at most ``sample`` query points (drawn with
    ``random_state``) against all points, so the cost is ``O(sample * N * D)``. A curve of zeros (duplicates)
    gives the smallest positive float32 so DBSCAN still accepts it. ``X`` may be prepared :class:`Points`
    (fast mode computes the curve with its approximate distances).
    """
    n = X.n if isinstance(X, Points) else len(X)
    if n > sample:
        q = np.sort(np.random.default_rng(random_state).choice(n, size=sample, replace=False))
    else:  # every point; not touching np.random spares the graph process its import (20 ms)
        q = np.arange(n)
    k = max(int(min_samples) - 1, 1)
    if not isinstance(X, Points) and metric == "euclidean" and n >= LARGE:
        kd = chunked_kth_distance(X, k, q, n_threads=n_threads)
    else:
        points = X if isinstance(X, Points) else Points.unverified(X, metric)
        kd = kth_neighbor_distance(points, k, q, n_threads=n_threads)
    return max(knee(kd), float(np.finfo(np.float32).tiny))


#: From this many rows, :func:`auto_eps` reads ``X`` in chunks through :func:`chunked_kth_distance` (euclidean).
LARGE = 100_000
_CHUNK = 8192


def chunked_kth_distance(
    X: np.ndarray, k: int, query_index: np.ndarray, *, n_threads: int | None = None, chunk: int | None = None
) -> np.ndarray:
    """Distance from each row ``query_index`` of ``X`` to its ``k``-th nearest other row (euclidean, float32
    products, the values :func:`kth_neighbor_distance` gives), reading ``X`` in chunks of rows: the memory of a
    few chunks instead of two copies of ``X`` (centred and augmented), and no partition of whole rows of
    distances.

    Each query keeps its ``k + 1`` nearest rows so far (itself among them): the first chunk's by partition,
    later chunks' only where they beat the current ``k + 1``-th (one comparison per value). Distances come out
    of one matrix product of augmented rows into a reused buffer (fresh multi-megabyte arrays cost page faults).
    Chunks (``chunk`` rows) run on ``n_threads`` threads (default: every available core), each with its own
    lists, merged at the end.
    """
    n = len(X)
    keep = k + 1
    chunk = _CHUNK if chunk is None else int(chunk)
    mean = X[:: max(n // 2000, 1)].mean(axis=0, dtype=np.float64).astype(np.float32)
    Q = X[query_index] - mean
    width = -(-(X.shape[1] + 2) // 16) * 16
    left = np.zeros((len(Q), width), dtype=np.float32)
    left[:, : X.shape[1]] = Q
    left[:, X.shape[1]] = np.einsum("ij,ij->i", Q, Q)
    left[:, X.shape[1] + 1] = 1.0
    starts = list(range(0, n, chunk))
    threads = max(min(available_cores() if n_threads is None else n_threads, len(starts)), 1)

    def nearest(chunk_starts: list[int]) -> np.ndarray:
        best = np.full((len(Q), keep), np.inf)
        right = np.zeros((chunk, width), dtype=np.float32)
        buf = np.empty((len(Q), chunk), dtype=np.float32)
        for start in chunk_starts:
            rows = X[start : start + chunk]
            m = len(rows)
            R = right[:m]
            np.subtract(rows, mean, out=R[:, : X.shape[1]])
            R[:, X.shape[1] + 1] = np.einsum("ij,ij->i", R[:, : X.shape[1]], R[:, : X.shape[1]])
            R[:, : X.shape[1]] *= -2.0
            R[:, X.shape[1]] = 1.0
            d = np.matmul(left, R.T, out=buf[:, :m])  # |q|^2 - 2 q.r + |r|^2
            if np.isinf(best[:, -1]).any():
                part = min(keep, m)
                qi = np.repeat(np.arange(len(Q)), part)
                dist = np.partition(d, part - 1, axis=1)[:, :part].ravel().astype(np.float64)
            else:
                qi, ri = np.divmod(np.flatnonzero(d < best[:, -1][:, None]), m)
                dist = d[qi, ri].astype(np.float64)
            if len(qi):
                best, _ = _merge(best, qi, dist)
        return best

    with single_threaded_blas():
        parts = [starts[t::threads] for t in range(threads)]
        if threads > 1:
            from concurrent.futures import ThreadPoolExecutor

            with ThreadPoolExecutor(max_workers=threads) as pool:
                found = list(pool.map(nearest, parts))
        else:
            found = [nearest(starts)]
    best = found[0]
    for other in found[1:]:
        best, _ = _merge(best, np.repeat(np.arange(len(Q)), keep), other.ravel())
    return np.sqrt(np.maximum(best[:, -1], 0.0)).astype(np.float32)


def _merge(
    best: np.ndarray, qi: np.ndarray, dist: np.ndarray, best_row: np.ndarray | None = None, row=None
) -> tuple[np.ndarray, np.ndarray | None]:
    """Each query's ``best.shape[1]`` smallest distances (and their rows, when given) among its current ones and
    the new ``(qi, dist, row)``."""
    m, keep = best.shape
    queries = np.concatenate([np.repeat(np.arange(m), keep), qi])
    vals = np.concatenate([best.ravel(), dist])
    order = np.lexsort((vals, queries))
    take = order[np.searchsorted(queries[order], np.arange(m))[:, None] + np.arange(keep)[None, :]]
    if best_row is None:
        return vals[take], None
    return vals[take], np.concatenate([best_row.ravel(), row])[take]
