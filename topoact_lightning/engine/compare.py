"""Comparing two Mapper graphs built over the same samples (two epochs, two layers, two parameter choices).

Nodes are compared by the Jaccard index of their member sets, all at once from the samples the two graphs'
nodes share (:func:`topoact_lightning.engine.memberships.shared_counts`). Each node's *best partner* is the node of the
other graph with the highest Jaccard index (ties go to the lower index). From the best partners:

- ``matches``: every pair ``(i, j)`` where ``j`` is ``i``'s best partner or ``i`` is ``j``'s, with Jaccard at
  least ``min_jaccard``;
- ``splits``: a node of ``a`` that is the best partner (with Jaccard >= ``min_jaccard``) of two or more nodes of
  ``b``; ``merges`` the same from ``b``'s side;
- ``births``: nodes of ``b`` whose best Jaccard with ``a`` is below ``min_jaccard``; ``deaths`` likewise for ``a``.

Using best partners, not every pair above the threshold, keeps a graph's overlapping neighbours (Mapper nodes
share the points of overlapping cover elements) from being reported as splits: a graph compared with itself has
only one-to-one matches and no splits, merges, births or deaths.

``distance`` is ``1 - (W_a + W_b) / 2``, where ``W_a`` is the mean over nodes of ``a`` of their best Jaccard
index with ``b``, weighted by node size, and ``W_b`` the same from ``b``'s side. It lies in ``[0, 1]``, is
symmetric, is 0 for identical graphs, 1 when no node of one graph shares a sample with a node of the other (and
when exactly one graph has no nodes); two empty graphs are at distance 0.

Example:
    >>> import numpy as np
    >>> from topoact_lightning.engine.graph import MapperGraph
    >>> def g(members):
    ...     return MapperGraph(n_samples=6, members=[np.array(m) for m in members], node_cover=np.zeros(len(members)),
    ...                        cover_bounds=np.array([[[0.0, 1.0]]]), lens=np.zeros(6, dtype=np.float32))
    >>> c = compare_graphs(g([[0, 1, 2, 3], [4, 5]]), g([[0, 1], [2, 3], [4, 5]]))
    >>> c.splits, c.deaths, c.births
    ([{'from': 0, 'into': [0, 1]}], [], [])
    >>> round(c.distance, 3)
    0.333
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from topoact_lightning.engine.memberships import shared_counts

if TYPE_CHECKING:
    from topoact_lightning.engine.graph import MapperGraph


@dataclass
class GraphComparison:
    """The result of :func:`compare_graphs` (see the module docstring for the definitions).

    ``pairs``: every pair of nodes sharing samples as ``(rows, cols, jaccard)`` arrays (node of ``a``, node of
    ``b``, Jaccard index), sorted by row then column; :attr:`jaccard` is the same as a scipy sparse matrix.
    """

    pairs: tuple[np.ndarray, np.ndarray, np.ndarray] = field(repr=False)
    shape: tuple[int, int]
    matches: list[tuple[int, int, float]]
    splits: list[dict[str, Any]]
    merges: list[dict[str, Any]]
    births: list[int]
    deaths: list[int]
    distance: float
    min_jaccard: float
    best_a: np.ndarray = field(repr=False)
    best_b: np.ndarray = field(repr=False)

    @property
    def jaccard(self) -> Any:
        """The ``(n_nodes_a, n_nodes_b)`` Jaccard indices as a ``scipy.sparse.csr_matrix`` (imports scipy)."""
        from scipy import sparse

        rows, cols, values = self.pairs
        return sparse.csr_matrix((values, (rows, cols)), shape=self.shape)


def jaccard_pairs(
    a_members: list[np.ndarray], b_members: list[np.ndarray]
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(rows, cols, jaccard)`` for every pair of a node of ``a`` and a node of ``b`` that share a sample, sorted
    by row then column."""
    rows, cols, inter = shared_counts(a_members, b_members)
    size_a = np.fromiter((len(m) for m in a_members), dtype=np.int64, count=len(a_members))
    size_b = np.fromiter((len(m) for m in b_members), dtype=np.int64, count=len(b_members))
    return rows, cols, inter / (size_a[rows] + size_b[cols] - inter)


def _best(rows: np.ndarray, cols: np.ndarray, values: np.ndarray, n: int) -> np.ndarray:
    """Per row ``0..n-1``: ``[best column, its value]`` (``[-1, 0]`` for a row with no pair); ties to the lower
    column. ``rows`` must be sorted, and ``cols`` sorted within each row."""
    out = np.zeros((n, 2))
    out[:, 0] = -1
    if len(rows) == 0:
        return out
    starts = np.flatnonzero(np.r_[True, rows[1:] != rows[:-1]])
    has = rows[starts]
    row_max = np.maximum.reduceat(values, starts)
    # Within a row, columns ascend: the first position holding the row's maximum is the lowest column.
    at_max = values == np.repeat(row_max, np.diff(np.r_[starts, len(values)]))
    pick = np.minimum.reduceat(np.where(at_max, np.arange(len(values)), len(values)), starts)
    out[has, 0] = cols[pick]
    out[has, 1] = values[pick]
    return out


