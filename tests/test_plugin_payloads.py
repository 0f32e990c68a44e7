"""The browser's JSON, built by the plugin from the engine's public API (``topoact_tensorboard.payloads``).

The payloads must say exactly what the engine's graph and comparison say, in the JSON shape the front end reads;
each test derives the expected values from the engine's public API on its own.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from topoact_tensorboard.payloads import comparison_payload, graph_payload, json_column, json_number, to_json

from topoact_lightning.engine.compare import compare_graphs
from topoact_lightning.engine.mapper import Mapper


def strict_loads(text: str):
    return json.loads(text, parse_constant=lambda c: pytest.fail(f"non-JSON constant {c}"))


def mapper_graphs() -> list:
    """Real graphs: a noisy circle over three epochs of drift, labelled with class names and extras; one unlabelled
    with a 2-D lens; one with no node at all."""
    rng = np.random.default_rng(7)
    angle = rng.uniform(0, 2 * np.pi, 240)  # a noisy circle: a loop of nodes with overlapping neighbours
    X = np.stack([np.cos(angle), np.sin(angle), *rng.normal(0, 0.05, (4, 240))], axis=1).astype(np.float32)
    labels = (angle > np.pi).astype(np.int64)
    loss = rng.random(240)
    loss[::17] = np.nan
    extras = {"loss": loss, "correct": (rng.random(240) > 0.3).astype(np.float32), "prediction": labels}
    out = []
    for step in range(3):
        Xs = X + step * rng.normal(0, 0.2, X.shape).astype(np.float32)
        out.append(
            Mapper(n_intervals=10, overlap=0.3)
            .fit(Xs, labels=labels, extras=extras, class_names=["a <b>", 'c"d'])
            .graph_
        )
    out.append(Mapper(lens="pca2", n_intervals=3).fit(X).graph_)
    out.append(Mapper(n_intervals=4, min_samples=500).fit(X, labels=labels).graph_)  # every element too small
    return out


GRAPHS = mapper_graphs()


def test_the_real_graphs_are_varied():
    assert GRAPHS[0].n_nodes > 5 and GRAPHS[0].n_edges > 3 and GRAPHS[3].lens.ndim == 2
    assert GRAPHS[4].n_nodes == 0


def _nulls(values) -> list:
    return [None if isinstance(v, float) and not np.isfinite(v) else v for v in np.asarray(values).tolist()]


@pytest.mark.parametrize("i", range(len(GRAPHS)))
def test_graph_payload_mirrors_the_graph(i):
    g = GRAPHS[i]
    ours = graph_payload(g)
    body = strict_loads(to_json(ours))
    assert body == ours  # already strict: nothing NaN, nothing numpy
    assert body["n_samples"] == g.n_samples and body["params"] == g.params
    assert [n["members"] for n in body["nodes"]] == [m.tolist() for m in g.members]
    assert [n["name"] for n in body["nodes"]] == g.node_ids
    assert [n["cover"] for n in body["nodes"]] == g.node_cover.tolist()
    for name, column in g.node_stats().items():
        assert [n[name] for n in body["nodes"]] == _nulls(column), name
    if g.n_classes:
        assert [n["classes"] for n in body["nodes"]] == g.class_histograms().tolist()
    assert [(e["source"], e["target"]) for e in body["edges"]] == [tuple(e) for e in g.edges.tolist()]
    assert [e["intersection"] for e in body["edges"]] == g.edge_intersection.tolist()
    assert [e["jaccard"] for e in body["edges"]] == pytest.approx(g.edge_jaccard.tolist())
    names = g.class_names if g.class_names is not None else [str(c) for c in g.classes.tolist()]
    assert body["class_names"] == names and body["unassigned"] == g.unassigned.tolist()
    assert body["metrics"] == {k: (v if np.isfinite(v) else None) for k, v in g.metrics().items()}
    if i < 3:  # the labelled graphs with extras: the node keys the front end reads
        assert all(
            {"mean_correct", "mean_loss", "classes", "members", "purity"} <= set(n) for n in body["nodes"]
        )
        assert "mean_prediction" not in body["nodes"][0]  # a mean of class indices means nothing


def test_sparse_class_ids_name_their_columns():
    X = np.concatenate([np.zeros((20, 2)), np.ones((20, 2))]).astype(np.float32)
    g = Mapper(n_intervals=1, eps=0.5, min_samples=2).fit(X, labels=np.repeat([3, 10**9], 20)).graph_
    body = graph_payload(g)
    assert body["class_names"] == ["3", str(10**9)]
    assert sorted(n["classes"] for n in body["nodes"]) == [[0, 20], [20, 0]]


@pytest.mark.parametrize("i,j", [(0, 1), (1, 2), (0, 0), (0, 4), (4, 4)])
@pytest.mark.parametrize("min_jaccard", [0.1, 0.5, 1.0])
def test_comparison_payload_mirrors_the_comparison(i, j, min_jaccard):
    c = compare_graphs(GRAPHS[i], GRAPHS[j], min_jaccard=min_jaccard)
    body = strict_loads(to_json(comparison_payload(c)))
    assert body["matches"] == [[i_, j_, pytest.approx(w)] for i_, j_, w in c.matches]
    assert (body["splits"], body["merges"], body["births"], body["deaths"]) == (
        c.splits,
        c.merges,
        list(c.births),
        list(c.deaths),
    )
    assert body["distance"] == pytest.approx(c.distance) and body["min_jaccard"] == min_jaccard
    for side, best in (("best_partner_a", c.best_a), ("best_partner_b", c.best_b)):
        assert [(p["node"], p["partner"]) for p in body[side]] == [
            (k, int(q)) for k, q in enumerate(best[:, 0])
        ]
        assert [p["jaccard"] for p in body[side]] == pytest.approx(best[:, 1].tolist())


@settings(max_examples=60, deadline=None)
@given(
    st.recursive(
        st.none()
        | st.booleans()
        | st.integers()
        | st.floats()
        | st.text(max_size=5)
        | st.floats(width=32).map(np.float32)
        | st.integers(-(2**31), 2**31 - 1).map(np.int64),
        lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=3), inner, max_size=4),
        max_leaves=20,
    )
)
def test_to_json_is_strict_and_keeps_every_finite_value(obj):
    text = to_json(obj)
    back = strict_loads(text)

    def same(a, b):
        if isinstance(a, dict):
            return isinstance(b, dict) and a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
        if isinstance(a, list):
            return isinstance(b, list) and len(a) == len(b) and all(map(same, a, b))
        a = json_number(a)
        return b is None if a is None else a == b

    assert same(obj, back)


def test_json_column_turns_nan_and_infinities_into_null():
    assert json_column(np.array([1.0, np.nan, np.inf, -np.inf], dtype=np.float32)) == [1.0, None, None, None]
    assert json_column(np.array([3, 4])) == [3, 4]
    assert (
        json_number(np.float64("nan")) is None and json_number(np.int32(5)) == 5 and json_number("x") == "x"
    )
