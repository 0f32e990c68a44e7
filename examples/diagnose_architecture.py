"""Diagnosis: the digits CNN trained twice into one log directory, once healthy and once with a real fault.

The ``broken`` run differs from the ``healthy`` one in a single number: the biases of its ``hidden`` layer start at
-1 instead of 0. Every ReLU in that layer then outputs 0 for every input, so no gradient flows through it and it
never recovers. The loss alone only says that the network does not learn; TopoActMonitor says where and why, from
the untrained network on:

- a finding and one warning naming the layer, the kind of fault, the epoch and the usual fix (``layer 'hidden' is
  dead at epoch 0: 100% of its units never fire ... Usual fix: start the biases at 0 or slightly above ...``);
  ``monitor.findings`` lists them, with the class findings (which digits share nodes) of the healthy run;
- the ``topoact/hidden/dead_units`` scalar at 1, ``effective_rank`` at 0 (the probe collapsed to one point);
- in the TopoAct tab, the hidden layer's graph is a single node holding every class (``largest_node_share`` 1,
  ``purity`` 0), while the healthy run separates the ten digits;
- the layers before it are frozen too (no gradient reaches them): their graphs stop changing, ``distance`` (how
  much a layer's graph moved since the previous epoch) stays at 0.

At the end the script prints both runs' final metrics side by side, and the broken run's fault findings.

    python examples/diagnose_architecture.py --logdir runs/diagnosis
    tensorboard --logdir runs/diagnosis    # compare the runs "healthy" and "broken" in the TOPOACT tab
"""

from __future__ import annotations

import time
import warnings
from pathlib import Path

import lightning.pytorch as pl
import torch
from digits_cnn import LAYERS, DigitsCNN, digits_data, make_monitor, parse_args, train

RUNS = ("healthy", "broken")
BROKEN_BIAS = -1.0
TABLE_METRICS = ("dead_units", "effective_rank", "purity", "largest_node_share", "components", "distance")


def make_model(run: str, seed: int) -> DigitsCNN:
    pl.seed_everything(seed, verbose=False)
    model = DigitsCNN()
    if run == "broken":
        with torch.no_grad():
            model.hidden[0].bias.fill_(BROKEN_BIAS)  # the fault: every hidden ReLU starts (and stays) off
    return model


def final_scalars(run_dir: Path) -> dict[str, float]:
    """The last value of every scalar in a run's event files, read back with TensorBoard's own reader."""
    from tensorboard.backend.event_processing.event_accumulator import SCALARS, EventAccumulator

    acc = EventAccumulator(str(run_dir), size_guidance={SCALARS: 0})
    acc.Reload()
    return {tag: acc.Scalars(tag)[-1].value for tag in acc.Tags()["scalars"]}


def comparison_table(results: dict[str, dict[str, float]]) -> str:
    rows = [("val_acc", "", "val_acc")]
    rows += [(layer, metric, f"topoact/{layer}/{metric}") for layer in LAYERS for metric in TABLE_METRICS]
    header = f"{'layer':<8} {'metric':<20}" + "".join(f"{run:>10}" for run in results)
    lines = [header, "-" * len(header)]
    for layer, metric, tag in rows:
        cells = "".join(
            f"{results[run][tag]:>10.3f}" if tag in results[run] else f"{'-':>10}" for run in results
        )
        lines.append(f"{layer:<8} {metric:<20}{cells}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> dict[str, dict[str, float]]:
    args = parse_args(argv, name="diagnose_architecture", epochs=10, doc=__doc__)
    start = time.perf_counter()
    results: dict[str, dict[str, float]] = {}
    alerts: dict[str, list[str]] = {}
    findings: dict[str, list] = {}
    probe_size = 150 if args.quick else None
    _, _, x_val, y_val = digits_data(args.seed)
    for run in RUNS:
        print(f"== training the {run} run")
        monitor = make_monitor(x_val[:probe_size], y_val[:probe_size])
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            _, final = train(
                args.logdir,
                run,
                args.epochs,
                probe_size=probe_size,
                seed=args.seed,
                progress=False,
                model=make_model(run, args.seed),
                monitor=monitor,
            )
        findings[run] = monitor.findings
        # Show the warnings as usual, and keep TopoActMonitor's for the summary.
        for w in caught:
            warnings.showwarning(w.message, w.category, w.filename, w.lineno)
        alerts[run] = [str(w.message) for w in caught if str(w.message).startswith("TopoActMonitor")]
        run_dirs = sorted(Path(args.logdir, run).glob("version_*"), key=lambda p: p.stat().st_mtime)
        results[run] = final_scalars(run_dirs[-1]) | {"val_acc": final["val_acc"]}

    print(f"\n== final metrics after {args.epochs} epochs ({time.perf_counter() - start:.0f} s)")
    print(comparison_table(results))
    for run in RUNS:
        print(f"\n{run}: {len(alerts[run])} TopoActMonitor warning(s)")
        for message in alerts[run]:
            print(f"  {message}")
    for run in RUNS:
        faults = [f for f in findings[run] if f.is_fault]
        classes = len(findings[run]) - len(faults)
        print(f"\n{run}: {len(faults)} fault finding(s), {classes} class finding(s)")
        for f in faults:
            print(f"  layer {f.layer!r}, epoch {f.step}: {f.kind}: {f.message}\n    usual fix: {f.fix}")
    print(f"\nview both runs: tensorboard --logdir {args.logdir}   (open the TOPOACT tab)")
    return results


if __name__ == "__main__":
    main()
