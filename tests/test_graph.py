"""MapperGraph and metrics: nerve, statistics and metrics against networkx and brute force; serialization."""

from __future__ import annotations

import itertools
import json

import networkx as nx
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from topoact_lightning import GraphFormatError, Mapper, MapperGraph
from topoact_lightning.engine.graph import nerve_edges
from topoact_lightning.engine.metrics import GRAPH_METRICS, n_components, purity, weighted_purity

N = 30

node_lists = st.lists(st.sets(st.integers(0, N - 1), min_size=1, max_size=10), min_size=0, max_size=12)


def make(members, labels=True, extras=True):
    rng = np.random.default_rng(len(members))
    return MapperGraph(
        n_samples=N,
        members=[np.array(sorted(m)) for m in members],
        node_cover=np.arange(len(members)) % 3,
        cover_bounds=np.array([[[0.0, 0.5]], [[0.3, 0.8]], [[0.6, 1.0]]]),
        lens=rng.random(N).astype(np.float32),
        labels=rng.integers(-1, 3, N) if labels else None,
        class_names=["a", "b", "c"] if labels else None,
        extras={"loss": rng.random(N)} if extras else None,
        params={"eps": 0.5, "lens": "l2norm"},
    )


@given(members=node_lists)
@settings(max_examples=80, deadline=None)
def test_edges_exactly_where_nodes_share_members(members):
    g = make(members)
    expected = {
        (i, j): len(members[i] & members[j])
        for i, j in itertools.combinations(range(len(members)), 2)
        if members[i] & members[j]
    }
    assert {
        tuple(e): n for e, n in zip(g.edges.tolist(), g.edge_intersection.tolist(), strict=True)
    } == expected
    for (i, j), jac in zip(g.edges.tolist(), g.edge_jaccard, strict=True):
        assert jac == pytest.approx(len(members[i] & members[j]) / len(members[i] | members[j]))


@given(members=node_lists)
@settings(max_examples=60, deadline=None)
def test_metrics_agree_with_networkx(members):
    g = make(members)
    m = g.metrics()
    assert set(m) == set(GRAPH_METRICS)
    G = g.to_networkx()
    assert m["nodes"] == G.number_of_nodes() and m["edges"] == G.number_of_edges()
    components = nx.number_connected_components(G) if G.number_of_nodes() else 0
    assert m["components"] == components
    assert m["loops"] == len(nx.cycle_basis(G))
    covered = set().union(*members) if members else set()
    assert m["coverage"] == pytest.approx(len(covered) / N)
    assert g.unassigned.tolist() == sorted(set(range(N)) - covered)
    if members:
        assert m["largest_node_share"] == pytest.approx(max(map(len, members)) / N)


@given(members=node_lists, labels=st.booleans(), extras=st.booleans())
@settings(max_examples=60, deadline=None)
def test_serialization_round_trips(members, labels, extras):
    g = make(members, labels, extras)
    back = MapperGraph.from_bytes(g.to_bytes())
    assert back == g
    assert [m.tolist() for m in g.members] == [sorted(m) for m in members]


def test_statistics_by_hand():
    g = MapperGraph(
        n_samples=4,
        members=[np.array([0, 1]), np.array([1, 2, 3])],
        node_cover=np.array([0, 1]),
        cover_bounds=np.array([[[0.0, 0.6]], [[0.4, 1.0]]]),
        lens=np.array([0.0, 0.5, 0.8, 1.0], dtype=np.float32),
        labels=np.array([0, 0, 1, -1]),
        extras={"correct": np.array([1.0, 0.0, np.nan, 1.0])},
    )
    assert g.class_histograms().tolist() == [[2, 0], [1, 1]]
    np.testing.assert_allclose(g.node_purity(), [1.0, 0.0])
    np.testing.assert_allclose(g.node_stats()["mean_correct"], [0.5, 0.5])
    np.testing.assert_allclose(g.node_stats()["mean_lens"], [0.25, (0.5 + 0.8 + 1.0) / 3], rtol=1e-6)
    assert g.node_ids == ["cube0_cluster0", "cube1_cluster0"]
    assert g.sample_nodes() == [[0], [0, 1], [1], [1]]
    assert weighted_purity(g.class_histograms()) == pytest.approx((2 * 1.0 + 2 * 0.0) / 4)


def test_purity_and_components_helpers():
    np.testing.assert_allclose(
        purity(np.array([[5, 0, 0], [1, 1, 1], [0, 0, 0]])), [1.0, 0.0, np.nan], atol=1e-12
    )
    assert n_components(4, np.array([[0, 1], [2, 3]])) == 2
    assert n_components(0, np.zeros((0, 2))) == 0


def test_from_bytes_rejects_garbage_and_newer_versions():
    with pytest.raises(GraphFormatError, match="not a serialized Mapper graph"):
        MapperGraph.from_bytes(b"not a graph")
    import io

    buf = io.BytesIO()
    header = {"format": "topoact-mapper-graph", "version": 99}
    np.savez_compressed(buf, header=np.frombuffer(json.dumps(header).encode(), dtype=np.uint8))
    with pytest.raises(GraphFormatError, match="newer than this package reads"):
        MapperGraph.from_bytes(buf.getvalue())


def test_invalid_graphs_are_refused():
    with pytest.raises(ValueError, match="outside range"):
        MapperGraph(
            n_samples=3,
            members=[np.array([5])],
            node_cover=[0],
            cover_bounds=np.zeros((1, 1, 2)),
            lens=np.zeros(3),
        )
    with pytest.raises(ValueError, match="lens has 2 values for 3 samples"):
        MapperGraph(
            n_samples=3, members=[], node_cover=[], cover_bounds=np.zeros((1, 1, 2)), lens=np.zeros(2)
        )


@given(seed=st.integers(0, 10_000), n_intervals=st.integers(1, 8), overlap=st.floats(0, 0.6))
@settings(max_examples=15, deadline=None)
def test_mapper_nodes_lie_in_their_cover_elements(seed, n_intervals, overlap):
    rng = np.random.default_rng(seed)
    X = np.concatenate([rng.normal(0, 1, (60, 3)), rng.normal(4, 1, (60, 3))]).astype(np.float32)
    g = Mapper(n_intervals=n_intervals, overlap=overlap, min_samples=3).fit(X).graph_
    lens = g.lens.astype(np.float64).reshape(g.n_samples, -1)
    for node, m in enumerate(g.members):
        box = g.cover_bounds[g.node_cover[node]]
        assert np.all((lens[m] >= box[:, 0]) & (lens[m] <= box[:, 1]))
    edges, inter = nerve_edges(g.members)
    np.testing.assert_array_equal(edges, g.edges)
    assert MapperGraph.from_bytes(g.to_bytes()) == g
