"""Membership arithmetic without sparse matrices, checked against scipy's sparse products and graph search."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import sparse
from scipy.sparse.csgraph import connected_components as scipy_components

from topoact_lightning.engine.memberships import connected_components, membership_pairs, shared_counts

node_lists = st.lists(st.lists(st.integers(0, 29), max_size=12, unique=True), max_size=8)


def incidence(members: list[np.ndarray], n: int = 30) -> sparse.csr_matrix:
    nodes, samples = membership_pairs(members)
    return sparse.csr_matrix((np.ones(len(samples)), (nodes, samples)), shape=(len(members), n))


@given(a=node_lists, b=node_lists)
@settings(max_examples=80, deadline=None)
def test_shared_counts_are_the_incidence_product(a, b):
    a = [np.array(sorted(m), dtype=np.int64) for m in a]
    b = [np.array(sorted(m), dtype=np.int64) for m in b]
    product = (incidence(a) @ incidence(b).T).tocoo()
    want = sorted(
        zip(product.row.tolist(), product.col.tolist(), product.data.astype(int).tolist(), strict=True)
    )
    rows, cols, counts = shared_counts(a, b)
    assert list(zip(rows.tolist(), cols.tolist(), counts.tolist(), strict=True)) == want  # sorted row, column
    upper = sparse.triu(incidence(a) @ incidence(a).T, k=1).tocoo()
    want = sorted(zip(upper.row.tolist(), upper.col.tolist(), upper.data.astype(int).tolist(), strict=True))
    rows, cols, counts = shared_counts(a, a, upper=True)
    assert list(zip(rows.tolist(), cols.tolist(), counts.tolist(), strict=True)) == want


@given(
    n=st.integers(1, 60),
    edges=st.lists(st.tuples(st.integers(0, 59), st.integers(0, 59)), max_size=120),
)
@settings(max_examples=80, deadline=None)
def test_union_find_components_match_scipy(n, edges):
    e = np.array([(a % n, b % n) for a, b in edges], dtype=np.int64).reshape(-1, 2)
    got = connected_components(n, e[:, 0], e[:, 1])
    _, want = scipy_components(
        sparse.coo_matrix((np.ones(len(e)), (e[:, 0], e[:, 1])), shape=(n, n)), directed=False
    )
    # The same partition, labelled by each component's smallest vertex.
    expected = [int(np.flatnonzero(want == want[v])[0]) for v in range(n)]
    assert got.tolist() == expected
    # scipy's path (no union-find round), through a COO matrix and through a CSR built from rows in order.
    assert connected_components(n, e[:, 0], e[:, 1], max_rounds=0).tolist() == expected
    by_row = np.argsort(e[:, 0], kind="stable")
    sorted_rows = connected_components(n, e[by_row, 0], e[by_row, 1], rows_sorted=True, max_rounds=0)
    assert sorted_rows.tolist() == expected


def test_union_find_settles_a_long_shuffled_path_and_falls_back_to_scipy_when_told():
    perm = np.random.default_rng(0).permutation(5000)
    i, j = perm[:-1], perm[1:]
    assert connected_components(5000, i, j).tolist() == [0] * 5000
    # No union-find round at all: scipy's search, relabelled the same way.
    assert connected_components(5000, i, j, max_rounds=0).tolist() == [0] * 5000
    assert connected_components(4, np.array([3]), np.array([1]), max_rounds=0).tolist() == [0, 1, 2, 1]
