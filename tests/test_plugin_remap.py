"""Re-mapping a logged epoch on the server: the graph, compare, metrics and track routes with Mapper parameters
build the graphs again from the stored activations (``topoact_activations/<layer>``), the logged parameters
overridden by the request's.

Over the shared real training run (``trained_logdir``, stored activations on by default) through the plugin in
process, plus one slow test against real ``tensorboard`` processes on both data back ends.
"""

from __future__ import annotations

import gzip
import json
import os
import shutil
import urllib.parse

import pytest
from topoact_tensorboard.arguments import MAX_REQUEST_INTERVALS
from torch.utils.tensorboard import SummaryWriter

from tests._tensorboard import fetch, tensorboard_process
from tests.test_plugin_routes import BASE, get_error, get_json, make_app, synthetic_graph
from topoact_lightning import LogReader, Mapper
from topoact_lightning.engine.params import MAX_COVER_ELEMENTS
from topoact_lightning.engine.remap import logged_mapper_params
from topoact_lightning.logformat import summary

pytestmark = pytest.mark.slow  # the shared fixture trains a real model

LAYER = "fc1"
#: A re-mapping request: different from what the monitor logged (its default is 20 intervals, auto eps).
PARAMS = {"n_intervals": "9", "overlap": "0.4", "min_samples": "4"}


def with_bare_run(trained_logdir, logdir, steps: int = 1):
    """``logdir`` holding the trained run (``run``), plus a run whose graphs of ``fc1`` (small synthetic ones, steps
    ``0 .. steps - 1``) were logged without stored activations (``bare``)."""
    shutil.copytree(trained_logdir / "run", logdir / "run")
    writer = SummaryWriter(os.path.join(logdir, "bare"))
    for step in range(steps):
        summary.write_summary(writer, summary.graph_summary(LAYER, synthetic_graph(step).to_bytes()), step)
    writer.close()
    return logdir


@pytest.fixture(scope="module")
def logdir(trained_logdir, tmp_path_factory):
    """The trained run, plus a run whose graphs were logged without stored activations (``bare``)."""
    return with_bare_run(trained_logdir, tmp_path_factory.mktemp("remap"))


@pytest.fixture(scope="module")
def app(logdir):
    return make_app(logdir)


@pytest.fixture(scope="module")
def client(app):
    return app[0]


@pytest.fixture(scope="module")
def log(logdir):
    return LogReader(logdir / "run")


def expected_graph(log: LogReader, layer: str, step: int, **overrides):
    logged = log.graph(layer, step)
    return Mapper(**logged_mapper_params(logged.params, **overrides)).fit_graph(
        log.activations(layer, step),
        labels=logged.labels,
        extras=logged.extras,
        class_names=logged.class_names,
    )


def test_the_trained_logs_hold_activations_and_runs_lists_them(client, log):
    assert log.activation_steps(LAYER) == log.steps(LAYER)
    runs = {r["run"]: r for r in get_json(client, "runs")}
    assert runs["run"]["activations"] == runs["run"]["layers"] == log.layers
    assert runs["bare"]["activations"] == []


@pytest.mark.parametrize("layer", ["fc1", "features.3"])
def test_a_remapped_graph_is_the_mapper_on_the_stored_activations(client, log, layer):
    step = log.steps(layer)[-1]
    got = get_json(client, "graph", run="run", layer=layer, epoch=step, **PARAMS)
    want = expected_graph(log, layer, step, n_intervals=9, overlap=0.4, min_samples=4)
    assert got["remapped"] is True
    assert got["params"]["n_intervals"] == 9 and got["params"]["overlap"] == 0.4
    assert got["params"]["min_samples"] == 4
    assert [n["members"] for n in got["nodes"]] == [m.tolist() for m in want.members]
    assert [[e["source"], e["target"]] for e in got["edges"]] == want.edges.tolist()
    assert got["class_names"] == log.class_names
    # Not the logged graph: without parameters the route still answers what was logged.
    logged = get_json(client, "graph", run="run", layer=layer, epoch=step)
    assert "remapped" not in logged
    assert logged["params"]["n_intervals"] != 9
    assert len(logged["nodes"]) == log.graph(layer, step).n_nodes


def test_eps_lens_metric_and_cover_are_applied(client, log):
    step = log.steps(LAYER)[0]
    query = {"eps": "2.5", "lens": "pca", "metric": "cosine", "cover": "balanced", "n_intervals": "6"}
    got = get_json(client, "graph", run="run", layer=LAYER, epoch=step, **query)
    want = expected_graph(
        log, LAYER, step, eps=2.5, lens="pca", metric="cosine", cover="balanced", n_intervals=6
    )
    assert [n["members"] for n in got["nodes"]] == [m.tolist() for m in want.members]
    assert (got["params"]["eps"], got["params"]["metric"], got["params"]["cover"]) == (
        2.5,
        "cosine",
        "balanced",
    )
    auto = get_json(client, "graph", run="run", layer=LAYER, epoch=step, eps="auto", n_intervals="6")
    assert auto["params"]["eps_rule"] == "knee"


