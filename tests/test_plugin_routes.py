"""The plugin's HTTP routes, through TensorBoard's own WSGI app and Python data provider, without a server.

The logs are written here the way the callback writes them (``topoact_lightning.logformat.summary`` through a
``SummaryWriter``), with more epochs than TensorBoard keeps by default, two runs, thumbnails, a class name that
is HTML, a NaN extra, and a run with a corrupt epoch and a summary from a newer version.
"""

from __future__ import annotations

import gzip
import io
import json
import os
import struct
import zlib
from argparse import Namespace

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from tensorboard.backend import application
from tensorboard.backend.event_processing import data_ingester, data_provider, plugin_event_multiplexer
from tensorboard.plugins import base_plugin
from topoact_tensorboard import loader
from topoact_tensorboard.payloads import graph_payload
from topoact_tensorboard.plugin import TopoActPlugin
from topoact_tensorboard.png import encode_png, upscale
from torch.utils.tensorboard import SummaryWriter
from werkzeug import test as werkzeug_test
from werkzeug import wrappers

from tests._tensorboard import later_writer
from topoact_lightning.engine.graph import MapperGraph
from topoact_lightning.logformat import summary

N_SAMPLES = 30
N_EPOCHS = 12  # more than the 10 steps TensorBoard keeps per blob-sequence tag by default
HTML_CLASS = "<img src=x onerror=alert(1)>"
CLASS_NAMES = ["zero", HTML_CLASS, "two"]
BASE = "/data/plugin/topoact/"


def synthetic_graph(epoch: int, n_samples: int = N_SAMPLES, n_intervals: int = 4) -> MapperGraph:
    """A small Mapper-like graph whose shape changes with ``epoch``: an overlapping interval cover of a 1-D lens,
    each interval split in two clusters on odd epochs (so nodes split and merge between epochs)."""
    lens = np.linspace(0.0, 1.0, n_samples, dtype=np.float32)
    width = 1.0 / n_intervals
    bounds = np.array([[[i * width - 0.1, (i + 1) * width + 0.1]] for i in range(n_intervals)])
    members, cover = [], []
    for c, ((lo, hi),) in enumerate(bounds):
        inside = np.flatnonzero((lens >= lo) & (lens <= hi))
        groups = [inside[inside % 2 == 0], inside[inside % 2 == 1]] if epoch % 2 else [inside]
        for g in groups:
            if len(g):
                members.append(g)
                cover.append(c)
    loss = np.linspace(0.0, 2.0, n_samples)
    loss[0] = np.nan  # a sample without a loss: node means must skip it, and JSON must not carry NaN
    return MapperGraph(
        n_samples=n_samples,
        members=members,
        node_cover=np.array(cover),
        cover_bounds=bounds,
        lens=lens,
        labels=np.arange(n_samples) % 3,
        class_names=CLASS_NAMES,
        extras={"loss": loss, "correct": (np.arange(n_samples) % 4 != 0).astype(np.float32)},
        params={"n_intervals": n_intervals, "epoch": epoch},
    )


def thumbnails(n: int = N_SAMPLES) -> np.ndarray:
    rng = np.random.default_rng(0)
    return rng.integers(0, 256, (n, 8, 8, 1), dtype=np.uint8)


def write_logs(logdir, n_epochs: int = N_EPOCHS) -> dict:
    """Write the test experiment; return the graphs written, keyed by (run, layer, epoch)."""
    written = {}
    for run, layers in (("run_a", ["fc1", "encoder.0"]), ("run_b", ["fc1"])):
        writer = SummaryWriter(os.path.join(logdir, run))
        for epoch in range(n_epochs):
            for layer in layers:
                g = synthetic_graph(epoch + (run == "run_b"))
                written[run, layer, epoch] = g
                summary.write_summary(writer, summary.graph_summary(layer, g.to_bytes()), epoch)
        if run == "run_a":
            summary.write_summary(writer, summary.thumbnails_summary(thumbnails()), 0)
        writer.close()
    # A run with a corrupt epoch, an unreadable thumbnails payload and a layer from a newer summary version.
    writer = SummaryWriter(os.path.join(logdir, "broken"))
    summary.write_summary(writer, summary.graph_summary("fc1", synthetic_graph(0).to_bytes()), 0)
    summary.write_summary(writer, summary.graph_summary("fc1", b"definitely not a graph"), 1)
    summary.write_summary(writer, summary.graph_summary("fc1", synthetic_graph(2).to_bytes()), 2)
    future = json.dumps({"version": summary.SUMMARY_VERSION + 1, "kind": "graph", "layer": "future"}).encode()
    summary.write_summary(writer, summary.blob_summary(summary.graph_tag("future"), [b"?"], future), 0)
    summary.write_summary(
        writer,
        summary.blob_summary(summary.THUMBNAILS_TAG, [b"{}", b"junk"], summary.encode_metadata("thumbnails")),
        0,
    )
    writer.close()
    return written


