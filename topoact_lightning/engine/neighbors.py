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
    points = X if isinstance(X, Points) else Points.unverified(X, metric)
    n = points.n
    if n > sample:
        q = np.sort(np.random.default_rng(random_state).choice(n, size=sample, replace=False))
    else:  # every point; not touching np.random spares the graph process its import (20 ms)
        q = np.arange(n)
    kd = kth_neighbor_distance(points, max(int(min_samples) - 1, 1), q, n_threads=n_threads)
    return max(knee(kd), float(np.finfo(np.float32).tiny))