def test_a_fixed_eps_is_the_latest_logged_graphs_for_every_epoch(client, log):
    # TopoAct's "Epsilon-Fixed": the eps the layer's latest logged graph used, for every epoch of that layer.
    steps = log.steps(LAYER)
    eps = log.graph(LAYER, steps[-1]).params["eps"]
    assert len({log.graph(LAYER, s).params["eps"] for s in steps}) > 1  # else "fixed" would prove nothing
    for step in (steps[0], steps[-1]):
        got = get_json(client, "graph", run="run", layer=LAYER, epoch=step, eps="fixed", overlap="0.3")
        want = expected_graph(log, LAYER, step, eps=eps, overlap=0.3)
        assert [n["members"] for n in got["nodes"]] == [m.tolist() for m in want.members]
        assert [[e["source"], e["target"]] for e in got["edges"]] == want.edges.tolist()
        assert (got["params"]["eps"], got["params"]["eps_rule"]) == (eps, "fixed")
        assert got["params"]["eps_fixed_from"] == steps[-1]
    # Per layer: another layer's fixed eps is its own latest one.
    other = "features.3"
    got = get_json(client, "graph", run="run", layer=other, epoch=steps[0], eps="fixed")
    assert got["params"]["eps"] == log.graph(other, log.steps(other)[-1]).params["eps"] != eps
    # Every route: metrics' epochs all built with that one eps, compare's both sides too.
    metrics = get_json(client, "metrics", run="run", layer=LAYER, eps="fixed", overlap="0.3")
    want = [expected_graph(log, LAYER, s, eps=eps, overlap=0.3).n_nodes for s in steps]
    assert metrics["metrics"]["nodes"] == want and metrics["errors"] == {}
    cmp = get_json(
        client,
        "compare",
        run="run",
        layer=LAYER,
        epoch=steps[0],
        epoch2=steps[-1],
        eps="fixed",
        overlap="0.3",
    )
    assert (cmp["a"]["nodes"], cmp["b"]["nodes"]) == (want[0], want[-1])
    # A fixed eps is refused where the other parameters are (checked as any eps would be), and 404s without
    # stored activations like any re-mapping.
    assert "n_intervals" in get_error(
        client, "graph", 400, run="run", layer=LAYER, epoch=0, eps="fixed", n_intervals="0"
    )
    assert "no stored activations" in get_error(
        client, "graph", 404, run="bare", layer=LAYER, epoch=0, eps="fixed"
    )


@pytest.mark.parametrize(
    ("name", "value", "reason"),
    [
        ("n_intervals", "0", "n_intervals"),
        ("n_intervals", "x", "n_intervals"),
        ("n_intervals", str(MAX_REQUEST_INTERVALS + 1), "from 1 to"),
        ("overlap", "1", "[0, 1)"),
        ("overlap", "-0.1", "[0, 1)"),
        ("overlap", "nan", "[0, 1)"),
        ("eps", "0", "positive number, 'auto' or 'fixed'"),
        ("eps", "inf", "positive number, 'auto' or 'fixed'"),
        ("eps", "knee", "positive number, 'auto' or 'fixed'"),
        ("min_samples", "0", "min_samples"),
        ("lens", "umap", "l2norm"),
        ("metric", "manhattan", "euclidean"),
        ("cover", "nope", "uniform"),
    ],
)
def test_bad_values_are_400s_with_the_reason(client, name, value, reason):
    message = get_error(client, "graph", 400, run="run", layer=LAYER, epoch=0, **{name: value})
    assert reason in message and name in message


def test_a_cover_too_large_is_refused_before_any_work(client):
    # 1000 x 1000 elements over the two dimensions of pca2: the engine's cap, its message naming the fix.
    message = get_error(
        client, "graph", 400, run="run", layer=LAYER, epoch=0, lens="pca2", n_intervals="1000"
    )
    assert str(MAX_COVER_ELEMENTS) in message and "lower n_intervals" in message


def test_missing_activations_are_404s_that_say_why(client):
    message = get_error(client, "graph", 404, run="bare", layer=LAYER, epoch=0, n_intervals="5")
    assert "no stored activations" in message and "store_activations" in message
    assert "bare" in get_error(client, "graph", 404, run="bare", layer=LAYER, epoch=7, n_intervals="5")
    # Without parameters the logged graph is still served.
    assert get_json(client, "graph", run="bare", layer=LAYER, epoch=0)["nodes"]


def test_compare_uses_the_remapped_graphs(client, log):
    a, b = log.steps(LAYER)[0], log.steps(LAYER)[-1]
    got = get_json(client, "compare", run="run", layer=LAYER, epoch=a, epoch2=b, **PARAMS)
    ga = expected_graph(log, LAYER, a, n_intervals=9, overlap=0.4, min_samples=4)
    gb = expected_graph(log, LAYER, b, n_intervals=9, overlap=0.4, min_samples=4)
    assert (got["a"]["nodes"], got["b"]["nodes"]) == (ga.n_nodes, gb.n_nodes)
    logged = get_json(client, "compare", run="run", layer=LAYER, epoch=a, epoch2=b)
    assert logged["a"]["nodes"] == log.graph(LAYER, a).n_nodes
    assert logged["a"]["nodes"] != got["a"]["nodes"]


