"""Graph comparison: Jaccard correspondence, splits/merges/births/deaths, distance properties."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from topoact_lightning import Mapper, MapperGraph, compare_graphs
from topoact_lightning.engine.compare import jaccard_pairs, membership_ari

N = 40


def graph(members, n=N):
    members = [np.asarray(m) for m in members]
    return MapperGraph(
        n_samples=n,
        members=members,
        node_cover=np.zeros(len(members), dtype=int),
        cover_bounds=np.array([[[0.0, 1.0]]]),
        lens=np.zeros(n, dtype=np.float32),
    )


node_sets = st.lists(st.sets(st.integers(0, N - 1), min_size=1, max_size=15), min_size=0, max_size=8)


@given(a=node_sets, b=node_sets)
@settings(max_examples=80, deadline=None)
def test_distance_properties_and_jaccard_against_brute_force(a, b):
    ga, gb = graph([sorted(s) for s in a]), graph([sorted(s) for s in b])
    c = compare_graphs(ga, gb)
    assert 0.0 <= c.distance <= 1.0
    assert compare_graphs(gb, ga).distance == pytest.approx(c.distance)
    assert compare_graphs(ga, ga).distance == 0.0
    J = c.jaccard.toarray()
    for i, sa in enumerate(a):
        for j, sb in enumerate(b):
            assert J[i, j] == pytest.approx(len(sa & sb) / len(sa | sb))
    # Best partners are row maxima, lowest index on ties.
    for i in range(len(a)):
        if J.shape[1] and J[i].max() > 0:
            assert c.best_a[i, 0] == np.argmax(J[i]) and c.best_a[i, 1] == J[i].max()


def test_identical_graphs_match_one_to_one():
    g = graph([[0, 1, 2, 3], [3, 4, 5], [5, 6, 7, 8]])  # overlapping neighbours, as in Mapper graphs
    c = compare_graphs(g, g)
    assert c.matches == [(0, 0, 1.0), (1, 1, 1.0), (2, 2, 1.0)]
    assert (c.splits, c.merges, c.births, c.deaths, c.distance) == ([], [], [], [], 0.0)


def test_split_merge_birth_death():
    a = graph([[0, 1, 2, 3, 4, 5], [10, 11], [20, 21, 22], [23, 24, 25], [30, 31]])
    b = graph([[0, 1, 2], [3, 4, 5], [10, 11], [20, 21, 22, 23, 24, 25], [35, 36]])
    c = compare_graphs(a, b, min_jaccard=0.2)
    assert c.splits == [{"from": 0, "into": [0, 1]}]
    assert c.merges == [{"from": [2, 3], "into": 3}]
    assert c.deaths == [4] and c.births == [4]
    assert (1, 2, 1.0) in c.matches


def test_disjoint_and_empty_graphs():
    a, b = graph([[0, 1], [2, 3]]), graph([[4, 5], [6]])
    assert compare_graphs(a, b).distance == 1.0
    assert compare_graphs(a, graph([])).distance == 1.0
    assert compare_graphs(graph([]), graph([])).distance == 0.0
    c = compare_graphs(a, graph([]))
    assert c.deaths == [0, 1] and c.births == [] and c.jaccard.shape == (2, 0)


def test_errors():
    with pytest.raises(ValueError, match="same probe samples"):
        compare_graphs(graph([[0]]), graph([[0]], n=41))
    with pytest.raises(ValueError, match="min_jaccard"):
        compare_graphs(graph([[0]]), graph([[0]]), min_jaccard=0)


def test_large_graphs_are_handled_sparsely():
    rng = np.random.default_rng(0)
    n = 20_000
    members = [np.sort(rng.choice(n, size=50, replace=False)) for _ in range(2000)]
    g = graph(members, n)
    rows, _, _ = jaccard_pairs(g.members, g.members)
    assert len(rows) < 2000 * 2000 / 4  # only pairs that share a sample are formed
    c = compare_graphs(g, g)
    assert len(c.matches) == 2000 and c.distance == 0.0
    J = c.jaccard  # the scipy view of the same pairs
    assert J.shape == (2000, 2000) and J.nnz == len(rows) and np.allclose(J.diagonal(), 1.0)


def test_mapper_graphs_of_two_epochs_and_membership_ari():
    rng = np.random.default_rng(1)
    X = np.concatenate([rng.normal(0, 0.2, (150, 5)), rng.normal(3, 0.2, (150, 5))]).astype(np.float32)
    lens = X[:, 0]
    a = Mapper(lens=lens, n_intervals=6, eps=0.8).fit(X).graph_
    b = (
        Mapper(lens=lens, n_intervals=6, eps=0.8)
        .fit(X + rng.normal(0, 0.01, X.shape).astype(np.float32))
        .graph_
    )
    assert compare_graphs(a, b).distance < 0.1
    assert membership_ari(a, a) == 1.0
    with pytest.raises(ValueError, match="same samples, lens and cover"):
        membership_ari(a, Mapper(lens=lens, n_intervals=5, eps=0.8).fit(X).graph_)
