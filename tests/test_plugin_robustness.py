"""The routes over hostile logs: every crafted or unreadable epoch is a 404 with its reason for itself alone, and
listed under ``errors`` in ``metrics`` and ``track`` while the other epochs still answer; thumbnails records no image
can be made of are 404s; extreme steps and names that need escaping are served. (Issue 13; the fuzz suite in
``test_plugin_fuzz.py`` throws arbitrary requests at the same logs.)
"""

from __future__ import annotations

import json
import logging

import numpy as np
import pytest
from tensorboard import errors
from topoact_tensorboard.entries import MAX_HISTOGRAM_CELLS
from topoact_tensorboard.payloads import to_json
from torch.utils.tensorboard import SummaryWriter

from tests._hostile import EXTREME_STEPS, ODD_LAYERS, crafted_graphs, write_hostile_logs
from tests.test_plugin_routes import BASE, get_error, get_json, make_app, synthetic_graph
from topoact_lightning.engine.graph import MapperGraph
from topoact_lightning.logformat import summary

CRAFTED = list(crafted_graphs())


@pytest.fixture(scope="module")
def hostile(tmp_path_factory):
    return write_hostile_logs(tmp_path_factory.mktemp("hostile"))


@pytest.fixture(scope="module")
def app(hostile):
    return make_app(hostile.logdir)


@pytest.fixture(scope="module")
def client(app):
    return app[0]


def test_the_crafted_payloads_are_all_written(hostile, client):
    assert len(hostile.crafted_steps) == len(CRAFTED) > 10
    listed = get_json(client, "epochs", run="hostile", layer="fc1")["epochs"]
    assert listed == sorted(hostile.steps)
    assert listed[0] == -5 and listed[-1] == 2**40


@pytest.mark.parametrize("kind", CRAFTED)
def test_a_crafted_epoch_is_a_404_with_its_reason(hostile, client, kind, caplog):
    step = next(s for s, k in hostile.steps.items() if k == kind)
    with caplog.at_level(logging.ERROR, logger="tensorboard.plugins.topoact"):
        text = get_error(client, "graph", 404, run="hostile", layer="fc1", epoch=step)
        assert f"epoch {step} in run 'hostile' is unreadable" in text
        cmp = get_error(client, "compare", 404, run="hostile", layer="fc1", epoch=0, epoch2=step)
        assert "unreadable" in cmp
    assert not caplog.records  # nothing went down the plugin's "internal error" path


def test_metrics_list_every_crafted_epoch_under_errors_and_chart_the_others(hostile, client):
    body = get_json(client, "metrics", run="hostile", layer="fc1")
    steps = body["epochs"]
    assert steps == sorted(hostile.steps)
    assert sorted(int(s) for s in body["errors"]) == hostile.crafted_steps
    assert all("unreadable" in body["errors"][str(s)] for s in hostile.crafted_steps)
    nodes = dict(zip(steps, body["metrics"]["nodes"], strict=True))
    assert all(nodes[s] is None for s in hostile.crafted_steps)
    assert all(nodes[s] > 0 for s in hostile.readable_steps)
    # A distance needs two readable neighbours: -5 -> 0 has one, everything next to a crafted epoch has none.
    distance = dict(zip(steps, body["metrics"]["distance"], strict=True))
    assert distance[0] is not None and distance[2**40] is None


def test_track_lists_crafted_epochs_under_errors_and_follows_the_others(hostile, client):
    body = get_json(client, "track", run="hostile", layer="fc1", samples="0,5")
    assert sorted(int(s) for s in body["errors"]) == hostile.crafted_steps
    for step in hostile.crafted_steps:
        assert body["nodes"][str(step)] is None
    for step in hostile.readable_steps:
        assert body["nodes"][str(step)]["5"], step  # sample 5 is in some node of every synthetic graph


def test_the_store_caches_a_failure_like_a_graph(hostile, app):
    client, plugin = app
    get_json(client, "metrics", run="hostile", layer="fc1")
    misses = plugin.store.graphs.misses
    get_json(client, "metrics", run="hostile", layer="fc1")
    assert plugin.store.graphs.misses == misses  # no epoch, broken or not, was decoded again


def test_a_graph_too_large_to_count_is_refused_not_built(monkeypatch):
    # Only a crafted payload gets there (a header naming millions of classes): shown here with a lower cap.
    from topoact_tensorboard import entries

    g = synthetic_graph(0)
    monkeypatch.setattr(entries, "MAX_HISTOGRAM_CELLS", g.n_nodes * g.n_classes - 1)
    with pytest.raises(ValueError, match="too many class counts"):
        entries.checked(g)
    assert MAX_HISTOGRAM_CELLS < 2**31


