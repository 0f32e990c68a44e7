"""The summary format: what the callback writes is what TensorBoard's own readers hand back to the plugin."""

from __future__ import annotations

import numpy as np
import pytest
from tensorboard.backend.event_processing import data_provider, plugin_event_multiplexer
from tensorboard.context import RequestContext
from torch.utils.tensorboard import SummaryWriter

from topoact_lightning.engine.graph import MapperGraph
from topoact_lightning.logformat import summary


def _graph(seed: int) -> MapperGraph:
    rng = np.random.default_rng(seed)
    n = 40
    members = [np.arange(0, 25), np.arange(20, 40), rng.choice(n, 5, replace=False)]
    return MapperGraph(
        n_samples=n,
        members=members,
        node_cover=[0, 1, 1],
        cover_bounds=np.array([[[0.0, 0.6]], [[0.4, 1.0]]]),
        lens=rng.random(n, dtype=np.float32),
        labels=rng.integers(0, 3, n),
        class_names=["a", "<b>", "c"],
        extras={"loss": rng.random(n)},
        params={"seed": seed},
    )


def _provider(logdir):
    # size_guidance 0 keeps every step, as the plugin's fix_flags asks of the real server.
    mux = plugin_event_multiplexer.EventMultiplexer(tensor_size_guidance={summary.PLUGIN_NAME: 0})
    mux.AddRunsFromDirectory(str(logdir))
    mux.Reload()
    return data_provider.MultiplexerDataProvider(mux, str(logdir))


def test_graphs_and_thumbnails_read_back_through_tensorboard(tmp_path):
    steps = list(range(13))  # more than TensorBoard's default retention of 10
    writer = SummaryWriter(str(tmp_path / "run"))
    graphs = {s: _graph(s) for s in steps}
    for s in steps:
        notes = {"diagnostics": {"dead_units": s / 100, "distance": float("nan")}, "problem": None}
        summary.write_summary(writer, summary.graph_summary("features.3", graphs[s].to_bytes(), notes, 1), s)
    thumbs = np.random.default_rng(0).integers(0, 256, (40, 8, 8, 1), dtype=np.uint8)
    summary.write_summary(writer, summary.thumbnails_summary(thumbs), 0)
    writer.close()

    provider = _provider(tmp_path)
    ctx = RequestContext()
    listing = provider.list_blob_sequences(ctx, experiment_id="", plugin_name=summary.PLUGIN_NAME)
    assert set(listing["run"]) == {summary.graph_tag("features.3"), summary.THUMBNAILS_TAG}
    info = summary.decode_metadata(listing["run"][summary.graph_tag("features.3")].plugin_content)
    assert (info.kind, info.layer, info.version) == (
        summary.KIND_GRAPH,
        "features.3",
        summary.SUMMARY_VERSION,
    )
    assert info.position == 1

    seqs = provider.read_blob_sequences(
        ctx, experiment_id="", plugin_name=summary.PLUGIN_NAME, downsample=1000
    )["run"]
    datums = seqs[summary.graph_tag("features.3")]
    assert [d.step for d in datums] == steps
    for d in datums:
        ref, notes_ref = d.values
        assert MapperGraph.from_bytes(provider.read_blob(ctx, blob_key=ref.blob_key)) == graphs[d.step]
        notes = summary.decode_annotations(provider.read_blob(ctx, blob_key=notes_ref.blob_key))
        assert notes == {"diagnostics": {"dead_units": d.step / 100, "distance": None}, "problem": None}

    (tdatum,) = seqs[summary.THUMBNAILS_TAG]
    blobs = [provider.read_blob(ctx, blob_key=r.blob_key) for r in tdatum.values]
    np.testing.assert_array_equal(summary.decode_thumbnails(blobs), thumbs)


def test_metadata_from_a_newer_version_is_refused_with_the_fix():
    newer = b'{"version": %d, "kind": "graph", "layer": "x"}' % (summary.SUMMARY_VERSION + 1)
    with pytest.raises(summary.SummaryFormatError, match="upgrade topoact-lightning"):
        summary.decode_metadata(newer)


@pytest.mark.parametrize("content", [b"", b"not json", b"[]", b'{"version": 1, "kind": "other"}'])
def test_bad_metadata_is_a_format_error(content):
    with pytest.raises(summary.SummaryFormatError):
        summary.decode_metadata(content)


def test_thumbnails_must_be_uint8_images():
    with pytest.raises(ValueError, match="uint8"):
        summary.encode_thumbnails(np.zeros((2, 8, 8, 1), dtype=np.float32))
    with pytest.raises(ValueError, match="1 or 3"):
        summary.encode_thumbnails(np.zeros((2, 8, 8, 2), dtype=np.uint8))


def test_corrupt_thumbnails_are_a_format_error():
    blobs = summary.encode_thumbnails(np.zeros((2, 4, 4, 3), dtype=np.uint8))
    with pytest.raises(summary.SummaryFormatError):
        summary.decode_thumbnails([blobs[0], blobs[1][:-3]])