def multiplexer(logdir, fix_flags: bool = True):
    """An event multiplexer with the retention TensorBoard's Python back end uses (``LocalDataIngester``)."""
    flags = Namespace(samples_per_plugin={})
    if fix_flags:
        loader.TopoActLoader().fix_flags(flags)
    mux = plugin_event_multiplexer.EventMultiplexer(
        size_guidance=data_ingester.DEFAULT_SIZE_GUIDANCE,
        tensor_size_guidance={**data_ingester.DEFAULT_TENSOR_SIZE_GUIDANCE, **flags.samples_per_plugin},
    )
    mux.AddRunsFromDirectory(str(logdir))
    return mux


def make_app(logdir, static_dir=None):
    mux = multiplexer(logdir)
    mux.Reload()
    provider = data_provider.MultiplexerDataProvider(mux, str(logdir))
    context = base_plugin.TBContext(logdir=str(logdir), data_provider=provider)
    kwargs = {"static_dir": static_dir} if static_dir else {}
    plugin = TopoActPlugin(context, **kwargs)
    app = application.TensorBoardWSGI([plugin], data_provider=provider)
    return werkzeug_test.Client(app, wrappers.Response), plugin


@pytest.fixture(scope="module")
def logs(tmp_path_factory):
    logdir = tmp_path_factory.mktemp("logs")
    return logdir, write_logs(str(logdir))


@pytest.fixture(scope="module")
def client(logs):
    return make_app(logs[0])[0]


def get_json(client, route, **params):
    r = client.get(BASE + route, query_string=params)
    assert r.status_code == 200, (r.status_code, r.get_data(as_text=True))
    assert r.mimetype == "application/json"
    text = r.get_data(as_text=True)
    # JSON.parse rejects NaN and Infinity: the strict parser below fails on them too.
    return json.loads(text, parse_constant=lambda c: pytest.fail(f"non-JSON constant {c} in {route}"))


def get_error(client, route, status, **params):
    r = client.get(BASE + route, query_string=params)
    assert r.status_code == status, (r.status_code, r.get_data(as_text=True))
    assert r.mimetype == "text/plain"
    text = r.get_data(as_text=True)
    assert "Traceback" not in text
    return text


# -------------------------------------------------------------------------------------------------- loader
def test_loader_keeps_every_epoch_and_respects_an_explicit_setting():
    flags = Namespace(samples_per_plugin={})
    loader.TopoActLoader().fix_flags(flags)
    assert flags.samples_per_plugin == {"topoact": 0}
    flags = Namespace(samples_per_plugin={"topoact": 5, "images": 3})
    loader.TopoActLoader().fix_flags(flags)
    assert flags.samples_per_plugin == {"topoact": 5, "images": 3}
    assert loader.PLUGIN_NAME == summary.PLUGIN_NAME


def test_loader_returns_the_plugin_with_its_tab(logs):
    provider = data_provider.MultiplexerDataProvider(
        plugin_event_multiplexer.EventMultiplexer(), str(logs[0])
    )
    plugin = loader.TopoActLoader().load(base_plugin.TBContext(logdir=str(logs[0]), data_provider=provider))
    assert isinstance(plugin, TopoActPlugin)
    meta = plugin.frontend_metadata()
    assert (meta.es_module_path, meta.tab_name) == ("/static/index.js", "TopoAct")
    assert plugin.plugin_name == "topoact"


