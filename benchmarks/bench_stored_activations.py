"""Stored activations: how much the float16 encoding changes the graphs, and how much the event files grow.

Two parts, one run:

1. The digits demo (``examples/digits_cnn.py``, its monitor and layers) trained for ``--epochs``: every matrix the
   callback hands to the graph worker is kept; per layer and step, the graph of the exact matrix and the graph of
   the decoded stored one (same Mapper parameters) are compared with
   :func:`topoact_lightning.engine.remap.node_agreement` (mean best Jaccard of node member sets, 1 = identical)
   and the event file's bytes are split into graph, activation and other tags.
2. A wide synthetic layer, 1,000 x 2,048 (ReLU class mixture drifting a little each epoch): agreement with the
   default Mapper and with the demo's parameters, then 50 epochs of graph + activation summaries written with
   TensorBoard's event writer; file size and bytes per step.

Usage:
    python benchmarks/bench_stored_activations.py [--epochs 5] [--steps 50]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "examples"))

from topoact_lightning import Mapper  # noqa: E402
from topoact_lightning.engine.remap import node_agreement  # noqa: E402
from topoact_lightning.logformat import summary  # noqa: E402


def tag_bytes(run_dir: Path) -> dict[str, int]:
    from tensorboard.backend.event_processing.event_file_loader import LegacyEventFileLoader

    sizes: dict[str, int] = defaultdict(int)
    for path in run_dir.glob("*tfevents*"):
        for event in LegacyEventFileLoader(str(path)).Load():
            for value in event.summary.value:
                if value.tag.startswith(summary.ACTIVATIONS_TAG_PREFIX):
                    sizes["activations"] += value.ByteSize()
                elif value.tag.startswith(summary.GRAPH_TAG_PREFIX):
                    sizes["graphs"] += value.ByteSize()
                else:
                    sizes["other"] += value.ByteSize()
    sizes["file"] = sum(p.stat().st_size for p in run_dir.glob("*tfevents*"))
    return dict(sizes)


def agreement(x: np.ndarray, params: dict, labels=None) -> tuple[float, int, int]:
    stored = summary.decode_activations(summary.encode_activations(x))
    exact = Mapper(**params).fit_graph(x, labels=labels)
    again = Mapper(**params).fit_graph(stored, labels=labels)
    return node_agreement(exact, again), exact.n_nodes, again.n_nodes


def digits(epochs: int, logdir: str) -> None:
    import digits_cnn

    from topoact_lightning.monitor import pipeline

    kept: list[tuple[int, str, np.ndarray, dict]] = []
    submit = pipeline.GraphPipeline.submit

    def keep(self, step, scalar_step, activations, extras, mapper_params, settings):
        for layer, x in activations.items():
            kept.append(
                (step, layer, np.array(x, dtype=np.float32), dict(mapper_params[layer]), settings.labels)
            )
        return submit(self, step, scalar_step, activations, extras, mapper_params, settings)

    pipeline.GraphPipeline.submit = keep
    try:
        digits_cnn.train(logdir, "demo", epochs, progress=False)
    finally:
        pipeline.GraphPipeline.submit = submit
    print(f"digits demo, {epochs} epochs: graph of the stored matrix vs the exact one (node agreement)")
    worst = 1.0
    for step, layer, x, params, labels in kept:
        a, n_exact, n_stored = agreement(x, params, labels)
        worst = min(worst, a)
        err = np.abs(summary.decode_activations(summary.encode_activations(x)) - x).max() / max(
            np.abs(x).max(), 1e-30
        )
        print(
            f"  {layer:>12} step {step}: {x.shape[0]}x{x.shape[1]}, agreement {a:.4f} ({n_exact} vs {n_stored} nodes), max error {err:.2e} of the largest value"
        )
    print(f"  worst agreement: {worst:.4f}")
    (run,) = [p for p in (Path(logdir) / "demo").iterdir() if p.is_dir()]
    sizes = tag_bytes(run)
    steps = len({s for s, *_ in kept})
    print(
        f"  event file {sizes['file'] / 2**10:.0f} KiB over {steps} logged steps: graphs {sizes.get('graphs', 0) / 2**10:.0f} KiB, "
        f"activations {sizes.get('activations', 0) / 2**10:.0f} KiB ({sizes.get('activations', 0) / 2**10 / steps:.0f} KiB per step, all layers)"
    )


def wide(steps: int, logdir: str) -> None:
    from tensorboard.compat.proto import event_pb2
    from tensorboard.summary.writer.event_file_writer import EventFileWriter

    rng = np.random.default_rng(0)
    n, d, k = 1000, 2048, 10
    centres = rng.normal(size=(k, d)).astype(np.float32)
    factors = rng.normal(size=(16, d)).astype(np.float32) / 4
    labels = rng.integers(0, k, size=n)
    codes = rng.normal(size=(n, 16)).astype(np.float32)

    def layer(epoch: int) -> np.ndarray:
        drift = 1 + 0.02 * epoch
        x = centres[labels] * drift + codes @ factors + 0.1 * rng.normal(size=(n, d)).astype(np.float32)
        return np.maximum(x, 0).astype(np.float32)

    x = layer(0)
    for name, params in (("default", {}), ("demo's", {"n_intervals": 15, "overlap": 0.5})):
        a, n_exact, n_stored = agreement(x, params, labels)
        print(f"wide {n}x{d}, {name} Mapper params: agreement {a:.4f} ({n_exact} vs {n_stored} nodes)")
    out = Path(logdir) / "wide"
    writer = EventFileWriter(str(out))
    t_encode = []
    # One graph stands for every epoch's (building 50 would measure the engine, not the file size).
    graph = Mapper(n_intervals=15, overlap=0.5).fit_graph(layer(0), labels=labels)
    for epoch in range(steps):
        x = layer(epoch)
        t0 = time.perf_counter()
        blobs = summary.encode_activations(x)
        t_encode.append(time.perf_counter() - t0)
        for s in (
            summary.graph_summary("wide", graph.to_bytes(), {}, 0),
            summary.activations_summary("wide", blobs, 0),
        ):
            writer.add_event(event_pb2.Event(step=epoch, summary=s))
    writer.close()
    sizes = tag_bytes(out)
    print(
        f"wide {n}x{d} over {steps} epochs: event file {sizes['file'] / 2**20:.1f} MiB; activations "
        f"{sizes['activations'] / 2**20 / steps:.2f} MiB per step (raw float32 {n * d * 4 / 2**20:.2f} MiB), "
        f"graphs {sizes['graphs'] / 2**10 / steps:.0f} KiB per step; encoding {1e3 * float(np.median(t_encode)):.0f} ms per step (graph process)"
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--steps", type=int, default=50)
    args = parser.parse_args(argv)
    print(f"host: {os.cpu_count()} cores, load {os.getloadavg()[0]:.1f} (shared machine)")
    with tempfile.TemporaryDirectory() as tmp:
        digits(args.epochs, tmp)
        wide(args.steps, tmp)


if __name__ == "__main__":
    main()
