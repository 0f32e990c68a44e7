"""DBSCAN that gives scikit-learn's labels, faster.

:func:`dbscan` returns exactly the labels of ``sklearn.cluster.DBSCAN(eps, min_samples, metric).fit_predict(X)``
(same clusters, same numbering, same border-point assignment), but computes the eps-neighbourhood graph itself
(:mod:`topoact_lightning.engine.distances`: float32 blocks, float64 checks at the threshold), then:

core points (at least ``min_samples`` neighbours counting the point itself), connected components of the
core-to-core graph, numbered by their smallest core index, and every border point given the smallest label among
its core neighbours. That is what scikit-learn's ``_dbscan_inner`` depth-first expansion produces: clusters are
expanded one after the other in the order of their first core point, and a border point keeps the label of the
first expansion that reaches it.

``exact=False`` skips the float64 checks (float32 throughout). With ``device`` set (a torch device string) the
blocks are computed by torch on that device (imported only then).

Example:
    >>> import numpy as np
    >>> X = np.array([[0.0], [0.1], [0.2], [5.0], [5.1], [9.0]], dtype=np.float32)
    >>> dbscan(X, eps=0.15, min_samples=2).tolist()
    [0, 0, 0, 1, 1, -1]
"""

from __future__ import annotations

from typing import Any

import numpy as np

from topoact_lightning.engine.distances import _BLOCK, METRICS, Points, _sorted_radius_pairs
from topoact_lightning.engine.memberships import connected_components


def dbscan(
    X: np.ndarray | Points,
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
    ``X`` may also be prepared :class:`Points` (then ``metric``, ``exact`` and ``device`` are theirs).
    """
    if not eps > 0:
        raise ValueError(f"eps must be positive, got {eps}")
    if isinstance(X, Points):
        points = X
    elif exact:
        points = Points.exact(X, metric, device=device)
    else:
        points = Points.unverified(X, metric, device=device)
    n = points.n
    if n == 0:
        return np.full(0, -1, dtype=np.int64)
    # Everything below works on positions in the sorted order of the pairs (rows of a CSR matrix without a sort);
    # only the cluster numbering looks at the original indices.
    order, i, j = _sorted_radius_pairs(points, eps, block_size=block_size)
    counts = np.bincount(i, minlength=n) + np.bincount(j, minlength=n) + 1
    return labels_from_pairs(n, i, j, counts >= min_samples, order)


def labels_from_pairs(
    n: int, i: np.ndarray, j: np.ndarray, core: np.ndarray, order: np.ndarray | None = None
) -> np.ndarray:
    """DBSCAN labels from the neighbour pairs ``(i, j)`` (positions, ``i`` non-decreasing) and the core points.

    Clusters are the connected components of the core points through core-core pairs, numbered by their
    smallest core index; every other point takes the smallest label among its core neighbours, or -1 (noise).
    ``order``: positions -> indices (None: the identity); labels are returned by index. Pairs between two core
    points of one component may be missing (they change nothing), and so may pairs between two non-core
    points; every other neighbour pair must be there.
    """
    labels = np.full(n, -1, dtype=np.int64)
    if not core.any():
        return labels
    index = np.arange(n) if order is None else order
    both = core[i] & core[j]
    comp = connected_components(n, i[both], j[both], rows_sorted=True)
    core_pos = np.flatnonzero(core)
    first = np.full(comp.max() + 1, n, dtype=np.int64)
    np.minimum.at(first, comp[core_pos], index[core_pos])
    used = np.flatnonzero(first < n)
    rank = np.full(len(first), -1, dtype=np.int64)
    rank[used[np.argsort(first[used], kind="stable")]] = np.arange(len(used))
    found = np.full(n, -1, dtype=np.int64)
    found[core_pos] = rank[comp[core_pos]]
    # Border points: the smallest cluster label among their core neighbours.
    border_ij = core[i] & ~core[j]
    border_ji = core[j] & ~core[i]
    if border_ij.any() or border_ji.any():
        src = np.concatenate([i[border_ij], j[border_ji]])
        dst = np.concatenate([j[border_ij], i[border_ji]])
        best = np.full(n, np.iinfo(np.int64).max, dtype=np.int64)
        np.minimum.at(best, dst, found[src])
        hit = best < np.iinfo(np.int64).max
        found[hit] = best[hit]
    labels[index] = found
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