def test_loader_logs_and_returns_none_when_the_plugin_cannot_start(caplog):
    # No data provider: the plugin refuses to start; TensorBoard must get None, not an exception.
    with caplog.at_level("ERROR", logger="tensorboard.plugins.topoact"):
        assert loader.TopoActLoader().load(base_plugin.TBContext(logdir="x", data_provider=None)) is None
    assert "could not be loaded" in caplog.text


def test_is_active_reflects_data(logs, tmp_path):
    assert make_app(logs[0])[1].is_active()
    assert not make_app(tmp_path)[1].is_active()


def test_every_epoch_survives_retention_with_the_loader_flags(logs):
    # Without the loader's samples_per_plugin default, TensorBoard keeps a reservoir sample of 10 steps.
    mux = multiplexer(logs[0], fix_flags=False)
    mux.Reload()
    provider = data_provider.MultiplexerDataProvider(mux, str(logs[0]))
    plugin = TopoActPlugin(base_plugin.TBContext(logdir=str(logs[0]), data_provider=provider))
    c = werkzeug_test.Client(application.TensorBoardWSGI([plugin], data_provider=provider), wrappers.Response)
    assert len(get_json(c, "epochs", run="run_a", layer="fc1")["epochs"]) == 10 < N_EPOCHS


# ---------------------------------------------------------------------------------------------- listings
def test_runs(client):
    runs = get_json(client, "runs")
    assert [r["run"] for r in runs] == ["broken", "run_a", "run_b"]
    by = {r["run"]: r for r in runs}
    assert by["run_a"]["layers"] == ["encoder.0", "fc1"] and by["run_a"]["thumbnails"] is True
    assert by["run_b"]["layers"] == ["fc1"] and by["run_b"]["thumbnails"] is False
    assert by["run_a"]["problems"] == {}
    assert "newer" in by["broken"]["problems"][summary.graph_tag("future")]


def test_epochs_lists_every_epoch(client):
    body = get_json(client, "epochs", run="run_a", layer="encoder.0")
    assert body == {"run": "run_a", "layer": "encoder.0", "epochs": list(range(N_EPOCHS))}


def test_plugins_listing_shows_the_tab(client):
    r = client.get("/data/plugins_listing")
    entry = json.loads(r.get_data(as_text=True))["topoact"]
    assert entry["enabled"] is True
    assert entry["tab_name"] == "TopoAct"
    assert entry["loading_mechanism"] == {"type": "IFRAME", "module_path": BASE + "static/index.js"}


# ------------------------------------------------------------------------------------------------- graph
@pytest.mark.parametrize(
    ("run", "layer", "epoch"), [("run_a", "fc1", 0), ("run_a", "encoder.0", 11), ("run_b", "fc1", 5)]
)
def test_graph_is_the_logged_graph(client, logs, run, layer, epoch):
    body = get_json(client, "graph", run=run, layer=layer, epoch=epoch)
    expected = graph_payload(logs[1][run, layer, epoch])
    assert (body["run"], body["layer"], body["epoch"]) == (run, layer, epoch)
    assert body["nodes"] == json.loads(json.dumps(expected["nodes"]))
    assert body["edges"] == json.loads(json.dumps(expected["edges"]))
    assert body["params"]["epoch"] == epoch + (run == "run_b")


def test_graph_keeps_html_as_data_and_nan_as_null(client):
    r = client.get(BASE + "graph", query_string={"run": "run_a", "layer": "fc1", "epoch": 3})
    text = r.get_data(as_text=True)
    assert "NaN" not in text and "Infinity" not in text
    body = json.loads(text)
    assert body["class_names"][1] == HTML_CLASS
    assert r.headers["X-Content-Type-Options"] == "nosniff"
    # Sample 0 has no loss; a node of it alone would have mean_loss null. Here: every value is a number or null.
    assert all(n["mean_loss"] is None or isinstance(n["mean_loss"], float) for n in body["nodes"])


