"""False positives of the fault findings on the repository's healthy examples (and, with ``--faults``, true ones).

Trains the examples' healthy models for several seeds; at step 0 (untrained) and after every epoch it captures the
watched layers' activations over the probe with the monitor's own capture (:class:`ActivationCapture`, the same
reductions and seed as :class:`TopoActMonitor`), builds each layer's Mapper graph with the example's Mapper
parameters, and runs :class:`topoact_lightning.monitor.findings.FindingTracker` on them with the epoch's mean
training loss and the graph distance to the previous epoch.

A *false positive* is a fault finding (any of ``FAULT_KINDS``) on a healthy run. Printed per model: layer-steps
checked, fault findings per kind, the rate of layer-steps with any fault finding, and each detector's closest
approach to its threshold over all seeds and steps (how much margin the defaults leave). Class findings are
counted for information.

``--faults`` also trains broken variants of the digits CNN (one fault each, in the ``hidden`` layer unless said)
and prints which kinds were found in which layer: the true positives.

Usage:
    python benchmarks/findings_false_positives.py                       # digits CNN, seeds 0-2, 15 epochs
    python benchmarks/findings_false_positives.py --models digits,transformer --seeds 0,1,2,3,4
    python benchmarks/findings_false_positives.py --faults --epochs 6
"""

from __future__ import annotations

import argparse
import math
import sys
import time
import warnings
from collections import Counter
from pathlib import Path
from typing import Any

import lightning.pytorch as pl
import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "examples"))

from topoact_lightning.engine.compare import compare_graphs  # noqa: E402
from topoact_lightning.engine.mapper import Mapper  # noqa: E402
from topoact_lightning.monitor.capture import ActivationCapture, BatchContext  # noqa: E402
from topoact_lightning.monitor.diagnostics import effective_dims  # noqa: E402
from topoact_lightning.monitor.findings import (  # noqa: E402
    FAULT_KINDS,
    FindingThresholds,
    FindingTracker,
    fault_findings,
    fingerprint_change,
    norm_growth,
    saturated_units,
    spread_ratio,
    unit_states,
)

warnings.filterwarnings("ignore", ".*does not have many workers.*")
warnings.filterwarnings("ignore", ".*LightningModule.*")


class FindingsProbe(pl.Callback):
    """Captures the watched layers over the probe at step 0 and after every epoch, and runs the findings."""

    def __init__(self, layers, reductions, probe_x, probe_y, class_names, mapper_params, pad=None, seed=0):
        self.layers, self.reductions = list(layers), dict(reductions)
        self.probe_x, self.probe_y = probe_x, probe_y.numpy()
        self.class_names, self.mapper_params, self.pad, self.seed = class_names, mapper_params, pad, seed
        self.tracker = FindingTracker()
        self.th = self.tracker.thresholds
        self.rows: list[dict[str, Any]] = []
        self._losses: list[float] = []
        self._graphs: dict[str, Any] = {}

    def on_fit_start(self, trainer, pl_module):
        self._observe(pl_module, 0, None)

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
        self._losses.append(float(outputs["loss"]))

    def on_train_epoch_end(self, trainer, pl_module):
        loss = float(np.mean(self._losses)) if self._losses else None
        self._losses = []
        self._observe(pl_module, trainer.current_epoch + 1, loss)

    def _capture(self, model: nn.Module) -> dict[str, np.ndarray]:
        modules = dict(model.named_modules())
        capture = ActivationCapture(
            {n: modules[n] for n in self.layers},
            {n: self.reductions.get(n, "auto") for n in self.layers},
            dict.fromkeys(self.layers),
            self.seed,
        )
        was_training = model.training
        model.eval()
        try:
            with capture, torch.no_grad():
                n = len(self.probe_x)
                mask = None if self.pad is None else self.probe_x != self.pad
                capture.begin_batch(BatchContext(torch.arange(n), n, "", self.seed, mask))
                model(self.probe_x)
            return {k: v.numpy() for k, v in capture.collect().items()}
        finally:
            model.train(was_training)

    def _observe(self, model: nn.Module, step: int, loss: float | None) -> None:
        for layer, x in self._capture(model).items():
            graph, distance = None, None
            if np.isfinite(x).all():
                graph = (
                    Mapper(**self.mapper_params)
                    .fit(x, labels=self.probe_y, class_names=self.class_names)
                    .graph_
                )
                if layer in self._graphs:
                    distance = compare_graphs(self._graphs[layer], graph).distance
                self._graphs[layer] = graph
            new = self.tracker.observe(step, layer, x, loss=loss, graph=graph, graph_distance=distance)
            history = self.tracker.history(layer)
            # Every step's fault findings, not only the new ones: a false positive counts at every step it shows.
            faults = [f.kind for f in fault_findings(step, layer, x, history, self.th)]
            self.rows.append(
                {
                    "step": step,
                    "layer": layer,
                    "faults": faults,
                    "new": [f for f in new],
                    **_margins(x, history),
                }
            )