def test_a_huge_class_id_is_shown_by_the_classes_present(tmp_path):
    g = synthetic_graph(0)
    huge = MapperGraph(
        n_samples=g.n_samples,
        members=g.members,
        node_cover=g.node_cover,
        cover_bounds=g.cover_bounds,
        lens=g.lens,
        labels=np.full(g.n_samples, 2**31 - 1),
    )
    writer = SummaryWriter(str(tmp_path / "run"))
    summary.write_summary(writer, summary.graph_summary("fc1", huge.to_bytes()), 0)
    writer.close()
    client, _ = make_app(tmp_path)
    body = get_json(client, "graph", run="run", layer="fc1", epoch=0)
    assert body["class_names"] == [str(2**31 - 1)]
    assert all(n["classes"] == [len(n["members"])] for n in body["nodes"])


@pytest.mark.parametrize("step", EXTREME_STEPS)
def test_every_listed_step_can_be_fetched(client, step):
    graph = get_json(client, "graph", run="hostile", layer="fc1", epoch=step)
    assert graph["epoch"] == step and graph["nodes"]
    cmp = get_json(client, "compare", run="hostile", layer="fc1", epoch=step, epoch2=0)
    assert cmp["a"]["epoch"] == step


def test_unreadable_annotations_leave_the_graph_readable(client):
    graph = get_json(client, "graph", run="hostile", layer="bad annotations", epoch=0)
    assert graph["annotations"] == {} and graph["nodes"]


@pytest.mark.parametrize("run", ["thumbs_0", "thumbs_neg", "thumbs_2ch"])
def test_thumbnails_no_image_can_be_made_of_are_404(client, run):
    assert "unreadable" in get_error(client, "thumbnails_info", 404, run=run)
    assert "unreadable" in get_error(client, "thumbnail", 404, run=run, sample=0)


@pytest.mark.parametrize(
    "path", ["index.js%00.png", "index.js%00", "%0a", "a%09b.js", "%7f", "index.js%0d%0a"]
)
def test_control_characters_in_static_paths_are_404_and_not_logged(client, path, caplog):
    with caplog.at_level(logging.DEBUG, logger="tensorboard.plugins.topoact"):
        r = client.get(BASE + "static/" + path)
    assert r.status_code == 404 and r.mimetype == "text/plain"
    assert not [rec for rec in caplog.records if rec.name.startswith("tensorboard.plugins.topoact")]


@pytest.mark.parametrize("layer", ODD_LAYERS)
def test_layers_whose_names_need_escaping(client, layer):
    runs = {r["run"]: r for r in get_json(client, "runs")}
    assert runs["names"]["layers"] == ODD_LAYERS  # by position, with their real names
    assert get_json(client, "epochs", run="names", layer=layer)["epochs"] == [0]
    graph = get_json(client, "graph", run="names", layer=layer, epoch=0)
    assert graph["layer"] == layer and graph["nodes"]
    assert get_json(client, "metrics", run="names", layer=layer)["errors"] == {}


def test_graph_tags_escape_what_json_escapes_and_old_tags_still_read(tmp_path):
    for layer in ODD_LAYERS:
        tag = summary.graph_tag(layer)
        assert not set(tag) & ({'"', "\\"} | {chr(c) for c in range(32)})
        assert summary.layer_of_tag(tag) == layer
    # A log written before the encoding: the raw name in the tag, the same name in the metadata.
    from torch.utils.tensorboard import SummaryWriter

    from tests.test_plugin_routes import synthetic_graph

    writer = SummaryWriter(str(tmp_path / "old"))
    meta = summary.encode_metadata(summary.KIND_GRAPH, 'q"uote')
    raw_tag = summary.GRAPH_TAG_PREFIX + 'q"uote'
    summary.write_summary(writer, summary.blob_summary(raw_tag, [synthetic_graph(0).to_bytes()], meta), 0)
    writer.close()
    c, _ = make_app(tmp_path)
    assert get_json(c, "runs")[0]["layers"] == ['q"uote']
    assert get_json(c, "graph", run="old", layer='q"uote', epoch=0)["nodes"]


