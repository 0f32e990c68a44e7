"""DBSCAN that gives scikit-learn's labels, faster; the automatic eps rule; k-nearest-neighbour distances.

:func:`dbscan` returns exactly the labels of ``sklearn.cluster.DBSCAN(eps, min_samples, metric).fit_predict(X)``
(same clusters, same numbering, same border-point assignment), but computes the eps-neighbourhood graph itself:

1. Pairwise distances in blocks with one float32 matrix product each (``|x|^2 + |y|^2 - 2 x.y`` on data centred
   in float64 first, which keeps the norms small), upper-triangle blocks only (the graph is symmetric).
2. A pair whose float32 distance lies within a rigorous rounding-error bound of eps (``(4 D + 40) * 2^-24``
   times ``|x|^2 + |y|^2``) is recomputed exactly in float64 from the original values, so the neighbourhood graph is
   the one scikit-learn finds (scikit-learn itself rounds in float64; only pairs at distance eps to about 1e-13
   relative could differ, which random data never produces).
3. Core points (at least ``min_samples`` neighbours counting the point itself), connected components of the
   core-to-core graph with scipy, numbered by their smallest core index, and every border point given the smallest
   label among its core neighbours. That is what scikit-learn's ``_dbscan_inner`` depth-first expansion produces:
   clusters are expanded one after the other in the order of their first core point, and a border point keeps
   the label of the first expansion that reaches it.

``exact=False`` skips step 2 (float32 throughout). With ``device`` set (a torch device string) the blocks are
computed by torch on that device (imported only then).

Example:
    >>> import numpy as np
    >>> X = np.array([[0.0], [0.1], [0.2], [5.0], [5.1], [9.0]], dtype=np.float32)
    >>> dbscan(X, eps=0.15, min_samples=2).tolist()
    [0, 0, 0, 1, 1, -1]
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np
from scipy import sparse
from scipy.sparse.csgraph import connected_components

#: Metrics the built-in DBSCAN, the automatic eps and the k-NN lens support.
METRICS = ("euclidean", "cosine")

_U32 = 2.0**-24
_BLOCK = 2048
_VERIFY_CHUNK = 8192


# --------------------------------------------------------------------------------------------- distance blocks
class _Prepared:
    """Data prepared once for block distances: float32 working copy, squared norms, float64 originals."""

    def __init__(self, X: np.ndarray, metric: str, exact: bool, device: str | None) -> None:
        self.metric = metric
        self.exact = exact
        X = np.asarray(X, dtype=np.float32)
        self.n, self.dim = X.shape
        self.orig = X
        if metric == "cosine":
            norms = np.sqrt(np.einsum("ij,ij->i", X, X, dtype=np.float64))
            # scikit-learn's normalize leaves zero rows at zero: their cosine distance to anything else is 1.
            norms[norms == 0] = 1.0
            self.norms = norms
            self.work = (X / norms[:, None]).astype(np.float32)
        else:
            # Any common centre leaves distances unchanged; the mean keeps |x|^2 small, hence the rounding bound.
            self.work = X - X.mean(axis=0, dtype=np.float64).astype(np.float32)
        self.sq = np.einsum("ij,ij->i", self.work, self.work, dtype=np.float64).astype(np.float32)
        # Rounding bound of the float32 route relative to |x|^2 + |y|^2 (cosine: absolute, unit vectors): the
        # centring (relative 2^-24 per coordinate), the dot product (gamma_D = D 2^-24) and the three additions,
        # doubled for safety.
        self.rel_tol = (4 * self.dim + 40) * _U32
        self.device = device
        self._torch_work = None
        if device is not None:
            import torch

            self._torch = torch
            self._torch_work = torch.from_numpy(self.work).to(device)
            self._torch_sq = torch.from_numpy(self.sq).to(device)

    def block(self, rows: slice, cols: slice) -> np.ndarray:
        """Squared euclidean distances (euclidean) or cosine distances (cosine) of a block, float32."""
        if self._torch_work is not None:
            t = self._torch
            a, b = self._torch_work[rows], self._torch_work[cols]
            g = a @ b.T
            if self.metric == "cosine":
                d = t.sub(1.0, g)
            else:
                d = g.mul_(-2.0).add_(self._torch_sq[rows, None]).add_(self._torch_sq[None, cols])
            return d.cpu().numpy()
        g = self.work[rows] @ self.work[cols].T
        if self.metric == "cosine":
            np.subtract(1.0, g, out=g)
        else:
            g *= -2.0
            g += self.sq[rows, None]
            g += self.sq[None, cols]
        return g

    def row_tolerance(self, rows: slice, cols: slice) -> np.ndarray:
        if self.metric == "cosine":
            return np.full(rows.stop - rows.start, self.rel_tol * 4, dtype=np.float32)
        return (self.sq[rows] + self.sq[cols].max()) * np.float32(self.rel_tol)

    def exact_values(self, i: np.ndarray, j: np.ndarray) -> np.ndarray:
        """Float64 distances (squared euclidean, or cosine) of the pairs ``(i[k], j[k])``, from the originals."""
        out = np.empty(len(i))
        for s in range(0, len(i), _VERIFY_CHUNK):
            a, b = i[s : s + _VERIFY_CHUNK], j[s : s + _VERIFY_CHUNK]
            xa, xb = self.orig[a].astype(np.float64), self.orig[b].astype(np.float64)
            if self.metric == "cosine":
                xa /= self.norms[a, None]
                xb /= self.norms[b, None]
                out[s : s + len(a)] = 1.0 - np.einsum("ij,ij->i", xa, xb)
            else:
                xa -= xb
                out[s : s + len(a)] = np.einsum("ij,ij->i", xa, xa)
        return out


def _threshold(metric: str, eps: float) -> float:
    return eps * eps if metric == "euclidean" else eps


def _block_ranges(n: int, size: int) -> list[slice]:
    return [slice(s, min(s + size, n)) for s in range(0, n, size)]


def radius_pairs(
    X: np.ndarray,
    eps: float,
    metric: str = "euclidean",
    *,
    exact: bool = True,
    device: str | None = None,
    block_size: int = _BLOCK,
) -> tuple[np.ndarray, np.ndarray]:
    """All pairs ``i < j`` with ``distance(X[i], X[j]) <= eps``, as two int64 arrays.

    No matrix larger than ``block_size x block_size`` is ever held.
    """
    prep = _Prepared(np.asarray(X), metric, exact, device)
    thr = _threshold(metric, eps)
    rows_out, cols_out = [], []
    blocks = _block_ranges(prep.n, block_size)
    for bi, r in enumerate(blocks):
        for c in blocks[bi:]:
            d = prep.block(r, c)
            if exact:
                tol = prep.row_tolerance(r, c)[:, None]
                sure = d <= (thr - tol)
                maybe = (d <= (thr + tol)) & ~sure
            else:
                sure = d <= np.float32(thr)
                maybe = None
            if c.start == r.start:
                # Diagonal block: keep i < j only (self-pairs are counted by the caller).
                tri = np.triu(np.ones(d.shape, dtype=bool), k=1)
                sure &= tri
                if maybe is not None:
                    maybe &= tri
            i, j = np.nonzero(sure)
            rows_out.append(i + r.start)
            cols_out.append(j + c.start)
            if maybe is not None and maybe.any():
                i, j = np.nonzero(maybe)
                i, j = i + r.start, j + c.start
                keep = prep.exact_values(i, j) <= thr
                rows_out.append(i[keep])
                cols_out.append(j[keep])
    if not rows_out:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
    return np.concatenate(rows_out).astype(np.int64), np.concatenate(cols_out).astype(np.int64)


# ------------------------------------------------------------------------------------------------------ DBSCAN
def dbscan(
    X: np.ndarray,
    eps: float,
    min_samples: int = 5,
    metric: str = "euclidean",
    *,
    exact: bool = True,
    device: str | None = None,
    block_size: int = _BLOCK,
) -> np.ndarray:
    """Labels of ``sklearn.cluster.DBSCAN(eps=eps, min_samples=min_samples, metric=metric).fit_predict(X)``.

    ``-1`` marks noise. See the module docstring for how the result is made identical to scikit-learn's.
    """
    if metric not in METRICS:
        raise ValueError(f"unknown metric {metric!r}; use one of {METRICS}")
    if not eps > 0:
        raise ValueError(f"eps must be positive, got {eps}")
    n = len(X)
    labels = np.full(n, -1, dtype=np.int64)
    if n == 0:
        return labels
    i, j = radius_pairs(X, eps, metric, exact=exact, device=device, block_size=block_size)
    counts = np.bincount(i, minlength=n) + np.bincount(j, minlength=n) + 1
    core = counts >= min_samples
    if not core.any():
        return labels
    both = core[i] & core[j]
    adj = sparse.coo_matrix((np.ones(both.sum(), dtype=np.int8), (i[both], j[both])), shape=(n, n))
    _, comp = connected_components(adj, directed=False)
    core_idx = np.flatnonzero(core)
    first = np.full(comp.max() + 1, n, dtype=np.int64)
    np.minimum.at(first, comp[core_idx], core_idx)
    used = np.flatnonzero(first < n)
    rank = np.full(len(first), -1, dtype=np.int64)
    rank[used[np.argsort(first[used], kind="stable")]] = np.arange(len(used))
    labels[core_idx] = rank[comp[core_idx]]
    # Border points: the smallest cluster label among their core neighbours.
    src = np.concatenate([i, j])
    dst = np.concatenate([j, i])
    border = core[src] & ~core[dst]
    if border.any():
        best = np.full(n, np.iinfo(np.int64).max, dtype=np.int64)
        np.minimum.at(best, dst[border], labels[src[border]])
        hit = best < np.iinfo(np.int64).max
        labels[hit] = best[hit]
    return labels


def native_dbscan_params(clusterer: Any) -> dict[str, Any] | None:
    """``{"eps", "min_samples", "metric"}`` if ``clusterer`` is a scikit-learn DBSCAN that :func:`dbscan` reproduces.

    Other estimators (and DBSCAN with other metrics, or a ``metric_params``) return None and are run as given.
    """
    from sklearn.cluster import DBSCAN

    if type(clusterer) is not DBSCAN:
        return None
    p = clusterer.get_params()
    metric = p["metric"]
    if metric == "minkowski" and p.get("p") in (None, 2, 2.0):
        metric = "euclidean"
    if metric == "l2":
        metric = "euclidean"
    if metric not in METRICS or p.get("metric_params"):
        return None
    return {"eps": float(p["eps"]), "min_samples": int(p["min_samples"]), "metric": metric}


# -------------------------------------------------------------------------------------------- k-NN and auto eps
def kth_neighbor_distance(
    queries: np.ndarray,
    X: np.ndarray,
    k: int,
    metric: str = "euclidean",
    *,
    query_index: np.ndarray | None = None,
    block_size: int = 512,
) -> np.ndarray:
    """Distance from each query to its ``k``-th nearest point of ``X`` (float32 route, not verified).

    If the queries are rows of ``X``, pass their row numbers as ``query_index`` so each query skips itself.
    """
    X = np.asarray(X, dtype=np.float32)
    Q = np.asarray(queries, dtype=np.float32)
    k_eff = min(k + (query_index is not None), len(X))
    if k_eff < 1:
        return np.zeros(len(Q), dtype=np.float32)
    if metric == "cosine":
        Xw, Qw = _unit(X), _unit(Q)
        sqx = sqq = None
    else:
        mu = X.mean(axis=0, dtype=np.float64)
        Xw = (X - mu).astype(np.float32)
        Qw = (Q - mu).astype(np.float32)
        sqx = np.einsum("ij,ij->i", Xw, Xw)
        sqq = np.einsum("ij,ij->i", Qw, Qw)
    out = np.empty(len(Q), dtype=np.float32)
    for s in _block_ranges(len(Q), block_size):
        g = Qw[s] @ Xw.T
        if metric == "cosine":
            d = np.maximum(1.0 - g, 0.0)
        else:
            g *= -2.0
            g += sqq[s, None]
            g += sqx[None, :]
            d = np.sqrt(np.maximum(g, 0.0))
        if query_index is not None:
            d[np.arange(len(d)), query_index[s]] = -1.0  # itself sorts first and is skipped
        out[s] = np.partition(d, k_eff - 1, axis=1)[:, k_eff - 1]
    return out


def _unit(X: np.ndarray) -> np.ndarray:
    X64 = X.astype(np.float64)
    norms = np.sqrt(np.einsum("ij,ij->i", X64, X64))
    norms[norms == 0] = 1.0
    return (X64 / norms[:, None]).astype(np.float32)


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
    X: np.ndarray,
    min_samples: int,
    metric: str = "euclidean",
    *,
    sample: int = 1000,
    random_state: int | None = 0,
) -> float:
    """DBSCAN eps from the data: the knee of the sorted k-distance curve (Ester et al. 1996; TopoBERT).

    ``k = max(min_samples - 1, 1)``: the distance at which a point has ``min_samples`` points (itself included)
    within reach, i.e. would be a core point. The curve uses at most ``sample`` query points (drawn with
    ``random_state``) against all of ``X``, so the cost is ``O(sample * N * D)``. A curve of zeros (duplicates)
    gives the smallest positive float32 so DBSCAN still accepts it.
    """
    X = np.asarray(X)
    n = len(X)
    rng = np.random.default_rng(random_state)
    q = np.sort(rng.choice(n, size=min(sample, n), replace=False)) if n > sample else np.arange(n)
    k = max(int(min_samples) - 1, 1)
    kd = kth_neighbor_distance(X[q], X, k, metric, query_index=q)
    return max(knee(kd), float(np.finfo(np.float32).tiny))


def iter_blocks(n: int, size: int) -> Iterator[slice]:
    """Consecutive slices of ``range(n)`` of at most ``size`` rows (exposed for the lenses)."""
    yield from _block_ranges(n, size)
