"""Comparing two Mapper graphs built over the same samples (two epochs, two layers, two parameter choices).

Nodes are compared by the Jaccard index of their member sets, all at once from one sparse product of the two
node-by-sample incidence matrices. Each node's *best partner* is the node of the other graph with the highest
Jaccard index (ties go to the lower index). From the best partners:

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
    >>> from topoact_lightning.graph import MapperGraph
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
from scipy import sparse

if TYPE_CHECKING:
    from topoact_lightning.graph import MapperGraph


@dataclass
class GraphComparison:
    """The result of :func:`compare_graphs` (see the module docstring for the definitions)."""

    jaccard: sparse.csr_matrix
    matches: list[tuple[int, int, float]]
    splits: list[dict[str, Any]]
    merges: list[dict[str, Any]]
    births: list[int]
    deaths: list[int]
    distance: float
    min_jaccard: float
    best_a: np.ndarray = field(repr=False)
    best_b: np.ndarray = field(repr=False)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: everything but the Jaccard matrix, plus each node's best partner and its Jaccard index."""
        return {
            "matches": [[int(i), int(j), float(w)] for i, j, w in self.matches],
            "splits": self.splits,
            "merges": self.merges,
            "births": [int(j) for j in self.births],
            "deaths": [int(i) for i in self.deaths],
            "distance": float(self.distance),
            "min_jaccard": float(self.min_jaccard),
            "best_partner_a": [
                {"node": i, "partner": int(p), "jaccard": float(w)}
                for i, (p, w) in enumerate(self.best_a.tolist())
            ],
            "best_partner_b": [
                {"node": j, "partner": int(p), "jaccard": float(w)}
                for j, (p, w) in enumerate(self.best_b.tolist())
            ],
        }


def incidence(members: list[np.ndarray], n_samples: int) -> sparse.csr_matrix:
    """The ``(n_nodes, n_samples)`` 0/1 matrix of node membership, int32."""
    sizes = np.fromiter((len(m) for m in members), dtype=np.int64, count=len(members))
    indptr = np.concatenate([[0], np.cumsum(sizes)])
    indices = np.concatenate(members).astype(np.int64) if len(members) else np.zeros(0, dtype=np.int64)
    return sparse.csr_matrix(
        (np.ones(len(indices), dtype=np.int32), indices, indptr), shape=(len(members), n_samples)
    )


def jaccard_matrix(
    a_members: list[np.ndarray], b_members: list[np.ndarray], n_samples: int
) -> sparse.csr_matrix:
    """Sparse ``(len(a), len(b))`` matrix of Jaccard indices; only pairs sharing a sample are stored."""
    A = incidence(a_members, n_samples)
    B = incidence(b_members, n_samples)
    inter = (A @ B.T).tocsr()
    inter.sort_indices()
    size_a = np.asarray(A.sum(axis=1)).ravel()
    size_b = np.asarray(B.sum(axis=1)).ravel()
    rows = np.repeat(np.arange(inter.shape[0]), np.diff(inter.indptr))
    union = size_a[rows] + size_b[inter.indices] - inter.data
    return sparse.csr_matrix((inter.data / union, inter.indices, inter.indptr), shape=inter.shape)


def _best(J: sparse.csr_matrix) -> np.ndarray:
    """Per row: ``[best column, its value]`` (``[-1, 0]`` for a row with no stored entry); ties to lower column."""
    n = J.shape[0]
    out = np.zeros((n, 2))
    out[:, 0] = -1
    counts = np.diff(J.indptr)
    has = counts > 0
    if not has.any():
        return out
    starts = J.indptr[:-1][has]
    row_max = np.zeros(n)
    row_max[has] = np.maximum.reduceat(J.data, starts)
    rows = np.repeat(np.arange(n), counts)
    # Column indices are sorted within each row, so the first position holding the row's maximum is the lowest column.
    pos = np.where(J.data == row_max[rows], np.arange(len(J.data)), len(J.data))
    pick = np.minimum.reduceat(pos, starts)
    out[has, 0] = J.indices[pick]
    out[has, 1] = J.data[pick]
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
    J = jaccard_matrix(a.members, b.members, a.n_samples)
    JT = J.T.tocsr()
    JT.sort_indices()
    best_a, best_b = _best(J), _best(JT)

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
        jaccard=J,
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
