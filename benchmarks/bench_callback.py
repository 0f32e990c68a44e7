"""Callback overhead: the same training with and without ``TopoActMonitor``, side by side in one run.

Reference training: a 4-layer CNN on 16x16 digit images (scikit-learn's digits, upsampled, with noise, 36,000
samples), sized so that an epoch takes several seconds on 2 CPU cores. The monitor watches 3 layers on a probe of
1,000 samples, every epoch plus the untrained network. Fits alternate (plain, monitored, plain, ...) so that
background load hits both alike; the ratio of median wall times is printed.

Also printed: the time the training loop is blocked per logged epoch (the probe pass and hand-over) next to one
plain forward pass over the probe, the graph-building time per graph (in the worker thread), and the process RSS
after each logged epoch of a longer run, to show that memory does not grow with the number of graphs logged.
Because single pairs of fits differ by up to 20% on a shared machine, the script also gives the monitor's parts
within each monitored fit (the loop's time in its hooks plus the worker process's CPU, against the rest of that
fit), and bootstrap intervals for both medians.

Run: ``.venv/bin/python benchmarks/bench_callback.py [--epochs 3] [--repeats 2] [--niceness 10]``
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
import warnings
from pathlib import Path

import lightning.pytorch as L
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from topoact_lightning import TopoActMonitor

LAYERS = ["features.2", "features.6", "fc1"]


def make_data(n: int = 36_000, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    from sklearn.datasets import load_digits

    d = load_digits()
    x = torch.tensor(d.images, dtype=torch.float32).unsqueeze(1) / 16.0
    x = nn.functional.interpolate(x, size=(16, 16), mode="bilinear", align_corners=False)
    y = torch.tensor(d.target)
    g = torch.Generator().manual_seed(seed)
    idx = torch.randint(len(x), (n,), generator=g)
    return (x[idx] + 0.1 * torch.randn(n, 1, 16, 16, generator=g)), y[idx]


class Net(L.LightningModule):
    def __init__(self, width: int = 16) -> None:
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(1, width, 3, padding=1),
            nn.ReLU(),
            nn.Conv2d(width, width, 3, padding=1),
            nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Conv2d(width, 2 * width, 3, padding=1),
            nn.ReLU(),
            nn.MaxPool2d(2),
        )
        self.fc1 = nn.Linear(2 * width * 16, 128)
        self.fc2 = nn.Linear(128, 10)

    def forward(self, x):
        return self.fc2(torch.relu(self.fc1(self.features(x).flatten(1))))

    def training_step(self, batch, batch_idx):
        x, y = batch
        return nn.functional.cross_entropy(self(x), y)

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=0.05, momentum=0.9)


class EpochProbe(L.Callback):
    """Records wall time and RSS at each epoch end (after the monitor's own hook, which runs first)."""

    def __init__(self) -> None:
        self.rss_mib: list[float] = []
        self.epoch_ends: list[float] = []

    def on_train_epoch_end(self, trainer, pl_module):
        self.epoch_ends.append(time.perf_counter())
        self.rss_mib.append(rss_mib())


class TimedMonitor(TopoActMonitor):
    """``TopoActMonitor`` that adds up the wall time the training loop spends inside its hooks.

    With the worker's CPU time, this gives the monitor's cost within one fit, as a share of that same fit: host
    speed changes that make whole fits differ by 20% on a shared machine cancel out of it.
    """

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.hook_seconds = 0.0
        #: Of that, the time the loop waited for the worker (a full queue, the last graphs at the end): the worker's
        #: CPU in those moments does not also slow training.
        self.wait_seconds = 0.0

    def _waiting(self, fn):
        def timed(*args, **kwargs):
            t0 = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                self.wait_seconds += time.perf_counter() - t0

        return timed

    def _timed(self, name: str, *args, **kwargs):
        t0 = time.perf_counter()
        try:
            return getattr(super(), name)(*args, **kwargs)
        finally:
            self.hook_seconds += time.perf_counter() - t0

    def setup(self, *args, **kwargs):
        return self._timed("setup", *args, **kwargs)

    def on_fit_start(self, *args, **kwargs):
        return self._timed("on_fit_start", *args, **kwargs)

    def on_train_start(self, *args, **kwargs):
        t0 = time.perf_counter()
        super().on_train_start(*args, **kwargs)
        if self._pipeline is not None:  # wrapped after the step-0 pass, whose hand-over never waits (tested)
            worker = self._pipeline.worker
            worker.submit = self._waiting(worker.submit)
            worker.drain = self._waiting(worker.drain)
        self.hook_seconds += time.perf_counter() - t0

    def on_train_batch_end(self, *args, **kwargs):
        return self._timed("on_train_batch_end", *args, **kwargs)

    def on_train_epoch_end(self, *args, **kwargs):
        return self._timed("on_train_epoch_end", *args, **kwargs)

    def on_train_end(self, *args, **kwargs):
        return self._timed("on_train_end", *args, **kwargs)

    def on_fit_end(self, *args, **kwargs):
        return self._timed("on_fit_end", *args, **kwargs)

    def teardown(self, *args, **kwargs):
        return self._timed("teardown", *args, **kwargs)


def rss_mib() -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def fit(train: DataLoader, epochs: int, monitor: TopoActMonitor | None, logdir: Path, seed: int = 0):
    L.seed_everything(seed, verbose=False)
    model = Net()
    probe = EpochProbe()
    callbacks = [probe] + ([monitor] if monitor is not None else [])
    trainer = L.Trainer(
        max_epochs=epochs,
        accelerator="cpu",
        devices=1,
        logger=L.loggers.TensorBoardLogger(str(logdir), name="", version="with" if monitor else "without"),
        callbacks=callbacks,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        num_sanity_val_steps=0,
        log_every_n_steps=50,
    )
    t0, c0, m0 = time.perf_counter(), time.process_time(), time.thread_time()
    k0 = _children_cpu()
    trainer.fit(model, train)
    probe.cpu_seconds = time.process_time() - c0  # every thread of this process, the graph worker included
    # The graph worker process (waited for when fit returns): the CPU it took from the machine.
    probe.child_cpu_seconds = _children_cpu() - k0
    # The training loop's own thread (all of torch's work with --torch-threads 1): what the loop pays when the
    # worker has a core of its own, and robust to other jobs on the machine.
    probe.loop_cpu_seconds = time.thread_time() - m0
    return time.perf_counter() - t0, model, probe


def _children_cpu() -> float:
    import resource

    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def median_interval(values: list[float], level: float = 0.9, rounds: int = 10_000) -> tuple[float, float]:
    """Percentile bootstrap interval of the median: how far the median of this many noisy pairs can be trusted."""
    import numpy as np

    v = np.asarray(values, dtype=np.float64)
    medians = np.median(v[np.random.default_rng(0).integers(len(v), size=(rounds, len(v)))], axis=1)
    tail = (1 - level) / 2 * 100
    return float(np.percentile(medians, tail)), float(np.percentile(medians, 100 - tail))


def plain_probe_forward(model: nn.Module, x: torch.Tensor, batch_size: int) -> float:
    model.eval()
    t0 = time.perf_counter()
    with torch.no_grad():
        for i in range(0, len(x), batch_size):
            model(x[i : i + batch_size])
    model.train()
    return time.perf_counter() - t0


def contention(rounds: int = 5, steps: int = 60) -> None:
    """Training steps alone vs while a niced thread fits Mapper graphs non-stop (what the worker can cost)."""
    import os
    import threading

    import numpy as np

    from topoact_lightning.engine.mapper import Mapper

    x, y = make_data(64 * steps)
    model = Net()
    opt = torch.optim.SGD(model.parameters(), lr=0.01)
    acts = np.random.default_rng(0).normal(size=(1000, 128)).astype(np.float32)
    busy, stop = threading.Event(), threading.Event()

    def run_steps() -> float:
        t0 = time.perf_counter()
        for i in range(steps):
            loss = nn.functional.cross_entropy(model(x[i * 64 : (i + 1) * 64]), y[i * 64 : (i + 1) * 64])
            opt.zero_grad()
            loss.backward()
            opt.step()
        return time.perf_counter() - t0

    def worker() -> None:
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), 10)
        while not stop.is_set():
            if busy.is_set():
                Mapper().fit(acts)
            else:
                time.sleep(0.01)

    threading.Thread(target=worker, daemon=True).start()
    modes = {
        "no worker, torch 2 threads": (False, 2),
        "worker, torch 2 threads": (True, 2),
        "no worker, torch 1 thread": (False, 1),
        "worker, torch 1 thread": (True, 1),
    }
    times: dict[str, list[float]] = {k: [] for k in modes}
    run_steps()
    for _ in range(rounds):
        for name, (with_worker, threads) in modes.items():
            torch.set_num_threads(threads)
            (busy.set if with_worker else busy.clear)()
            time.sleep(0.05)
            times[name].append(run_steps())
    stop.set()
    print(f"{steps} training steps, median of {rounds} (the worker fits 1,000 x 128 Mapper graphs non-stop):")
    for name, v in times.items():
        print(f"  {name}: {statistics.median(v):.3f} s")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--probe", type=int, default=1000)
    ap.add_argument(
        "--niceness", type=int, default=10, help="worker thread niceness (TopoActMonitor default 10)"
    )
    ap.add_argument("--memory-epochs", type=int, default=12, help="epochs of the memory run (small data)")
    ap.add_argument("--samples", type=int, default=36_000, help="training samples (sets the epoch length)")
    ap.add_argument(
        "--torch-threads", type=int, default=0, help="torch intra-op threads (0: torch's default)"
    )
    ap.add_argument(
        "--worker", default="process", choices=["process", "thread"], help="TopoActMonitor(worker=...)"
    )
    ap.add_argument("--contention", action="store_true", help="only the worker-contention micro-benchmark")
    args = ap.parse_args()
    warnings.filterwarnings("ignore")
    if args.contention:
        contention()
        return
    if args.torch_threads:
        torch.set_num_threads(args.torch_threads)

    x, y = make_data(args.samples)
    train = DataLoader(
        TensorDataset(x, y), batch_size=64, shuffle=True, generator=torch.Generator().manual_seed(0)
    )
    px, py = make_data(args.probe, seed=1)
    print(
        f"torch threads: {torch.get_num_threads()}, python {sys.version.split()[0]}, torch {torch.__version__}"
    )
    print(
        f"reference: {len(x)} samples of 1x16x16, batch 64, {args.epochs} epochs; probe {args.probe}, "
        f"layers {LAYERS}, every epoch + step 0; worker {args.worker}, niceness {args.niceness}"
    )

    plain_times, monitored_times, blocking, builds, forwards = [], [], [], [], []
    plain_cpu: list[float] = []
    monitored_cpu: list[float] = []
    plain_loop: list[float] = []
    monitored_loop: list[float] = []
    child_cpu: list[float] = []
    hooks: list[float] = []
    parts: list[float] = []
    with tempfile.TemporaryDirectory() as tmp:
        # Warm-up (thread pools, lazy imports, first Trainer) so that neither side pays it.
        warm = TopoActMonitor(layers=LAYERS, probe=(px[:300], py[:300]))
        fit(DataLoader(TensorDataset(x[:256], y[:256]), batch_size=64), 1, warm, Path(tmp) / "warm")
        for r in range(args.repeats):
            # ABBA order: a load change during the run biases neither side.
            monitor = TimedMonitor(
                layers=LAYERS, probe=(px, py), worker_niceness=args.niceness, worker=args.worker
            )
            if r % 2 == 0:
                t_plain, model, p_plain = fit(train, args.epochs, None, Path(tmp) / f"r{r}")
                t_mon, _, p_mon = fit(train, args.epochs, monitor, Path(tmp) / f"r{r}")
            else:
                t_mon, _, p_mon = fit(train, args.epochs, monitor, Path(tmp) / f"r{r}")
                t_plain, model, p_plain = fit(train, args.epochs, None, Path(tmp) / f"r{r}")
            # At the monitor's own batch size: what the loop would pay for the forward pass alone.
            forwards.append(plain_probe_forward(model, px, monitor.probe_.sizes[0]))
            plain_times.append(t_plain)
            monitored_times.append(t_mon)
            plain_cpu.append(p_plain.cpu_seconds)
            monitored_cpu.append(p_mon.cpu_seconds)
            plain_loop.append(p_plain.loop_cpu_seconds)
            monitored_loop.append(p_mon.loop_cpu_seconds)
            child_cpu.append(p_mon.child_cpu_seconds)
            hooks.append(monitor.hook_seconds)
            # The same fit without the monitor's parts: the loop's time in its hooks, and the worker process's
            # CPU, which on cores that torch keeps busy comes out of training's time about one for one.
            worker_cpu = p_mon.child_cpu_seconds if args.worker == "process" else 0.0
            overlap = min(monitor.wait_seconds, worker_cpu)
            parts.append(t_mon / (t_mon - monitor.hook_seconds - worker_cpu + overlap))
            blocking.extend(monitor.blocking_seconds)
            builds.extend(monitor.build_seconds)
            print(
                f"  repeat {r}: wall without {t_plain:.2f} s, with {t_mon:.2f} s (x{t_mon / t_plain:.3f}); "
                f"CPU without {plain_cpu[-1]:.1f} s, with {monitored_cpu[-1]:.1f} s "
                f"(x{monitored_cpu[-1] / plain_cpu[-1]:.3f}); training-thread CPU without {plain_loop[-1]:.1f} s, "
                f"with {monitored_loop[-1]:.1f} s (x{monitored_loop[-1] / plain_loop[-1]:.3f}); "
                + (f"worker process CPU {child_cpu[-1]:.2f} s; " if args.worker == "process" else "")
                + f"loop in the monitor's hooks {hooks[-1]:.2f} s (waiting for the worker {monitor.wait_seconds:.2f} s); "
                f"{len(monitor.build_seconds)} graphs",
                flush=True,
            )

    plain, mon = statistics.median(plain_times), statistics.median(monitored_times)
    print(
        f"\nfit wall time, median of {args.repeats}: without {plain:.2f} s ({plain / args.epochs:.2f} s/epoch), "
        f"with {mon:.2f} s -> ratio {mon / plain:.3f}x"
    )
    ratios = [m / p for m, p in zip(monitored_times, plain_times, strict=True)]
    lo, hi = median_interval(ratios)
    print(
        f"median of the per-pair ratios (each pair run back to back): {statistics.median(ratios):.3f}x, "
        f"90% bootstrap interval {lo:.3f}-{hi:.3f}x over {len(ratios)} pairs"
    )
    lo, hi = median_interval(parts)
    print(
        f"the monitor's parts within each monitored fit (loop time in its hooks, median {statistics.median(hooks):.2f} s"
        + (
            ", plus the worker process's CPU"
            if args.worker == "process"
            else "; the worker thread's CPU is not counted"
        )
        + f"): {statistics.median(parts):.3f}x, 90% bootstrap interval {lo:.3f}-{hi:.3f}x"
    )
    cp, cm = statistics.median(plain_cpu), statistics.median(monitored_cpu)
    print(
        f"process CPU time (all threads), median: without {cp:.1f} s, with {cm:.1f} s -> ratio {cm / cp:.3f}x"
    )
    lp, lm = statistics.median(plain_loop), statistics.median(monitored_loop)
    print(f"training-thread CPU time, median: without {lp:.1f} s, with {lm:.1f} s -> ratio {lm / lp:.3f}x")
    print(
        f"blocking per logged epoch: median {statistics.median(blocking) * 1e3:.0f} ms "
        f"(max {max(blocking) * 1e3:.0f} ms, includes step 0's first pass); "
        f"one plain forward over the probe (batch {monitor.probe_.sizes[0]}): "
        f"{statistics.median(forwards) * 1e3:.0f} ms"
    )
    if args.worker == "process":  # a thread worker's CPU is in the process CPU above
        print(
            f"graph worker process CPU per monitored fit: median {statistics.median(child_cpu):.2f} s "
            f"({statistics.median(child_cpu) / statistics.median(plain_cpu) * 100:.1f}% of the plain fit's CPU)"
        )
    print(
        f"graph build in the worker: median {statistics.median(builds) * 1e3:.0f} ms per graph "
        f"(max {max(builds) * 1e3:.0f} ms)"
    )

    # Memory: a longer run on a small slice, RSS after every logged epoch.
    small = DataLoader(TensorDataset(x[:1500], y[:1500]), batch_size=64, shuffle=True)
    with tempfile.TemporaryDirectory() as tmp:
        monitor = TopoActMonitor(layers=LAYERS, probe=(px, py), worker_niceness=args.niceness)
        _, _, probe = fit(small, args.memory_epochs, monitor, Path(tmp))
    rss = probe.rss_mib
    print(f"\nRSS after each of {len(rss)} logged epochs (MiB): " + " ".join(f"{v:.0f}" for v in rss))
    half = len(rss) // 2
    print(
        f"RSS growth from epoch {half} to {len(rss)}: {rss[-1] - rss[half - 1]:+.1f} MiB "
        f"({len(monitor.build_seconds)} graphs logged)"
    )


if __name__ == "__main__":
    main()
