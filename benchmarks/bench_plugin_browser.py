"""Time to first render and to switch epochs of the TopoAct tab in headless Chromium, for a 2,000-node graph.

The reference, measured in the same page and run: a plain ``fetch`` + ``JSON.parse`` of the same graph payload,
i.e. the least any front end must spend to show that graph. The ratios say what drawing, layout and alignment
add on top.

    .venv/bin/python benchmarks/bench_plugin_browser.py [--nodes 2000] [--epochs 4] [--repeats 5]
"""

from __future__ import annotations

import argparse
import math
import os
import statistics
import sys
import tempfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def synthetic_graph(
    n_samples: int, n_classes: int, epoch: int, n_epochs: int, n_intervals: int, chunk: int, seed=0
):
    """A Mapper-like graph whose classes separate as ``epoch`` grows.

    Samples have a fixed lens value in [0, 1) and a second coordinate that moves from noise towards their class's
    band. Each of ``n_intervals`` overlapping lens intervals is cut into chunks of about ``chunk`` samples along
    the second coordinate (a stand-in for clustering); overlapping intervals give the nerve its edges.
    """
    from topoact_lightning.engine.graph import MapperGraph

    rng = np.random.default_rng(seed)
    labels = rng.integers(0, n_classes, n_samples)
    lens = rng.random(n_samples)
    noise = rng.standard_normal(n_samples)
    drift = np.random.default_rng(seed + 1 + epoch).standard_normal(n_samples) * 0.05
    s = epoch / max(n_epochs, 1)
    y = (1 - s) * noise + s * (labels + 0.15 * noise) + drift
    width = 1.0 / n_intervals
    overlap = 0.3
    members, cover, bounds = [], [], []
    for j in range(n_intervals):
        lo, hi = j * width - overlap * width / 2, (j + 1) * width + overlap * width / 2
        bounds.append([[lo, hi]])
        idx = np.flatnonzero((lens >= lo) & (lens < hi))
        idx = idx[np.argsort(y[idx])]
        for part in np.array_split(idx, max(1, math.ceil(len(idx) / chunk))):
            if len(part):
                members.append(part)
                cover.append(j)
    correct = (rng.random(n_samples) < 0.3 + 0.65 * s).astype(np.float32)
    loss = rng.exponential(2.0 * (1 - s) + 0.1, n_samples).astype(np.float32)
    return MapperGraph(
        n_samples=n_samples,
        members=members,
        node_cover=np.array(cover),
        cover_bounds=np.array(bounds),
        lens=lens.astype(np.float32),
        labels=labels,
        class_names=[f"class {k}" for k in range(n_classes)],
        extras={"correct": correct, "loss": loss},
        params={"lens": "synthetic", "n_intervals": n_intervals, "overlap": overlap},
    )


def write_synthetic_logs(
    logdir: Path, *, n_nodes: int = 2000, n_epochs: int = 4, run: str = "synthetic"
) -> Path:
    """Logs ``n_epochs + 1`` graphs (steps 0..n_epochs) of about ``n_nodes`` nodes each, as the callback would."""
    from torch.utils.tensorboard import SummaryWriter

    from topoact_lightning.logformat import summary

    n_intervals = 100
    chunk = 12
    n_samples = int(n_nodes * chunk / 1.32)
    writer = SummaryWriter(str(Path(logdir) / run))
    for epoch in range(n_epochs + 1):
        g = synthetic_graph(n_samples, 10, epoch, n_epochs, n_intervals, chunk)
        summary.write_summary(writer, summary.graph_summary("features", g.to_bytes()), epoch)
    writer.close()
    return Path(logdir)


# In the plugin's iframe: the reference, a bare fetch of one graph and its parse, cache-busted like a cold load.
# Both ways of parsing are timed (Response.json() parses the bytes directly; text() + JSON.parse builds a string
# first); the faster one is the reference.
_REFERENCE_JS = """async ([run, layer, epoch]) => {
    const url = () => `./graph?run=${encodeURIComponent(run)}&layer=${encodeURIComponent(layer)}&epoch=${epoch}&_=${Math.random()}`;
    let t0 = performance.now();
    const a = JSON.parse(await (await fetch(url())).text());
    const viaText = performance.now() - t0;
    t0 = performance.now();
    const b = await (await fetch(url())).json();
    const viaJson = performance.now() - t0;
    return [Math.min(viaText, viaJson), a.nodes.length, viaText, viaJson];
}"""

# Switch the tab to `epoch` (through its state, as the slider does). Two clocks: the page's own, from the state
# change to the new graph drawn on the canvas (fetch, parse, node matching, seeding, drawing), and an outside one
# that stops at the first animation frame after that drawing, i.e. when it can be on screen. `cold` empties the
# response cache first, so the graph is fetched and parsed again.
_SWITCH_JS = """async ([epoch, cold]) => {
    const t = window.__topoact;
    if (cold) t.clearCache();
    const before = t.timings.renders;
    const t0 = performance.now();
    t.app.store.set({ epoch });
    // The first animation frame that starts after the drawing is the one that puts it on screen.
    while (t.timings.renders === before) await new Promise((r) => requestAnimationFrame(r));
    return [t.timings.lastSwitch, performance.now() - t0, t.timings.parts];
}"""