def _margins(x: np.ndarray, history) -> dict[str, float]:
    """Each detector's raw figure at this step (for the closest approach to the thresholds)."""
    th = FindingThresholds()
    x = x[np.isfinite(x).all(axis=1)]
    dead, constant = unit_states(x, th.unit_rtol)
    saturated, bounds = saturated_units(x, th.saturation_atol, th.saturated_samples, th.unit_rtol)
    change = (
        fingerprint_change(history[-2].fingerprint, history[-1].fingerprint) if len(history) > 1 else math.nan
    )
    growth, _ = norm_growth(history, th.exploding_window)
    step_growth, _ = norm_growth(history, 1)
    trained_growth, _ = norm_growth([h for h in history if h.step > 0], th.exploding_window)
    return {
        "step_growth": step_growth,
        "trained_growth": trained_growth,
        "dead": float(dead.mean()),
        "constant": float(constant.mean()),
        "spread": spread_ratio(x),
        "dims": effective_dims(x) if len(x) > 2 else math.nan,
        "saturated": float(saturated.mean()) if bounds is not None else 0.0,
        "change": change,
        "growth": growth,
    }


# ---------------------------------------------------------------------------------------------------- models
def run_digits(seed: int, epochs: int, fault: str | None = None) -> FindingsProbe:
    from digits_cnn import CLASS_NAMES, LAYERS, DigitsCNN, digits_data

    pl.seed_everything(seed, verbose=False)
    x_train, y_train, x_val, y_val = digits_data(seed)
    model = DigitsCNN()
    with torch.no_grad():
        if fault == "dead":  # diagnose_architecture.py's broken run
            model.hidden[0].bias.fill_(-1.0)
        elif fault == "constant":  # the case: zero weights, bias 1, then ReLU
            model.hidden[0].weight.zero_()
            model.hidden[0].bias.fill_(1.0)
            model.hidden[0].requires_grad_(False)
        elif fault == "not_learning":  # the first block frozen at its initial weights
            model.block1.requires_grad_(False)
        elif fault == "saturated":  # tanh with weights 300x too large in the hidden layer
            model.hidden[1] = nn.Tanh()
            model.hidden[0].weight.mul_(300.0)
            model.hidden[0].requires_grad_(False)
    if (
        fault == "exploding"
    ):  # leaky units (which cannot die) and a learning rate 4x too large: NaN by epoch 2
        for block in (model.block1, model.block2, model.hidden):
            block[1] = nn.LeakyReLU(0.5)
        model.hparams.lr = 0.2
    probe = FindingsProbe(LAYERS, {}, x_val, y_val, CLASS_NAMES, {"n_intervals": 15, "overlap": 0.5}, seed=0)
    _fit(model, probe, x_train, y_train, epochs)
    return probe


def run_transformer(seed: int, epochs: int) -> FindingsProbe:
    from transformer_tokens import CLASS_NAMES, PAD, REDUCTIONS, TokenClassifier, make_sequences

    pl.seed_everything(seed, verbose=False)
    x_train, y_train = make_sequences(3000, seed)
    x_val, y_val = make_sequences(500, seed + 1)
    probe = FindingsProbe(list(REDUCTIONS), REDUCTIONS, x_val, y_val, CLASS_NAMES, {}, pad=PAD, seed=0)
    _fit(TokenClassifier(), probe, x_train, y_train, epochs)
    return probe


