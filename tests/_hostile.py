"""Logs a hostile or careless writer could leave, for the plugin's robustness and fuzz tests.

``crafted_graphs()`` gives graph payloads that look like ``MapperGraph.to_bytes`` output but are not what the
engine writes (a header that is a list, ``n_samples: null``, edges naming missing nodes, ...): each must become a
404 for its own epoch, never a 500. ``write_hostile_logs`` writes them beside readable epochs at extreme steps,
layers whose names need escaping, and thumbnails records no image can be made of.

Example::

    layout = write_hostile_logs(tmp_path)
    layout.crafted_steps  # the steps of fc1 in run "hostile" that no route can read
"""

from __future__ import annotations

import io
import json
import os
import zlib
from dataclasses import dataclass, field

import numpy as np
from torch.utils.tensorboard import SummaryWriter

from tests.test_plugin_routes import synthetic_graph
from topoact_lightning.logformat import summary

#: Layer names that JSON must escape (the Rust data server's blob keys choke on them unless the tag encodes them),
#: and others that merely look odd.
ODD_LAYERS = ['say "hi"', "back\\slash", "tab\there", "new\nline", "100%", "ünïcødé ☃", "a/b/c", "<b>x</b>"]
#: Steps TensorBoard lists and the graph route must accept.
EXTREME_STEPS = (-5, 2**40)


def _rewrite(data: bytes, header=None, **arrays) -> bytes:
    """A payload like ``data`` with its header (any JSON value) and some arrays replaced."""
    with np.load(io.BytesIO(data), allow_pickle=False) as z:
        content = {k: z[k] for k in z.files}
    if header is not None:
        content["header"] = np.frombuffer(json.dumps(header).encode(), dtype=np.uint8)
    content.update(arrays)
    buf = io.BytesIO()
    np.savez_compressed(buf, **content)
    return buf.getvalue()


def crafted_graphs() -> dict[str, bytes]:
    """Name -> a payload that no route can show (see the module docstring)."""
    good = synthetic_graph(0)
    data = good.to_bytes()
    with np.load(io.BytesIO(data), allow_pickle=False) as z:
        header = json.loads(bytes(z["header"]).decode())
    n = good.n_nodes
    return {
        "header is a list": _rewrite(data, [1, 2]),
        "header is a number": _rewrite(data, 7),
        "n_samples null": _rewrite(data, {**header, "n_samples": None}),
        "extras 7": _rewrite(data, {**header, "extras": 7}),
        "class_names 7": _rewrite(data, {**header, "class_names": 7}),
        "params a list": _rewrite(data, {**header, "params": [1, 2]}),
        "version a string": _rewrite(data, {**header, "version": "1"}),
        "edges out of range": _rewrite(data, edges=np.array([[0, n + 5]], dtype=np.int32)),
        "negative edge": _rewrite(data, edges=np.array([[-1, 0]], dtype=np.int32)),
        "offsets backwards": _rewrite(data, member_offsets=np.array([0, 5, 2], dtype=np.int64)),
        "truncated": data[: len(data) // 2],
        "empty": b"",
        "not a zip": b"definitely not a graph",
    }


@dataclass
class HostileLogs:
    logdir: str
    #: run "hostile", layer "fc1": step -> crafted kind (unreadable) or None (readable).
    steps: dict[int, str | None] = field(default_factory=dict)

    @property
    def crafted_steps(self) -> list[int]:
        return sorted(s for s, kind in self.steps.items() if kind)

    @property
    def readable_steps(self) -> list[int]:
        return sorted(s for s, kind in self.steps.items() if not kind)


def write_hostile_logs(logdir: str | os.PathLike, odd_run_names: bool = False) -> HostileLogs:
    """Write the hostile experiment under ``logdir`` (see the module docstring).

    Runs: ``hostile`` (layer ``fc1``: readable graphs at steps -5, 0, 2**40, and one crafted payload per step
    from 1; layer ``bad annotations`` whose second blob is not JSON), ``names`` (one readable graph per layer of
    :data:`ODD_LAYERS`), ``thumbs_0`` (a thumbnails record of height 0), ``thumbs_neg`` (height -1, which numpy
    would happily infer) and ``thumbs_2ch`` (2 channels). With ``odd_run_names``, also a run whose directory name
    holds a quote, a backslash and a tab.
    """
    logdir = str(logdir)
    out = HostileLogs(logdir)
    writer = SummaryWriter(os.path.join(logdir, "hostile"))
    crafted = crafted_graphs()
    # Steps in ascending order, as a training run writes them.
    plan: list[tuple[int, bytes, str | None]] = [(-5, synthetic_graph(1).to_bytes(), None)]
    plan.append((0, synthetic_graph(2).to_bytes(), None))
    plan += [(i + 1, payload, kind) for i, (kind, payload) in enumerate(crafted.items())]
    plan.append((2**40, synthetic_graph(3).to_bytes(), None))
    for step, payload, kind in plan:
        summary.write_summary(writer, summary.graph_summary("fc1", payload), step)
        out.steps[step] = kind
    tag = summary.graph_tag("bad annotations")
    meta = summary.encode_metadata(summary.KIND_GRAPH, "bad annotations")
    summary.write_summary(
        writer, summary.blob_summary(tag, [synthetic_graph(0).to_bytes(), b"\xff["], meta), 0
    )
    writer.close()

    writer = SummaryWriter(os.path.join(logdir, "names"))
    for position, layer in enumerate(ODD_LAYERS):
        summary.write_summary(
            writer, summary.graph_summary(layer, synthetic_graph(0).to_bytes(), None, position), 0
        )
    writer.close()

    for run, header in (
        ("thumbs_0", {"n": 3, "height": 0, "width": 8, "channels": 1}),
        ("thumbs_neg", {"n": 3, "height": -1, "width": 8, "channels": 1}),
        ("thumbs_2ch", {"n": 3, "height": 2, "width": 2, "channels": 2}),
    ):
        writer = SummaryWriter(os.path.join(logdir, run))
        h = max(header["height"], 1) if header["height"] >= 0 else 8
        raw = np.zeros((header["n"], h, header["width"], header["channels"]), np.uint8).tobytes()
        if header["height"] == 0:
            raw = b""
        blobs = [json.dumps(header).encode(), zlib.compress(raw)]
        meta = summary.encode_metadata(summary.KIND_THUMBNAILS)
        summary.write_summary(writer, summary.blob_summary(summary.THUMBNAILS_TAG, blobs, meta), 0)
        writer.close()

    if odd_run_names:
        writer = SummaryWriter(os.path.join(logdir, ODD_RUN))
        summary.write_summary(writer, summary.graph_summary("fc1", synthetic_graph(0).to_bytes()), 0)
        writer.close()
    return out


#: A run directory name the Rust data server cannot serve blobs of (see ``GraphStore._read_blob``).
ODD_RUN = 'odd "run"\\\tname'
