"""The one reader of event files on disk (``topoact_lightning.logformat.events``), and its three users.

Logs are written with TensorBoard's own writer (no torch), the way the callback writes them.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest
from tensorboard.compat.proto import event_pb2, summary_pb2
from tensorboard.summary.writer.event_file_writer import EventFileWriter

from topoact_lightning import LogReader, Mapper
from topoact_lightning.logformat import events, summary
from topoact_lightning.monitor.state import logged_graphs


def write(run_dir: Path, *steps: tuple[int, summary_pb2.Summary]) -> str:
    """A new event file in ``run_dir`` holding ``(step, summary)`` pairs in order; its path."""
    before = set(events.event_files(run_dir))
    w = EventFileWriter(str(run_dir))
    for step, s in steps:
        w.add_event(event_pb2.Event(step=step, summary=s))
    w.close()
    (path,) = set(events.event_files(run_dir)) - before
    return path


def graph(seed: int):
    x = np.random.default_rng(seed).normal(size=(60, 4)).astype(np.float32)
    return Mapper(n_intervals=3).fit_graph(x)


def scalar(tag: str, value: float) -> summary_pb2.Summary:
    return summary_pb2.Summary(value=[summary_pb2.Summary.Value(tag=tag, simple_value=value)])


def test_values_come_in_the_order_written_and_another_plugins_are_skipped(tmp_path):
    g0, g1 = graph(0), graph(1)
    write(
        tmp_path,
        (0, summary.graph_summary("fc", g0.to_bytes(), {}, 1)),
        (0, scalar("loss", 1.0)),
        (0, summary.thumbnails_summary(np.zeros((60, 2, 2, 1), np.uint8))),
        (1, summary.graph_summary("fc", g1.to_bytes(), {}, 1)),
        (1, summary.graph_summary("fc", g0.to_bytes(), {}, 1)),  # step 1 written again: comes later
    )
    values = list(events.read_values(events.event_files(tmp_path)))
    assert [(v.step, v.info.kind, v.layer) for v in values] == [
        (0, "graph", "fc"), (0, "thumbnails", None), (1, "graph", "fc"), (1, "graph", "fc"),
    ]  # fmt: skip
    assert values[-1].blobs[0] == g0.to_bytes() and values[0].info.position == 1
    only = list(events.read_values(events.event_files(tmp_path), tags={summary.THUMBNAILS_TAG}))
    assert [v.info.kind for v in only] == ["thumbnails"]
    # Every user keeps the last write of a step, as TensorBoard shows it.
    assert LogReader(tmp_path).graph("fc", 1).to_bytes() == g0.to_bytes()
    assert logged_graphs(tmp_path, ["fc"], up_to=5).last["fc"] == (1, g0.to_bytes())


def test_a_tags_metadata_is_read_where_it_first_appears(tmp_path):
    """TensorBoard's writers may give a tag's metadata only on its first value; later values still count."""
    first = summary.graph_summary("fc", graph(0).to_bytes())
    later = summary.graph_summary("fc", graph(1).to_bytes())
    later.value[0].ClearField("metadata")
    write(tmp_path, (0, first), (1, later))
    assert [v.step for v in events.read_values(events.event_files(tmp_path))] == [0, 1]
    assert LogReader(tmp_path).steps("fc") == [0, 1]


def test_a_file_cut_short_gives_what_it_holds(tmp_path):
    path = write(tmp_path, *[(s, summary.graph_summary("fc", graph(s).to_bytes())) for s in range(3)])
    size = os.path.getsize(path)
    with open(path, "r+b") as f:
        f.truncate(size - 40)  # the last record loses its end, as when a disk fills up
    assert [v.step for v in events.read_values([path])] == [0, 1]


def test_metadata_of_a_newer_version_says_to_upgrade(tmp_path):
    future = json.dumps({"version": summary.SUMMARY_VERSION + 1, "kind": "graph", "layer": "fc"}).encode()
    write(tmp_path, (0, summary.blob_summary(summary.graph_tag("fc"), [b"?"], future)))
    with pytest.raises(summary.SummaryFormatError, match="upgrade"):
        list(events.read_values(events.event_files(tmp_path)))
    with pytest.raises(summary.SummaryFormatError, match="upgrade"):
        LogReader(tmp_path)
    assert logged_graphs(tmp_path, ["fc"], up_to=0).steps == {}  # the resume skips what it cannot read


def test_event_files_of_a_run_and_below_it(tmp_path):
    write(tmp_path / "a", (0, scalar("x", 1.0)))
    write(tmp_path / "a" / "b", (0, scalar("x", 1.0)))
    assert [Path(p).parent.name for p in events.event_files(tmp_path / "a")] == ["a"]
    assert sorted(Path(p).parent.name for p in events.event_files(tmp_path / "a", recursive=True)) == [
        "a",
        "b",
    ]
    assert events.event_files(tmp_path) == []