def test_impl_methods_answer_without_http(app):
    """Each route's ``*_impl`` takes plain arguments and returns what the route serves (scalars_plugin style)."""
    from tensorboard.context import RequestContext

    client, plugin = app
    ctx = RequestContext()
    graph = plugin.graph_impl(ctx, "", "hostile", "fc1", -5)
    assert json.loads(to_json(graph)) == get_json(client, "graph", run="hostile", layer="fc1", epoch=-5)
    metrics = plugin.metrics_impl(ctx, "", "hostile", "fc1")
    assert metrics == get_json(client, "metrics", run="hostile", layer="fc1")
    assert plugin.epochs_impl(ctx, "", "names", "tab\there")["epochs"] == [0]
    track = plugin.track_impl(ctx, "", "hostile", "fc1", [0, 5])
    assert track == get_json(client, "track", run="hostile", layer="fc1", samples="0,5")
    cmp = plugin.compare_impl(ctx, "", "hostile", "fc1", 0, "hostile", "fc1", 2**40)
    assert json.loads(to_json(cmp)) == get_json(
        client, "compare", run="hostile", layer="fc1", epoch=0, epoch2=2**40
    )
    with pytest.raises(errors.NotFoundError, match="unreadable"):
        plugin.thumbnail_impl(ctx, "", "thumbs_0", 0)
    assert [r["run"] for r in plugin.runs_impl(ctx, "")] == [r["run"] for r in get_json(client, "runs")]
    body, content_type = plugin.static_impl("index.js")
    assert content_type == "text/javascript" and b"render" in body
    with pytest.raises(errors.NotFoundError, match="unreadable"):
        plugin.graph_impl(ctx, "", "hostile", "fc1", 1)


def test_caches_stay_bounded(hostile):
    """Every epoch (readable or not) of every layer, fetched through a store keeping 4 graphs: never more than 4."""
    client, plugin = make_app(hostile.logdir)
    plugin.store.graphs.maxsize = 4
    for step in hostile.steps:
        client.get(BASE + "graph", query_string={"run": "hostile", "layer": "fc1", "epoch": step})
        assert len(plugin.store.graphs) <= 4
    get_json(client, "metrics", run="hostile", layer="fc1")
    assert len(plugin.store.graphs) == 4 and plugin.comparisons.maxsize == 32


def test_event_file_blobs_serve_runs_the_rust_server_cannot(tmp_path):
    """The Rust data server's blob keys are URL-safe base 64 of ``[experiment, run, tag, step, index]``; for a run
    name JSON escapes it cannot decode its own keys, so the store reads such blobs from the run's event files."""
    import base64

    from topoact_tensorboard.eventfiles import EventFileBlobs, blob_key_location, needs_event_files

    from tests._hostile import ODD_RUN
    from tests.test_plugin_routes import synthetic_graph

    write_hostile_logs(tmp_path, odd_run_names=True)
    tag = summary.graph_tag("fc1")
    key = base64.urlsafe_b64encode(json.dumps(["", ODD_RUN, tag, 0, 0]).encode()).decode().rstrip("=")
    assert blob_key_location(key) == ("", ODD_RUN, tag, 0, 0)
    assert blob_key_location("???") is None and blob_key_location("AAAAAA") is None
    assert (
        needs_event_files(ODD_RUN) and not needs_event_files("hostile") and not needs_event_files("ünï/a b")
    )
    blobs = EventFileBlobs()
    assert blobs.read(str(tmp_path), ODD_RUN, tag, 0, 0) == synthetic_graph(0).to_bytes()
    with pytest.raises(errors.NotFoundError):
        blobs.read(str(tmp_path), ODD_RUN, tag, 7, 0)
    with pytest.raises(errors.NotFoundError, match="not a directory"):
        blobs.read(str(tmp_path), "../outside", tag, 0, 0)


def test_projections_of_crafted_or_missing_activations_are_404s_with_reasons(tmp_path, caplog):
    """Activations payloads the plugin did not write: every one a 404 saying why, never a 500; the epochs after a
    broken one still project (a new alignment chain)."""
    import zlib

    n, d = 30, 4
    good = summary.encode_activations(np.random.default_rng(0).normal(size=(n, d)))
    nan_rows = zlib.compress(np.full((n, d), np.nan, dtype="<f2").tobytes())
    crafted = {
        1: [good[0]],  # a blob missing
        2: [b'{"n": 30, "d": 4, "encoding": "future"}', good[1], good[2]],
        3: [b'{"n": -1, "d": 4, "encoding": "f16-rowscaled"}', good[1], good[2]],
        4: [good[0], good[1], nan_rows],  # decodes, but to NaN
        5: [b'{"n": 1000000000, "d": 1000000000, "encoding": "f16-rowscaled"}', good[1], good[2]],
    }
    writer = SummaryWriter(str(tmp_path / "run"))
    for step in range(7):
        summary.write_summary(writer, summary.graph_summary("fc1", synthetic_graph(0).to_bytes()), step)
        blobs = crafted.get(step, good)
        summary.write_summary(writer, summary.activations_summary("fc1", blobs), step)
    writer.close()
    client, _ = make_app(tmp_path)
    with caplog.at_level(logging.ERROR, logger="tensorboard.plugins.topoact"):
        for step in crafted:
            text = get_error(client, "projection", 404, run="run", layer="fc1", epoch=step)
            assert "unreadable" in text, (step, text)
        assert get_json(client, "projection", run="run", layer="fc1", epoch=0)["aligned_to"] is None
        assert get_json(client, "projection", run="run", layer="fc1", epoch=6)["aligned_to"] is None
    assert not caplog.records
