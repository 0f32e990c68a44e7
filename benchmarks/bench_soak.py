"""Soak: a long run (200 epochs by default) with ``TopoActMonitor`` while TensorBoard reads the logs.

A small CNN on 8x8 digits trains on tiny epochs (256 samples), every epoch logged (two layers, a 300-sample probe),
so that in a few minutes the monitor logs hundreds of graphs. Meanwhile a real ``tensorboard`` process (default
data back end) serves the log directory, and this script asks it for the TopoAct routes every few epochs (runs,
epochs, the latest graph, the metrics of a layer), so it keeps reading what is written.

Printed: the resident memory (``VmRSS`` from ``/proc``) of the training process, of the graph process and of
TensorBoard (its server plus any data-server child) at every tenth epoch, each one's growth over the second half
of the run, and whether every step was written exactly once per layer (graphs and ``topoact/*`` scalars), read
back with TensorBoard's own event reader. Not a test: figures go to BENCHMARKS.md.

Run: ``.venv/bin/python benchmarks/bench_soak.py [--epochs 200]`` (Linux: reads ``/proc``).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
import warnings
from pathlib import Path

import lightning.pytorch as L
import torch
from torch.utils.data import DataLoader, TensorDataset

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # tests._training (the shared digits model) and tests._tensorboard

from tests._tensorboard import fetch, tensorboard_process  # noqa: E402
from tests._training import DIGITS_LAYERS, DigitsCNN, digits_tensors, read_run  # noqa: E402
from topoact_lightning import TopoActMonitor  # noqa: E402


def rss_mib(pid: int) -> float:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return float("nan")


def children(pid: int) -> list[int]:
    """All descendants of ``pid``."""
    out, todo = [], [pid]
    while todo:
        parent = todo.pop()
        for task in Path(f"/proc/{parent}/task").glob("*"):
            try:
                kids = [int(k) for k in (task / "children").read_text().split()]
            except OSError:
                continue
            out.extend(kids)
            todo.extend(kids)
    return out


def graph_child() -> int | None:
    import os

    for pid in children(os.getpid()):
        try:
            if b"_serve" in Path(f"/proc/{pid}/cmdline").read_bytes():
                return pid
        except OSError:
            continue
    return None


class Soak(L.Callback):
    """Every ``every`` epochs: RSS of the three processes, and a round of TopoAct requests to TensorBoard."""

    def __init__(self, tb, every: int = 10) -> None:
        self.tb, self.every = tb, every
        self.rows: list[tuple[int, float, float, float]] = []
        self.requests = 0
        self.errors = 0

    def on_train_epoch_end(self, trainer, pl_module):
        import os

        epoch = trainer.current_epoch + 1
        if epoch % self.every and epoch != 1:
            return
        self.ask_tensorboard()
        child = graph_child()
        tb_pids = [self.tb.proc.pid, *children(self.tb.proc.pid)]
        self.rows.append(
            (
                epoch,
                rss_mib(os.getpid()),
                rss_mib(child) if child else float("nan"),
                sum(rss_mib(p) for p in tb_pids),
            )
        )
        print(
            f"  epoch {epoch:4d}: training {self.rows[-1][1]:7.1f} MiB, graph process {self.rows[-1][2]:6.1f} MiB, "
            f"tensorboard {self.rows[-1][3]:7.1f} MiB ({len(tb_pids)} processes)",
            flush=True,
        )

    def ask_tensorboard(self) -> None:
        base = self.tb.base + "/data/plugin/topoact"
        try:
            status, _, body = fetch(base + "/runs", timeout=30)
            self.requests += 1
            if status != 200:
                self.errors += 1
                return
            for run in json.loads(body):
                for layer in run["layers"]:
                    status, _, body = fetch(f"{base}/epochs?run={run['run']}&layer={layer}", timeout=30)
                    self.requests += 1
                    epochs = json.loads(body)["epochs"] if status == 200 else []
                    if epochs:
                        for url in (
                            f"{base}/graph?run={run['run']}&layer={layer}&epoch={epochs[-1]}",
                            f"{base}/metrics?run={run['run']}&layer={layer}",
                        ):
                            status, _, _ = fetch(url, timeout=60)
                            self.requests += 1
                            self.errors += status != 200
        except OSError:
            self.errors += 1


def growth(rows: list[tuple], col: int) -> tuple[float, float, float]:
    """(value at the middle row, value at the last row, growth per 100 epochs over the second half)."""
    half = rows[len(rows) // 2]
    last = rows[-1]
    per100 = (last[col] - half[col]) / max(last[0] - half[0], 1) * 100
    return half[col], last[col], per100


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--epochs", type=int, default=200)
    parser.add_argument("--samples", type=int, default=256, help="training samples per epoch")
    parser.add_argument("--every", type=int, default=10, help="measure every this many epochs")
    args = parser.parse_args()
    warnings.filterwarnings("ignore")
    torch.set_num_threads(1)

    x, y = digits_tensors()
    probe = (x[:300], y[:300])
    train = DataLoader(
        TensorDataset(x[300 : 300 + args.samples], y[300 : 300 + args.samples]),
        batch_size=64,
        shuffle=True,
        generator=torch.Generator().manual_seed(0),
    )
    print(
        f"soak: {args.epochs} epochs of {args.samples} samples, digits CNN, layers {DIGITS_LAYERS}, probe 300, "
        f"every epoch logged; torch {torch.__version__}, one torch thread"
    )
    with tempfile.TemporaryDirectory() as tmp:
        logdir = Path(tmp)
        (logdir / "run").mkdir()
        with tensorboard_process(logdir, "--reload_interval", "5") as tb:
            soak = Soak(tb, args.every)
            monitor = TopoActMonitor(layers=DIGITS_LAYERS, probe=probe)
            t0 = time.perf_counter()
            L.seed_everything(0, workers=True)
            trainer = L.Trainer(
                max_epochs=args.epochs,
                accelerator="cpu",
                devices=1,
                logger=L.loggers.TensorBoardLogger(save_dir=str(logdir), name="", version="run"),
                callbacks=[monitor, soak],
                enable_checkpointing=False,
                enable_progress_bar=False,
                enable_model_summary=False,
                num_sanity_val_steps=0,
                log_every_n_steps=1,
            )
            trainer.fit(DigitsCNN(), train)
            wall = time.perf_counter() - t0
            soak.ask_tensorboard()
        run = read_run(logdir / "run")
        event_mib = sum(f.stat().st_size for f in (logdir / "run").rglob("*tfevents*")) / 2**20

    steps = list(range(args.epochs + 1))
    print(
        f"\n{args.epochs} epochs in {wall:.0f} s; {len(monitor.build_seconds)} graphs built; "
        f"{soak.requests} TopoAct requests to TensorBoard, {soak.errors} not 200; event files {event_mib:.1f} MiB "
        "(TensorBoard keeps every TopoAct step in memory, so its RSS grows with them)"
    )
    once = True
    for layer in DIGITS_LAYERS:
        graph_steps = run["tensor_steps"].get(f"topoact_graph/{layer}", [])
        scalar_steps = run["scalar_steps"].get(f"topoact/{layer}/nodes", [])
        ok = graph_steps == steps and len(scalar_steps) == len(steps) == len(set(scalar_steps))
        once &= ok
        print(
            f"  {layer}: {len(graph_steps)} graph steps ({len(set(graph_steps))} distinct), "
            f"{len(scalar_steps)} nodes scalars: {'every step exactly once' if ok else 'MISMATCH'}"
        )
    print(f"every step written exactly once: {once}")
    for name, col in (("training process", 1), ("graph process", 2), ("tensorboard", 3)):
        first = soak.rows[0][col]
        mid, last, per100 = growth(soak.rows, col)
        print(
            f"{name:17s} RSS (MiB): epoch {soak.rows[0][0]} {first:.1f}, epoch {soak.rows[len(soak.rows) // 2][0]} "
            f"{mid:.1f}, epoch {soak.rows[-1][0]} {last:.1f}; second half {per100:+.1f} MiB per 100 epochs"
        )


if __name__ == "__main__":
    main()
