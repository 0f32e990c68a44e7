"""Numbers that summarise a Mapper graph's shape: small pure functions over arrays.

Example:
    >>> import numpy as np
    >>> purity(np.array([[5, 0], [1, 1]])).round(3).tolist()
    [1.0, 0.0]
    >>> n_components(3, np.array([[0, 1]]))
    2
"""

from __future__ import annotations

import numpy as np

from topoact_lightning.engine.memberships import connected_components

#: The metric names :func:`graph_metrics` returns, in display order.
GRAPH_METRICS = ("nodes", "edges", "components", "loops", "purity", "coverage", "largest_node_share")


def purity(class_histograms: np.ndarray) -> np.ndarray:
    """``1 - H(p) / log K`` for each row of class counts, ``K`` the number of columns.

    1 means a node holds one class only, 0 that its classes are evenly mixed. A node with no labelled members
    gets NaN; with fewer than two classes every node is pure.
    """
    hist = np.asarray(class_histograms, dtype=np.float64)
    if hist.ndim != 2:
        raise ValueError("class_histograms must be 2-D (nodes x classes)")
    totals = hist.sum(axis=1)
    out = np.full(len(hist), np.nan)
    k = hist.shape[1]
    has = totals > 0
    if k < 2:
        out[has] = 1.0
        return out
    p = hist[has] / totals[has, None]
    with np.errstate(divide="ignore", invalid="ignore"):
        h = -np.where(p > 0, p * np.log(p), 0.0).sum(axis=1)
    out[has] = np.clip(1.0 - h / np.log(k), 0.0, 1.0)
    return out


def weighted_purity(class_histograms: np.ndarray) -> float:
    """The mean of :func:`purity` over nodes, weighted by each node's number of labelled members (NaN if none)."""
    hist = np.asarray(class_histograms)
    weights = hist.sum(axis=1) if hist.size else np.zeros(0)
    if not weights.sum():
        return float("nan")
    p = purity(hist)
    ok = weights > 0
    return float(np.average(p[ok], weights=weights[ok]))


def n_components(n_nodes: int, edges: np.ndarray) -> int:
    """Connected components of a graph on ``n_nodes`` nodes with the given ``(n_edges, 2)`` edge array."""
    if n_nodes == 0:
        return 0
    edges = np.asarray(edges, dtype=np.int64).reshape(-1, 2)
    roots = connected_components(n_nodes, edges[:, 0], edges[:, 1])
    return int(np.count_nonzero(roots == np.arange(n_nodes)))


def graph_metrics(
    *,
    n_samples: int,
    node_sizes: np.ndarray,
    edges: np.ndarray,
    class_histograms: np.ndarray | None = None,
    n_unassigned: int = 0,
) -> dict[str, float]:
    """Shape metrics of a Mapper graph, from its arrays (:meth:`MapperGraph.metrics
    <topoact_lightning.engine.graph.MapperGraph.metrics>` passes its own).

    - ``nodes``, ``edges``, ``components``;
    - ``loops``: independent cycles, ``edges - nodes + components`` (the first Betti number of the 1-skeleton);
    - ``purity``: size-weighted mean node purity (NaN without ``class_histograms``);
    - ``coverage``: share of samples in at least one node (``n_unassigned`` are in none);
    - ``largest_node_share``: the largest node's member count over the number of samples (near 1 means collapse).

    Example:
        >>> m = graph_metrics(n_samples=4, node_sizes=np.array([2, 3]), edges=np.array([[0, 1]]), n_unassigned=0)
        >>> m["components"], m["loops"], m["largest_node_share"]
        (1.0, 0.0, 0.75)
    """
    sizes = np.asarray(node_sizes)
    edges = np.asarray(edges).reshape(-1, 2)
    n, e = len(sizes), len(edges)
    c = n_components(n, edges)
    denominator = max(int(n_samples), 1)
    has_classes = class_histograms is not None and np.asarray(class_histograms).shape[1:] != (0,)
    return {
        "nodes": float(n),
        "edges": float(e),
        "components": float(c),
        "loops": float(e - n + c),
        "purity": weighted_purity(class_histograms) if has_classes else float("nan"),
        "coverage": 1.0 - n_unassigned / denominator if n_samples else 0.0,
        "largest_node_share": float(sizes.max()) / denominator if n else 0.0,
    }