def _fit(model, probe, x_train, y_train, epochs) -> None:
    trainer = pl.Trainer(
        accelerator="cpu",
        devices=1,
        max_epochs=epochs,
        logger=False,
        callbacks=[probe],
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        num_sanity_val_steps=0,
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        trainer.fit(model, DataLoader(TensorDataset(x_train, y_train), batch_size=64, shuffle=True))


# ---------------------------------------------------------------------------------------------------- report
def report_healthy(name: str, probes: list[FindingsProbe]) -> None:
    rows = [r for p in probes for r in p.rows]
    kinds = Counter(k for r in rows for k in r["faults"])
    flagged = sum(1 for r in rows if r["faults"])
    print(f"\n== {name}: {len(probes)} seed(s), {len(rows)} layer-steps (layers x logged steps x seeds)")
    print(f"fault findings per kind: {', '.join(f'{k} {kinds.get(k, 0)}' for k in FAULT_KINDS)}")
    print(f"false-positive rate: {flagged}/{len(rows)} layer-steps = {flagged / max(len(rows), 1):.2%}")
    for r in rows:
        if r["faults"]:
            print(f"  step {r['step']} {r['layer']}: {r['faults']}")
    th = FindingThresholds()

    def extreme(key, fn):
        vals = [r[key] for r in rows if r[key] is not None and math.isfinite(r[key])]
        return fn(vals) if vals else math.nan

    print("closest approach to each threshold (all seeds, layers and steps):")
    print(f"  dead units        max share {extreme('dead', max):.3f}   (threshold {th.dead_share})")
    print(f"  constant units    max share {extreme('constant', max):.3f}   (threshold {th.constant_share})")
    print(f"  collapsed         min spread {extreme('spread', min):.3f} (threshold {th.collapse_spread}), "
          f"min effective dims {extreme('dims', min):.2f} (threshold {th.collapse_dims})")  # fmt: skip
    print(f"  saturated units   max share {extreme('saturated', max):.3f}   (threshold {th.saturated_share})")
    print(f"  not_learning      min activation change between epochs {extreme('change', min):.2e} "
          f"(threshold {th.still_rtol:g})")  # fmt: skip
    print(
        f"  exploding         max norm growth {extreme('growth', max):.2f}x (threshold {th.exploding_factor:g}x)"
    )
    print(f"                    max growth in one logged step {extreme('step_growth', max):.2f}x, "
          f"max growth within the window after step 0 {extreme('trained_growth', max):.2f}x")  # fmt: skip
    worst = max((r for r in rows if math.isfinite(r["growth"])), key=lambda r: r["growth"], default=None)
    if worst is not None:
        print(f"                    (largest at step {worst['step']}, layer {worst['layer']})")
    by_layer: dict[str, Counter] = {}
    for p in probes:
        for f in p.tracker.findings:
            by_layer.setdefault(f.layer, Counter())[f.kind] += 1
    print("class findings reported (all seeds): " + "; ".join(
        f"{layer}: " + ", ".join(f"{k} {n}" for k, n in sorted(c.items())) for layer, c in by_layer.items()
    ))  # fmt: skip
    for p in probes[:1]:
        seps = [f for f in p.tracker.findings if f.kind == "separation"]
        if seps:
            first = Counter()
            for f in seps:
                first[(f.layer, f.step)] += 1
            print("first seed, classes separated per (layer, first step): " + ", ".join(
                f"{layer}@{step}: {n}" for (layer, step), n in sorted(first.items())
            ))  # fmt: skip


def report_faults(probes: dict[str, FindingsProbe]) -> None:
    print("\n== broken digits CNNs: fault kinds found, by layer (first step found)")
    for fault, p in probes.items():
        found: dict[str, list[str]] = {}
        for f in p.tracker.findings:
            if f.is_fault:
                found.setdefault(f.layer, []).append(f"{f.kind}@{f.step}")
        print(
            f"  {fault:<13} -> " + ("; ".join(f"{k}: {', '.join(v)}" for k, v in found.items()) or "nothing")
        )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", default="digits", help="comma-separated: digits, transformer (or none)")
    parser.add_argument("--seeds", default="0,1,2", help="comma-separated seeds (default: %(default)s)")
    parser.add_argument("--epochs", type=int, default=None, help="epochs (default: the examples' 15 and 20)")
    parser.add_argument(
        "--faults", action="store_true", help="also train broken digits CNNs (true positives)"
    )
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    seeds = [int(s) for s in args.seeds.split(",")]
    start = time.perf_counter()
    for model in args.models.split(","):
        if model == "none":
            continue
        if model == "digits":
            probes = [run_digits(s, args.epochs or 15) for s in seeds]
        elif model == "transformer":
            probes = [run_transformer(s, args.epochs or 20) for s in seeds]
        else:
            parser.error(f"unknown model {model!r}")
        report_healthy(model, probes)
    if args.faults:
        faults = ("dead", "constant", "saturated", "not_learning", "exploding")
        report_faults({f: run_digits(seeds[0], args.epochs or 6, fault=f) for f in faults})
    print(f"\n({time.perf_counter() - start:.0f} s)")


if __name__ == "__main__":
    main()