def test_graph_is_served_gzipped_to_browsers_and_plain_to_others(client):
    q = {"run": "run_a", "layer": "fc1", "epoch": 4}
    zipped = client.get(BASE + "graph", query_string=q, headers={"Accept-Encoding": "gzip"})
    plain = client.get(BASE + "graph", query_string=q)
    assert zipped.headers["Content-Encoding"] == "gzip"
    assert "Content-Encoding" not in plain.headers
    assert json.loads(gzip.decompress(zipped.get_data())) == json.loads(plain.get_data())


def test_graphs_are_cached_and_new_epochs_still_appear(tmp_path):
    write_logs(str(tmp_path), n_epochs=3)
    c, plugin = make_app(tmp_path)
    # The listing answers for `listing_seconds`: a stepped clock, not the wall's, says when that has passed.
    now = [0.0]
    plugin.store.logs.clock = lambda: now[0]
    for _ in range(2):
        get_json(c, "graph", run="run_a", layer="fc1", epoch=1)
    assert (plugin.store.graphs.misses, plugin.store.graphs.hits) == (1, 1)
    # Another epoch arrives while TensorBoard runs: once the listing's window is over, the reload shows it.
    writer = later_writer(tmp_path / "run_a")
    summary.write_summary(writer, summary.graph_summary("fc1", synthetic_graph(3).to_bytes()), 3)
    writer.close()
    mux = plugin.store.logs.data_provider._multiplexer
    mux.Reload()
    listed = get_json(c, "epochs", run="run_a", layer="fc1")["epochs"]
    assert listed == [0, 1, 2]  # still this window's listing
    now[0] += plugin.store.logs.listing_seconds
    assert get_json(c, "epochs", run="run_a", layer="fc1")["epochs"] == [0, 1, 2, 3]
    assert get_json(c, "graph", run="run_a", layer="fc1", epoch=3)["params"]["epoch"] == 3


# ----------------------------------------------------------------------------------------------- compare
def test_version_1_steps_and_health_problems(tmp_path):
    """A step written by an older monitor (the graph blob alone) still reads; a step the monitor warned about
    carries its warning to the metrics route, by epoch, for the tab's badge."""
    writer = SummaryWriter(str(tmp_path / "run"))
    old_meta = json.dumps({"version": 1, "kind": "graph", "layer": "fc1"}).encode()
    summary.write_summary(
        writer, summary.blob_summary(summary.graph_tag("fc1"), [synthetic_graph(0).to_bytes()], old_meta), 0
    )
    sick = {
        "diagnostics": {"dead_units": 0.9, "effective_rank": 0.01, "distance": None},
        "problem": "90% dead",
    }
    summary.write_summary(writer, summary.graph_summary("fc1", synthetic_graph(1).to_bytes(), sick), 1)
    writer.close()
    c, _ = make_app(tmp_path)
    old = get_json(c, "graph", run="run", layer="fc1", epoch=0)
    assert old["annotations"] == {} and old["nodes"]
    body = get_json(c, "metrics", run="run", layer="fc1")
    assert body["problems"] == {"1": "90% dead"}
    assert body["metrics"]["dead_units"] == [None, 0.9]
    assert get_json(c, "graph", run="run", layer="fc1", epoch=1)["annotations"]["problem"] == "90% dead"


def test_compare_same_graph_matches_every_node(client):
    body = get_json(client, "compare", run="run_a", layer="fc1", epoch=2, epoch2=2)
    n = body["a"]["nodes"]
    assert body["a"] == {"run": "run_a", "layer": "fc1", "epoch": 2, "nodes": n}
    assert body["b"] == body["a"]
    assert sorted((a, b) for a, b, _ in body["matches"]) == [(i, i) for i in range(n)]
    assert all(j == 1.0 for _, _, j in body["matches"])
    assert not body["splits"] and not body["merges"] and not body["births"] and not body["deaths"]


def test_compare_finds_splits_between_epochs(client, logs):
    # Epoch 2 has one node per interval; epoch 3 splits each into its even and odd samples.
    body = get_json(client, "compare", run="run_a", layer="fc1", epoch=2, epoch2=3)
    assert body["a"]["nodes"] == logs[1]["run_a", "fc1", 2].n_nodes
    assert body["b"]["nodes"] == logs[1]["run_a", "fc1", 3].n_nodes
    assert len(body["splits"]) == body["a"]["nodes"]
    assert all(len(s["into"]) == 2 for s in body["splits"])


