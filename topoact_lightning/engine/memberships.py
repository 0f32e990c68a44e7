"""Set-membership arithmetic on node member lists and edge lists, in plain numpy (no sparse matrices).

Mapper nodes are sets of sample indices, and each sample lies in a handful of nodes at most (one per cover
element that holds it). Everything the graph needs from memberships (shared samples between nodes, per-node
sums, connected components) is therefore a small sort or a ``bincount`` over the ``(node, sample)`` pairs,
without a sparse matrix library: the graph worker never imports scipy, whose import is a large share of a fresh
process's start-up.

Example:
    >>> import numpy as np
    >>> members = [np.array([0, 1, 2]), np.array([2, 3]), np.array([3, 4])]
    >>> rows, cols, counts = shared_counts(members, members, upper=True)
    >>> rows.tolist(), cols.tolist(), counts.tolist()
    ([0, 1], [1, 2], [1, 1])
    >>> connected_components(5, np.array([0, 3]), np.array([1, 4])).tolist()
    [0, 0, 2, 3, 3]
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def membership_pairs(members: Sequence[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """``(node, sample)`` of every membership, as two int64 arrays, node by node."""
    sizes = np.fromiter((len(m) for m in members), dtype=np.int64, count=len(members))
    nodes = np.repeat(np.arange(len(members), dtype=np.int64), sizes)
    samples = np.concatenate(members).astype(np.int64, copy=False) if len(members) else np.zeros(0, np.int64)
    return nodes, samples


def sample_index(members: Sequence[np.ndarray], n_samples: int) -> tuple[np.ndarray, np.ndarray]:
    """The nodes of every sample, as CSR arrays ``(indptr, nodes)`` (int64): sample ``s`` is in the nodes
    ``nodes[indptr[s]:indptr[s + 1]]``, in increasing order. The one sample -> nodes index of the package.

    Example:
        >>> indptr, nodes = sample_index([np.array([0, 1]), np.array([1, 3])], 4)
        >>> indptr.tolist(), nodes.tolist()
        ([0, 1, 3, 3, 4], [0, 0, 1, 1])
    """
    node, sample = membership_pairs(members)
    by_sample = np.argsort(sample, kind="stable")  # stable: a sample's nodes stay in node order
    indptr = np.zeros(int(n_samples) + 1, dtype=np.int64)
    np.cumsum(np.bincount(sample, minlength=int(n_samples)), out=indptr[1:])
    return indptr, node[by_sample]


def shared_counts(
    a_members: Sequence[np.ndarray], b_members: Sequence[np.ndarray], *, upper: bool = False
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Every pair ``(i, j)`` of a node of ``a`` and a node of ``b`` that share samples, and how many they share.

    Returned as ``rows, cols, counts`` (int64), sorted by row then column. With ``upper=True`` (``a`` and ``b``
    the same graph) only pairs ``i < j`` are kept: the nerve's edges. Members must be unique within a node.
    """
    na, sa = membership_pairs(a_members)
    nb, sb = membership_pairs(b_members)
    empty = np.zeros(0, dtype=np.int64)
    if len(sa) == 0 or len(sb) == 0:
        return empty, empty, empty
    # Join the memberships on the sample: each membership of b meets the run of a's memberships of its sample.
    by_sample = np.argsort(sa, kind="stable")
    sa, na = sa[by_sample], na[by_sample]
    lo = np.searchsorted(sa, sb, side="left")
    run = np.searchsorted(sa, sb, side="right") - lo
    total = int(run.sum())
    if total == 0:
        return empty, empty, empty
    starts = np.repeat(lo - np.cumsum(run) + run, run)
    rows = na[starts + np.arange(total)]
    cols = np.repeat(nb, run)
    if upper:
        keep = rows < cols
        rows, cols = rows[keep], cols[keep]
    n_cols = max(len(b_members), 1)
    keys, counts = np.unique(rows * n_cols + cols, return_counts=True)
    return keys // n_cols, keys % n_cols, counts.astype(np.int64)


# Below this many edges the whole-array union-find is within about 1.4x of scipy's compiled search (which also
# builds a sparse matrix first): 6.8 vs 4.8 ms for 233,000 edges on a dense 2-D radius graph, 18 vs 17 ms for
# 457,000 in 3-D, 1.3 vs 1.5 ms on a shuffled 1-D one. Staying in numpy also spares a fresh process scipy.sparse's
# import, about 0.25 s of CPU, which the callback's graph process used to pay at its first dense cover element.
SMALL_GRAPH = 250_000


def connected_components(
    n: int, i: np.ndarray, j: np.ndarray, *, rows_sorted: bool = False, max_rounds: int = 64
) -> np.ndarray:
    """Connected components of the undirected graph on ``range(n)`` with edges ``(i, j)``: each vertex's label is
    the smallest vertex of its component.

    Below :data:`SMALL_GRAPH` edges, a union-find in whole-array steps: every edge hooks the larger of its two
    roots onto the smaller one, pointer jumping brings every vertex to its root, and only the edges still joining
    two roots go on to the next round. Every vertex points to a smaller or equal one, so the roots are the
    smallest vertices of their components. Larger graphs, and any that has not settled after ``max_rounds``
    rounds (never seen; a shuffled path of 20,000 vertices takes 9), go to scipy (imported only then);
    ``rows_sorted`` (``i`` non-decreasing) lets its CSR matrix be built without a sort.

    Example:
        >>> connected_components(5, np.array([0, 3]), np.array([2, 4])).tolist()
        [0, 1, 0, 3, 3]
    """
    i = np.asarray(i, dtype=np.int64)
    j = np.asarray(j, dtype=np.int64)
    if len(i) < SMALL_GRAPH:
        roots = _union_find(n, i, j, max_rounds)
        if roots is not None:
            return roots
    return _scipy_components(n, i, j, rows_sorted)


def _union_find(n: int, i: np.ndarray, j: np.ndarray, max_rounds: int) -> np.ndarray | None:
    parent = np.arange(n)
    a, b = i, j
    for _ in range(max_rounds):
        # The vertices' links plus the edges left over always have the graph's components: an edge dropped here
        # joins two vertices that already share a root. In a dense graph most edges drop after the first round.
        a, b = parent[a], parent[b]
        apart = a != b
        if not apart.any():
            return parent
        a, b = a[apart], b[apart]
        np.minimum.at(parent, np.maximum(a, b), np.minimum(a, b))
        while True:
            jumped = parent[parent]
            if np.array_equal(jumped, parent):
                break
            parent = jumped
    return None


def _scipy_components(n: int, i: np.ndarray, j: np.ndarray, rows_sorted: bool) -> np.ndarray:
    from scipy import sparse
    from scipy.sparse.csgraph import connected_components as scipy_components

    if rows_sorted:
        indptr = np.zeros(n + 1, dtype=np.int64)
        np.cumsum(np.bincount(i, minlength=n), out=indptr[1:])
        # float64 CSR is what scipy's search works on: anything else is converted first.
        graph = sparse.csr_matrix((np.ones(len(i)), j, indptr), shape=(n, n))
    else:
        graph = sparse.coo_matrix((np.ones(len(i)), (i, j)), shape=(n, n))
    _, labels = scipy_components(graph, directed=False)
    first = np.full(labels.max() + 1 if n else 0, n, dtype=np.int64)
    np.minimum.at(first, labels, np.arange(n))
    return first[labels]