def compare_graphs(a: MapperGraph, b: MapperGraph, min_jaccard: float = 0.1) -> GraphComparison:
    """Node correspondence and a distance between two graphs over the same samples.

    Raises:
        ValueError: if the graphs are over different numbers of samples, or ``min_jaccard`` is not in ``(0, 1]``.
    """
    if a.n_samples != b.n_samples:
        raise ValueError(
            f"cannot compare graphs over {a.n_samples} and {b.n_samples} samples: compare graphs built from the "
            "same probe samples"
        )
    if not 0 < min_jaccard <= 1:
        raise ValueError(f"min_jaccard must be in (0, 1], got {min_jaccard}")
    rows, cols, values = jaccard_pairs(a.members, b.members)
    by_col = np.lexsort((rows, cols))
    best_a = _best(rows, cols, values, a.n_nodes)
    best_b = _best(cols[by_col], rows[by_col], values[by_col], b.n_nodes)

    pairs: dict[tuple[int, int], float] = {}
    for i, (j, w) in enumerate(best_a.tolist()):
        if w >= min_jaccard:
            pairs[(i, int(j))] = w
    for j, (i, w) in enumerate(best_b.tolist()):
        if w >= min_jaccard:
            pairs[(int(i), j)] = w
    matches = [(i, j, w) for (i, j), w in sorted(pairs.items())]

    splits = [{"from": i, "into": js} for i, js in _groups(best_b, min_jaccard).items() if len(js) >= 2]
    merges = [{"from": is_, "into": j} for j, is_ in _groups(best_a, min_jaccard).items() if len(is_) >= 2]
    births = np.flatnonzero(best_b[:, 1] < min_jaccard).tolist()
    deaths = np.flatnonzero(best_a[:, 1] < min_jaccard).tolist()

    distance = _distance(a.node_sizes, best_a[:, 1], b.node_sizes, best_b[:, 1])
    return GraphComparison(
        pairs=(rows, cols, values),
        shape=(a.n_nodes, b.n_nodes),
        matches=matches,
        splits=splits,
        merges=merges,
        births=births,
        deaths=deaths,
        distance=distance,
        min_jaccard=float(min_jaccard),
        best_a=best_a,
        best_b=best_b,
    )


def _groups(best: np.ndarray, min_jaccard: float) -> dict[int, list[int]]:
    """Partner -> the nodes that chose it, for choices at or above the threshold, in ascending order."""
    out: dict[int, list[int]] = {}
    for node, (partner, w) in enumerate(best.tolist()):
        if w >= min_jaccard:
            out.setdefault(int(partner), []).append(node)
    return dict(sorted(out.items()))


def _distance(size_a: np.ndarray, best_a: np.ndarray, size_b: np.ndarray, best_b: np.ndarray) -> float:
    if len(size_a) == 0 and len(size_b) == 0:
        return 0.0
    if len(size_a) == 0 or len(size_b) == 0:
        return 1.0
    wa = float(np.average(best_a, weights=size_a))
    wb = float(np.average(best_b, weights=size_b))
    return float(min(max(1.0 - (wa + wb) / 2.0, 0.0), 1.0))


def membership_ari(a: MapperGraph, b: MapperGraph) -> float:
    """Adjusted Rand index of the point-to-node assignment of two graphs built on the same cover.

    Every (cover element, sample) membership is one item; its label is the node holding it, or a label of its own
    if the clusterer called it noise. Used to measure how close a fast graph is to the exact one.

    Raises:
        ValueError: if the graphs do not share samples, lens and cover bounds.
    """
    from sklearn.metrics import adjusted_rand_score

    if (
        a.n_samples != b.n_samples
        or a.cover_bounds.shape != b.cover_bounds.shape
        or not np.array_equal(a.cover_bounds, b.cover_bounds)
        or not np.array_equal(a.lens, b.lens)
    ):
        raise ValueError("membership_ari needs two graphs with the same samples, lens and cover")
    lens = a.lens.astype(np.float64).reshape(a.n_samples, -1)
    la, lb = [], []
    for e, box in enumerate(a.cover_bounds):
        inside = np.flatnonzero(np.all((lens >= box[:, 0]) & (lens <= box[:, 1]), axis=1))
        la.append(_element_labels(a, e, inside))
        lb.append(_element_labels(b, e, inside))
    if not la:
        return 1.0
    return float(adjusted_rand_score(np.concatenate(la), np.concatenate(lb)))


def _element_labels(g: MapperGraph, element: int, inside: np.ndarray) -> np.ndarray:
    # Noise gets unique negative labels so that it never counts as one shared cluster.
    lab = -(element * (g.n_samples + 1) + np.arange(1, len(inside) + 1, dtype=np.int64))
    for node in np.flatnonzero(g.node_cover == element):
        lab[np.isin(inside, g.members[node])] = node
    return lab