def test_compare_across_runs_and_layers(client):
    body = get_json(
        client, "compare", run="run_a", layer="fc1", epoch=2, run2="run_b", layer2="fc1", epoch2=1
    )
    assert body["b"]["run"] == "run_b" and body["b"]["epoch"] == 1
    # run_b at epoch 1 was built like run_a at epoch 2: identical graphs.
    assert len(body["matches"]) == body["a"]["nodes"] == body["b"]["nodes"]


# ----------------------------------------------------------------------------------------------- metrics
def test_metrics_cover_every_epoch(client, logs):
    body = get_json(client, "metrics", run="run_a", layer="fc1")
    assert body["epochs"] == list(range(N_EPOCHS))
    m = body["metrics"]
    for name in ("nodes", "edges", "components", "loops", "purity", "coverage", "largest_node_share"):
        assert len(m[name]) == N_EPOCHS
    assert m["nodes"] == [float(logs[1]["run_a", "fc1", e].n_nodes) for e in range(N_EPOCHS)]
    assert m["accuracy"][0] == pytest.approx(0.75, abs=0.02)
    assert m["mean_loss"][0] == pytest.approx(
        float(np.nanmean(np.linspace(0.0, 2.0, N_SAMPLES)[1:])), rel=1e-5
    )
    assert body["errors"] == {}
    # Every epoch splits or merges every node of the previous one: the graph changed, by the same amount each time.
    change = m["distance"]
    assert change[0] is None
    assert all(0.0 < d < 1.0 for d in change[1:])
    assert change[1] == pytest.approx(change[2])


def test_metrics_report_unreadable_epochs_as_null(client):
    body = get_json(client, "metrics", run="broken", layer="fc1")
    assert body["epochs"] == [0, 1, 2]
    assert body["metrics"]["nodes"][1] is None and body["metrics"]["nodes"][0] is not None
    assert "epoch 1" in body["errors"]["1"] and "unreadable" in body["errors"]["1"]


# ------------------------------------------------------------------------------------------------- track
def test_track_follows_samples_across_epochs(client, logs):
    body = get_json(client, "track", run="run_a", layer="fc1", samples="0,7,29")
    assert body["samples"] == [0, 7, 29]
    assert body["epochs"] == list(range(N_EPOCHS))
    assert body["labels"] == {"0": 0, "7": 1, "29": 2}
    for epoch in range(N_EPOCHS):
        g = logs[1]["run_a", "fc1", epoch]
        expected = g.sample_nodes()
        for s in (0, 7, 29):
            assert body["nodes"][str(epoch)][str(s)] == expected[s]


# -------------------------------------------------------------------------------------------- thumbnails
def _png_pixels(data: bytes) -> tuple[int, int, np.ndarray]:
    """Decode our own PNG layout (one IDAT, filter 0, 8 bits): enough to check what the encoder wrote.

    Returns ``(width, height, pixels)`` with pixels of shape ``(height, width, channels)``.
    """
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    pos, chunks = 8, {}
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos : pos + 4])
        kind, body = data[pos + 4 : pos + 8], data[pos + 8 : pos + 8 + length]
        (crc,) = struct.unpack(">I", data[pos + 8 + length : pos + 12 + length])
        assert crc == zlib.crc32(kind + body) & 0xFFFFFFFF
        chunks[kind] = body
        pos += 12 + length
    assert list(chunks) == [b"IHDR", b"IDAT", b"IEND"]
    w, h, depth, color = struct.unpack(">IIBB", chunks[b"IHDR"][:10])
    channels = {0: 1, 4: 2, 2: 3, 6: 4}[color]
    assert depth == 8
    rows = np.frombuffer(zlib.decompress(chunks[b"IDAT"]), dtype=np.uint8).reshape(h, 1 + w * channels)
    assert not rows[:, 0].any()
    return w, h, rows[:, 1:].reshape(h, w, channels)