def test_metrics_use_the_remapped_graphs(client, log):
    got = get_json(client, "metrics", run="run", layer=LAYER, **PARAMS)
    want = [
        expected_graph(log, LAYER, s, n_intervals=9, overlap=0.4, min_samples=4) for s in log.steps(LAYER)
    ]
    assert got["metrics"]["nodes"] == [g.n_nodes for g in want]
    assert got["errors"] == {}
    logged = get_json(client, "metrics", run="run", layer=LAYER)
    assert logged["metrics"]["nodes"] == [log.graph(LAYER, s).n_nodes for s in log.steps(LAYER)]
    assert logged["metrics"]["nodes"] != got["metrics"]["nodes"]
    # An epoch without activations is that epoch's error, the others still chart.
    bare = get_json(client, "metrics", run="bare", layer=LAYER, n_intervals="5")
    assert bare["epochs"] == [0] and "no stored activations" in bare["errors"]["0"]


def test_track_uses_the_remapped_graphs(client, log):
    samples = [0, 5, 17]
    got = get_json(client, "track", run="run", layer=LAYER, samples="0,5,17", **PARAMS)
    for s in log.steps(LAYER):
        g = expected_graph(log, LAYER, s, n_intervals=9, overlap=0.4, min_samples=4)
        indptr, nodes = g.sample_index()
        assert got["nodes"][str(s)] == {str(i): nodes[indptr[i] : indptr[i + 1]].tolist() for i in samples}


def test_remapped_graphs_are_cached_and_the_cache_is_bounded(app, log):
    client, plugin = app
    cache = plugin.store.remapper.remapped
    cache.clear()
    step = log.steps(LAYER)[0]
    first = get_json(client, "graph", run="run", layer=LAYER, epoch=step, n_intervals="7")
    hits = cache.hits
    assert get_json(client, "graph", run="run", layer=LAYER, epoch=step, n_intervals="7") == first
    assert cache.hits == hits + 1 and len(cache) == 1
    for n in range(2, 2 + cache.maxsize + 5):
        get_json(client, "graph", run="run", layer=LAYER, epoch=step, n_intervals=str(n))
    assert len(cache) == cache.maxsize
    assert len(plugin.store.activation_arrays) <= plugin.store.activation_arrays.maxsize


def test_the_automatic_eps_is_chosen_once_per_matrix_and_stays_the_engines(app, log):
    client, plugin = app
    knees = plugin.store.remapper.knee_eps_values
    knees.clear()
    plugin.store.remapper.remapped.clear()  # every request below builds its graph
    misses, hits = knees.misses, knees.hits
    step = log.steps(LAYER)[1]
    graphs = [
        get_json(client, "graph", run="run", layer=LAYER, epoch=step, eps="auto", **change)
        for change in ({"overlap": "0.35"}, {"n_intervals": "11"}, {"lens": "pca"})
    ]
    assert (knees.misses - misses, knees.hits - hits) == (
        1,
        2,
    )  # intervals, overlap and lens leave the knee where it was
    for got, change in zip(graphs, ({"overlap": 0.35}, {"n_intervals": 11}, {"lens": "pca"}), strict=True):
        want = expected_graph(log, LAYER, step, eps="auto", **change)
        assert got["params"]["eps"] == want.params["eps"] and got["params"]["eps_rule"] == "knee"
        assert [n["members"] for n in got["nodes"]] == [m.tolist() for m in want.members]
    # min_samples moves the knee: another value, chosen afresh.
    got = get_json(client, "graph", run="run", layer=LAYER, epoch=step, eps="auto", min_samples="3")
    assert knees.misses - misses == 2
    assert got["params"]["eps"] == expected_graph(log, LAYER, step, eps="auto", min_samples=3).params["eps"]


@pytest.mark.parametrize("backend", [[], ["--load_fast=false"]], ids=["rust", "python"])
def test_a_real_tensorboard_serves_a_remapped_graph(logdir, log, backend):
    step = log.steps(LAYER)[-1]
    want = expected_graph(log, LAYER, step, n_intervals=9, overlap=0.4, min_samples=4)
    with tensorboard_process(logdir, *backend) as tb:
        query = urllib.parse.urlencode({"run": "run", "layer": LAYER, "epoch": step, **PARAMS})
        url = f"{tb.base}{BASE}graph?{query}"
        status, _, body = tb.wait_for(lambda: (r := fetch(url))[0] == 200 and r, "the re-mapped graph")
        if body[:2] == b"\x1f\x8b":
            body = gzip.decompress(body)
        got = json.loads(body)
        assert got["remapped"] is True
        assert [n["members"] for n in got["nodes"]] == [m.tolist() for m in want.members]
        assert fetch(f"{tb.base}{BASE}graph?{query}&eps=-1")[0] == 400
        runs = json.loads(fetch(f"{tb.base}{BASE}runs")[2])
        assert {r["run"]: r["activations"] for r in runs}["run"] == log.layers