# Frames presented per second while the nodes move to their places after a switch (drawing the tween), the median
# full redraw, and the median time to lay the epoch out after the one before it (one step of the layout chain).
_FPS_JS = """async ([epoch]) => {
    const t = window.__topoact;
    await t.idle();
    const before = t.timings.renders;
    t.app.store.set({ epoch });
    while (t.timings.renders === before) await new Promise((r) => setTimeout(r, 5));
    let frames = 0;
    const t0 = performance.now();
    await new Promise((resolve) => {
        const step = () => { frames++; if (performance.now() - t0 < 1000) requestAnimationFrame(step); else resolve(); };
        requestAnimationFrame(step);
    });
    const fps = frames * 1000 / (performance.now() - t0);
    t.settle();
    return [fps, t.drawMs(), t.layoutStepMs()];
}"""


def main() -> None:
    from tests._browser import chromium, open_topoact, serve_tensorboard

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--nodes", type=int, default=2000)
    ap.add_argument("--epochs", type=int, default=4)
    ap.add_argument("--repeats", type=int, default=5)
    args = ap.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        logdir = write_synthetic_logs(Path(tmp) / "logs", n_nodes=args.nodes, n_epochs=args.epochs)
        with serve_tensorboard(logdir) as base, chromium() as browser:
            first, ref_first, n_nodes = [], [], 0
            for _ in range(args.repeats):
                page, frame, watch = open_topoact(browser, base)
                first.append(frame.evaluate("() => window.__topoact.timings.firstRender"))
                frame.evaluate("() => window.__topoact.idle()")  # the reference gets a quiet page
                ms, n_nodes, _, _ = frame.evaluate(_REFERENCE_JS, ["synthetic", "features", args.epochs])
                ref_first.append(ms)
                if watch.problems():
                    raise SystemExit(f"page problems: {watch.problems()}")
                page.context.close()

            page, frame, _ = open_topoact(browser, base)
            ref, runs = [], {"not cached": ([], []), "prefetched": ([], [])}
            parts = []
            epochs = list(range(args.epochs + 1))
            for cold, name in ((True, "not cached"), (False, "prefetched")):
                for r in range(args.repeats):
                    for e in reversed(epochs[:-1]) if r % 2 == 0 else epochs[1:]:
                        if cold:  # the reference, on the same graph, with the server's cache warm for both
                            frame.evaluate(_REFERENCE_JS, ["synthetic", "features", e])
                            frame.evaluate("() => window.__topoact.idle()")
                            ref.append(frame.evaluate(_REFERENCE_JS, ["synthetic", "features", e])[0])
                        else:  # what the slider's neighbour prefetch provides
                            frame.evaluate("(e) => window.__topoact.prefetch(e)", e)
                        frame.evaluate("() => window.__topoact.idle()")  # no fetch or relaxation running
                        drawn, on_screen, p = frame.evaluate(_SWITCH_JS, [e, cold])
                        runs[name][0].append(drawn)
                        runs[name][1].append(on_screen)
                        if not cold:
                            parts.append(p)
            target = 0 if frame.evaluate("() => window.__topoact.epoch") != 0 else args.epochs
            fps, draw_ms, tick_ms = frame.evaluate(_FPS_JS, [target])
            page.context.close()

    med = statistics.median
    n_switches = len(runs["not cached"][0])
    print(
        f"graph: {n_nodes} nodes, {args.epochs + 1} epochs; medians of {args.repeats} page loads and "
        f"{n_switches} switches; headless Chromium (software rendering), {os.cpu_count()} cores"
    )
    print(
        f"first render (render() to graph drawn): {med(first):6.1f} ms   reference fetch+parse {med(ref_first):6.1f} ms"
        f"   ratio {med(first) / med(ref_first):5.2f}x"
    )
    for name, (drawn, on_screen) in runs.items():
        print(
            f"epoch switch, graph {name + ':':11s} drawn {med(drawn):6.1f} ms, next frame {med(on_screen):6.1f} ms"
            f"   reference fetch+parse {med(ref):6.1f} ms   ratio {med(drawn) / med(ref):5.2f}x"
            f" / {med(on_screen) / med(ref):5.2f}x"
        )
    split = {k: med(p[k] for p in parts) for k in parts[0]}
    print("  prefetched switch, median parts (ms): " + ", ".join(f"{k} {v:.1f}" for k, v in split.items()))
    print(
        f"moving to the new layout after a switch: {fps:.0f} frames/s; median full redraw {draw_ms:.1f} ms, "
        f"median layout of an epoch after the one before {tick_ms:.1f} ms"
    )
    print(
        f"load average during the run: {os.getloadavg()[0]:.1f} (other work on the machine inflates every figure)"
    )


if __name__ == "__main__":
    main()