@settings(max_examples=40, deadline=None)
@given(
    shape=st.tuples(st.integers(1, 9), st.integers(1, 9), st.sampled_from([1, 2, 3, 4])),
    seed=st.integers(0, 2**32 - 1),
)
def test_png_round_trips_any_small_image(shape, seed):
    image = np.random.default_rng(seed).integers(0, 256, shape, dtype=np.uint8)
    data = encode_png(image)
    w, h, pixels = _png_pixels(data)
    assert (h, w) == shape[:2]
    assert np.array_equal(pixels, image)
    # An independent decoder agrees (Pillow comes with TensorBoard).
    from PIL import Image

    decoded = np.asarray(Image.open(io.BytesIO(data)))
    assert np.array_equal(decoded.reshape(image.shape), image)


def test_png_refuses_what_it_cannot_encode():
    for bad in (np.zeros((2, 2, 5), np.uint8), np.zeros((2, 2), np.float32), np.zeros((0, 3), np.uint8)):
        with pytest.raises(ValueError, match="image must"):
            encode_png(bad)
    assert np.array_equal(upscale(np.array([[1, 2]], np.uint8), 2), [[1, 1, 2, 2], [1, 1, 2, 2]])


def test_thumbnail_is_the_logged_image_enlarged(client):
    info = get_json(client, "thumbnails_info", run="run_a")
    assert (info["n"], info["height"], info["width"], info["channels"]) == (N_SAMPLES, 8, 8, 1)
    r = client.get(BASE + "thumbnail", query_string={"run": "run_a", "sample": 5})
    assert r.status_code == 200 and r.mimetype == "image/png"
    w, h, pixels = _png_pixels(r.get_data())
    assert (w, h) == (info["png_width"], info["png_height"]) == (64, 64)
    assert np.array_equal(pixels[::8, ::8], thumbnails()[5])


# ------------------------------------------------------------------------------------------------ errors
@pytest.mark.parametrize(
    ("route", "params", "status", "fragment"),
    [
        ("epochs", {"layer": "fc1"}, 400, "missing parameter 'run'"),
        ("epochs", {"run": "run_a"}, 400, "missing parameter 'layer'"),
        ("epochs", {"run": "nope", "layer": "fc1"}, 404, "no TopoAct data for run 'nope'"),
        ("epochs", {"run": "run_a", "layer": "fc9"}, 404, "has no TopoAct graphs of layer 'fc9'"),
        ("epochs", {"run": "broken", "layer": "future"}, 404, "upgrade topoact-lightning"),
        ("graph", {"run": "run_a", "layer": "fc1"}, 400, "missing parameter 'epoch'"),
        ("graph", {"run": "run_a", "layer": "fc1", "epoch": "x"}, 400, "must be an integer step"),
        ("graph", {"run": "run_a", "layer": "fc1", "epoch": "1.5"}, 400, "must be an integer step"),
        ("graph", {"run": "run_a", "layer": "fc1", "epoch": str(2**63)}, 400, "must be an integer step"),
        ("graph", {"run": "run_a", "layer": "fc1", "epoch": "3\n"}, 400, "must be an integer step"),
        (
            "graph",
            {"run": "run_a", "layer": "fc1", "epoch": "-1"},
            404,
            "no graph of layer 'fc1' at epoch -1",
        ),
        ("graph", {"run": "run_a", "layer": "fc1", "epoch": 99}, 404, "no graph of layer 'fc1' at epoch 99"),
        (
            "graph",
            {"run": "broken", "layer": "fc1", "epoch": 1},
            404,
            "epoch 1 in run 'broken' is unreadable",
        ),
        ("compare", {"run": "run_a", "layer": "fc1", "epoch": 1}, 400, "missing parameter 'epoch2'"),
        ("compare", {"run": "run_a", "layer": "fc1", "epoch": 1, "epoch2": 50}, 404, "at epoch 50"),
        (
            "compare",
            {"run": "run_a", "layer": "fc1", "epoch": 1, "epoch2": 2, "min_jaccard": "2"},
            400,
            "(0, 1]",
        ),
        (
            "compare",
            {"run": "run_a", "layer": "fc1", "epoch": 1, "epoch2": 2, "min_jaccard": "nan"},
            400,
            "number",
        ),
        (
            "compare",
            {"run": "run_a", "layer": "fc1", "epoch": 1, "epoch2": 2, "min_jaccard": "0"},
            400,
            "(0, 1]",
        ),
        ("metrics", {"run": "run_a"}, 400, "missing parameter 'layer'"),
        ("metrics", {"run": "run_a", "layer": "zzz"}, 404, "layer 'zzz'"),
        ("track", {"run": "run_a", "layer": "fc1"}, 400, "missing parameter 'samples'"),
        ("track", {"run": "run_a", "layer": "fc1", "samples": "1,a"}, 400, "comma-separated"),
        ("track", {"run": "run_a", "layer": "fc1", "samples": "1,-2"}, 400, "comma-separated"),
        (
            "track",
            {"run": "run_a", "layer": "fc1", "samples": "1,30"},
            404,
            "sample 30 is not in the probe set",
        ),
        ("track", {"run": "run_a", "layer": "fc1", "samples": ",".join(["1"] * 1001)}, 400, "at most 1000"),
        ("thumbnail", {"run": "run_a"}, 400, "missing parameter 'sample'"),
        ("thumbnail", {"run": "run_a", "sample": 30}, 404, "samples 0 to 29, not 30"),
        ("thumbnail", {"run": "run_b", "sample": 0}, 404, "has no thumbnails"),
        ("thumbnails_info", {}, 400, "missing parameter 'run'"),
        ("thumbnails_info", {"run": "broken"}, 404, "thumbnails of run 'broken' are unreadable"),
        ("thumbnails_info", {"run": "nope"}, 404, "no TopoAct data for run 'nope'"),
    ],
)
def test_bad_requests_get_a_clear_4xx(client, route, params, status, fragment):
    assert fragment in get_error(client, route, status, **params)


