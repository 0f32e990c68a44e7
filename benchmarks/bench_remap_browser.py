"""First render after a parameter change in the TopoAct tab (headless Chromium, real ``tensorboard``), for a
probe of 1,000 samples with 512-wide stored activations.

Each repetition shows a layer the server has not re-mapped yet, as logged, then picks one of TopoAct's presets in
the parameter card (its real select element): the time runs from the change event to the re-mapped graph drawn
(the server decodes the stored activations and runs Mapper; the page fetches, parses, seeds and draws). The
reference, in the same page and run: switching the same layer back to "As logged" with the page's response cache
emptied, i.e. fetching and drawing a logged graph the server has already decoded. The ratio says what re-mapping
adds to showing a graph.

    .venv/bin/python benchmarks/bench_remap_browser.py [--samples 1000] [--dim 512] [--repeats 6]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

PRESETS = [
    "Overlap-20-Epsilon-Fixed",
    "Overlap-30-Epsilon-Fixed",
    "Overlap-50-Epsilon-Fixed",
    "Overlap-20-Epsilon-Adaptive",
    "Overlap-30-Epsilon-Adaptive",
    "Overlap-50-Epsilon-Adaptive",
]


def activations(
    n: int, d: int, n_classes: int, epoch: int, n_epochs: int, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """ReLU'd Gaussian-mixture activations whose classes separate as ``epoch`` grows, and their labels."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, n_classes, n)
    centres = rng.normal(size=(n_classes, d)).astype(np.float32)
    s = (epoch + 1) / (n_epochs + 1)
    noise = np.random.default_rng(seed + 1 + epoch).normal(size=(n, d)).astype(np.float32)
    return np.maximum(0.0, 2.0 * s * centres[labels] + noise), labels


def write_logs(logdir: Path, *, n: int, d: int, layers: int, epochs: int) -> Path:
    """``layers`` layers, each logged at steps 0..epochs-1 as the callback does: graph and stored activations."""
    from torch.utils.tensorboard import SummaryWriter

    from topoact_lightning import Mapper
    from topoact_lightning.logformat import summary

    writer = SummaryWriter(str(logdir / "run"))
    for step in range(epochs):
        for k in range(layers):
            x, y = activations(n, d, 10, step, epochs, seed=100 * k)
            g = Mapper(n_intervals=20, overlap=0.3).fit_graph(
                x, labels=y, class_names=[str(c) for c in range(10)]
            )
            summary.write_summary(writer, summary.graph_summary(f"layer{k}", g.to_bytes(), position=k), step)
            blobs = summary.encode_activations(x)
            summary.write_summary(writer, summary.activations_summary(f"layer{k}", blobs, position=k), step)
    writer.close()
    return logdir


# Picks `value` in the card's preset select as a user would (a change event) and waits for the graph it brings to
# be drawn; `cold` empties the page's response cache first. Returns the page's clock and the graph drawn.
_PICK_JS = """async ([value, cold]) => {
    const t = window.__topoact;
    if (cold) t.clearCache();
    const sel = document.querySelector('[data-testid=params-preset]');
    const want = value !== 'As logged';
    const before = t.timings.renders;
    const t0 = performance.now();
    sel.value = value;
    sel.dispatchEvent(new Event('change'));
    while (t.timings.renders === before || Boolean(t.graph().remapped) !== want) {
        await new Promise((r) => requestAnimationFrame(r));
    }
    return [performance.now() - t0, t.graph().nodes.length];
}"""


def quiet(frame, page) -> None:
    """No request in flight (the chart's metrics and the neighbour prefetch re-map after the render)."""
    for _ in range(2):
        frame.evaluate("() => window.__topoact.idle()")
        page.wait_for_timeout(300)
    frame.evaluate("() => window.__topoact.idle()")


def main() -> None:
    from tests._browser import chromium, open_topoact, serve_tensorboard

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--samples", type=int, default=1000)
    ap.add_argument("--dim", type=int, default=512)
    ap.add_argument("--repeats", type=int, default=6)
    ap.add_argument("--epochs", type=int, default=3)
    args = ap.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        logdir = write_logs(Path(tmp), n=args.samples, d=args.dim, layers=args.repeats, epochs=args.epochs)
        with serve_tensorboard(logdir) as base, chromium() as browser:
            page, frame, watch = open_topoact(
                browser, base, hash_extra="&p.topoact.run=run&p.topoact.layer=layer0"
            )
            remap, logged, nodes = [], [], []
            for r in range(args.repeats):
                # A layer the server has not re-mapped (nor decoded the activations of) yet, shown as logged.
                frame.evaluate("(l) => window.__topoact.app.set({ layer: l })", f"layer{r}")
                frame.wait_for_function("(l) => document.body.dataset.layer === l", arg=f"layer{r}")
                quiet(frame, page)
                ms, n_nodes = frame.evaluate(_PICK_JS, [PRESETS[r % len(PRESETS)], True])
                remap.append(ms)
                nodes.append(n_nodes)
                quiet(frame, page)
                logged.append(frame.evaluate(_PICK_JS, ["As logged", True])[0])
                quiet(frame, page)
            if watch.problems():
                raise SystemExit(f"page problems: {watch.problems()}")
            page.context.close()

    med = statistics.median
    print(
        f"probe: {args.samples} samples x {args.dim} stored activations; {args.repeats} preset changes, each on a "
        f"layer not re-mapped before ({min(nodes)}-{max(nodes)} nodes); headless Chromium, {os.cpu_count()} cores"
    )
    print(
        f"preset change to re-mapped graph drawn: median {med(remap):6.1f} ms (max {max(remap):6.1f})   "
        f"reference 'As logged' switch {med(logged):6.1f} ms   ratio {med(remap) / med(logged):5.2f}x"
    )
    print(
        f"load average during the run: {os.getloadavg()[0]:.1f} (other work on the machine inflates every figure)"
    )


if __name__ == "__main__":
    main()