def test_user_strings_in_errors_are_plain_text(client):
    r = client.get(BASE + "epochs", query_string={"run": HTML_CLASS, "layer": "fc1"})
    assert r.status_code == 404
    assert r.mimetype == "text/plain"
    assert r.headers["X-Content-Type-Options"] == "nosniff"


def test_compare_refuses_graphs_of_different_probe_sets(tmp_path):
    writer = SummaryWriter(str(tmp_path / "r"))
    summary.write_summary(writer, summary.graph_summary("l", synthetic_graph(0, n_samples=30).to_bytes()), 0)
    summary.write_summary(writer, summary.graph_summary("l", synthetic_graph(1, n_samples=40).to_bytes()), 1)
    writer.close()
    c, _ = make_app(tmp_path)
    text = get_error(c, "compare", 400, run="r", layer="l", epoch=0, epoch2=1)
    assert "different probe sets" in text


# ------------------------------------------------------------------------------------------------ static
@pytest.fixture(scope="module")
def static_client(logs, tmp_path_factory):
    static = tmp_path_factory.mktemp("static")
    (static / "index.js").write_text("export function render() {}\n")
    (static / "style.css").write_text("body {}\n")
    (static / "sub").mkdir()
    (static / "sub" / "chunk.js").write_text("export const x = 1;\n")
    (static.parent / "secret.txt").write_text("secret")
    return make_app(logs[0], static_dir=str(static))[0]


@pytest.mark.parametrize(
    ("path", "mime"),
    [("index.js", "text/javascript"), ("style.css", "text/css"), ("sub/chunk.js", "text/javascript")],
)
def test_static_files_with_their_mime_type(static_client, path, mime):
    r = static_client.get(BASE + "static/" + path)
    assert r.status_code == 200
    assert r.mimetype == mime
    assert r.headers["X-Content-Type-Options"] == "nosniff"


@pytest.mark.parametrize(
    "path",
    [
        "../secret.txt",
        "..%2Fsecret.txt",
        "%2e%2e/secret.txt",
        "sub/../../secret.txt",
        "",
        "sub",
        "missing.js",
        ".hidden",
    ],
)
def test_static_traversal_and_missing_files_are_404(static_client, path):
    r = static_client.get(BASE + "static/" + path)
    assert r.status_code == 404
    assert b"secret" not in r.get_data()


def test_static_cannot_reach_the_plugin_source(client):
    r = client.get(BASE + "static/../loader.py")
    assert r.status_code == 404
    assert b"TBLoader" not in r.get_data()


# -------------------------------------------------------------------------------------- a real training run
@pytest.mark.slow
def test_routes_over_a_real_training_run(trained_logdir):
    from conftest import TRAINED_EPOCHS

    c, _ = make_app(trained_logdir)
    runs = get_json(c, "runs")
    # Layers in the order they were watched (DIGITS_LAYERS: features.3, then fc1), not alphabetical.
    assert [(r["run"], r["layers"], r["thumbnails"]) for r in runs] == [("run", ["features.3", "fc1"], True)]
    epochs = list(range(TRAINED_EPOCHS + 1))  # step 0 is the untrained network
    for layer in ("fc1", "features.3"):
        assert get_json(c, "epochs", run="run", layer=layer)["epochs"] == epochs
        graph = get_json(c, "graph", run="run", layer=layer, epoch=TRAINED_EPOCHS)
        assert graph["n_samples"] == 300 and graph["class_names"] == [str(d) for d in range(10)]
        assert graph["nodes"] and all(
            {"mean_correct", "mean_loss", "classes"} <= set(n) for n in graph["nodes"]
        )
        metrics = get_json(c, "metrics", run="run", layer=layer)
        assert metrics["epochs"] == epochs and metrics["errors"] == {}
        assert all(p is None or 0.0 <= p <= 1.0 for p in metrics["metrics"]["purity"])
        assert all(0.0 <= d <= 1.0 for d in metrics["metrics"]["distance"][1:])
        # The probe's accuracy, from the graphs' "correct" extra, rises with training on the digits.
        accuracy = metrics["metrics"]["accuracy"]
        assert accuracy[-1] > accuracy[0]
        # The monitor's diagnostics travel with each graph; a mean of predicted class indices is not a metric.
        assert all(0.0 <= v <= 1.0 for v in metrics["metrics"]["dead_units"])
        assert all(0.0 < v <= 1.0 for v in metrics["metrics"]["effective_rank"])
        assert "mean_prediction" not in metrics["metrics"] and metrics["problems"] == {}
        assert set(graph["annotations"]["diagnostics"]) == {"dead_units", "effective_rank", "distance"}
        assert graph["annotations"]["diagnostics"]["dead_units"] == metrics["metrics"]["dead_units"][-1]
    track = get_json(c, "track", run="run", layer="fc1", samples="0,299")
    last = get_json(c, "graph", run="run", layer="fc1", epoch=TRAINED_EPOCHS)
    for s in (0, 299):
        expected = [n["id"] for n in last["nodes"] if s in n["members"]]
        assert track["nodes"][str(TRAINED_EPOCHS)][str(s)] == expected
    cmp = get_json(c, "compare", run="run", layer="fc1", epoch=0, epoch2=TRAINED_EPOCHS)
    assert 0.0 <= cmp["distance"] <= 1.0 and cmp["a"]["epoch"] == 0
    r = c.get(BASE + "thumbnail", query_string={"run": "run", "sample": 299})
    assert r.status_code == 200 and _png_pixels(r.get_data())[:2] == (64, 64)


def test_a_burst_of_requests_lists_the_runs_once_and_a_new_window_lists_again(logs, monkeypatch):
    """The Rust data server answers a gRPC call that closely follows another ~40 ms late, so a listing answers
    every request within ``listing_seconds``; after it, new data is seen."""
    client, plugin = make_app(logs[0])
    calls = []
    real = plugin.store.logs.data_provider.list_blob_sequences

    def counted(*args, **kwargs):
        calls.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(plugin.store.logs.data_provider, "list_blob_sequences", counted)
    now = [1000.2]
    plugin.store.logs.clock = lambda: now[0]
    get_json(client, "runs")
    get_json(client, "epochs", run="run_a", layer="fc1")
    get_json(client, "graph", run="run_a", layer="fc1", epoch=1)
    assert len(calls) == 1
    now[0] += plugin.store.logs.listing_seconds
    get_json(client, "runs")
    assert len(calls) == 2
    plugin.store.logs.listing_seconds = 0  # every call lists
    get_json(client, "runs")
    get_json(client, "runs")
    assert len(calls) == 4
