"""The projection panel's costs: PCA, Procrustes and t-SNE of a 1,000 x 512 layer, and the projection route.

Side by side in one run, medians of ``--repeat`` rounds (round-robin):

1. ``pca_2d`` (the engine) vs scikit-learn's ``PCA(n_components=2)`` (its default solver) and
   ``PCA(n_components=2, svd_solver="full")`` (exact, like the engine), on ReLU-like float32 activations; the
   largest coordinate difference to scikit-learn's full solver is printed too (the engine follows its signs).
   Beside them the Mapper lenses ``pca_lens`` with one and two components (float32, the same
   ``principal_basis``), against scikit-learn's default solver with as many components.
2. ``procrustes_align`` of one epoch's 2-D embedding onto the previous one.
3. ``tsne_2d`` of 1,000 points vs scikit-learn's ``TSNE(init="pca")`` (its defaults) on the same data, medians of
   ``--tsne-rounds`` alternating rounds (target of issue 21: under 1 s at 1,000 x 512).
4. The plugin's ``projection`` route through an in-process TensorBoard app over a log of ``--epochs`` epochs:
   cold (a fresh plugin: the first request at the last epoch computes the whole alignment chain), warm (cached),
   and the next epoch after a warm one (one new chain link); t-SNE cold and warm at one epoch.

Usage:
    python benchmarks/bench_projection.py [--n 1000] [--d 512] [--repeat 15] [--epochs 10]
    python benchmarks/bench_projection.py --n 10000 --d 512 --pca-only   # step 1 alone (the lens sizes)
    python benchmarks/bench_projection.py --tsne-only --tsne-rounds 5   # step 3 alone (the issue 21 figure)
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_plugin import ms, multiplexer_provider, timed  # noqa: E402

from topoact_lightning.engine.lenses import pca_lens  # noqa: E402
from topoact_lightning.engine.projection import pca_2d, procrustes_align, tsne_2d  # noqa: E402
from topoact_lightning.logformat import summary  # noqa: E402


def activations(n: int, d: int, step: int) -> np.ndarray:
    """ReLU activations of a 10-class mixture whose class means drift a little each epoch."""
    rng = np.random.default_rng(0)
    means = rng.normal(size=(10, d))
    drift = np.random.default_rng(step + 1).normal(size=(10, d)) * 0.1 * step
    labels = np.arange(n) % 10
    x = means[labels] + drift[labels] + rng.normal(size=(n, d)) * 0.8
    return np.maximum(x, 0).astype(np.float32)


def median_ms(fn, repeat: int) -> float:
    return ms([timed(fn) for _ in range(repeat)])


def pca(n: int, d: int, repeat: int) -> None:
    from sklearn.decomposition import PCA

    x = activations(n, d, 3)
    cases = {
        "engine pca_2d": lambda: pca_2d(x),
        "sklearn PCA(2), default solver": lambda: PCA(n_components=2).fit_transform(x),
        "sklearn PCA(2), full SVD": lambda: PCA(n_components=2, svd_solver="full").fit_transform(x),
        "engine pca_lens, 1 component": lambda: pca_lens(x, 1),
        "engine pca_lens, 2 components": lambda: pca_lens(x, 2),
        "sklearn PCA(1), default solver": lambda: PCA(n_components=1).fit_transform(x),
    }
    for fn in cases.values():
        fn()  # warm up (imports, BLAS threads)
    times = {name: [] for name in cases}
    for _ in range(repeat):
        for name, fn in cases.items():
            times[name].append(timed(fn))
    med = {name: ms(t) for name, t in times.items()}
    print(f"PCA of {n} x {d} float32 (median of {repeat}, ms; load average {os.getloadavg()[0]:.1f})")
    for name, t in med.items():
        print(f"  {name:34s} {t:8.1f}")
    ref = med["sklearn PCA(2), default solver"]
    print(f"  ratio engine / sklearn default: {med['engine pca_2d'] / ref:.2f}")
    print(f"  ratio engine / sklearn full:    {med['engine pca_2d'] / med['sklearn PCA(2), full SVD']:.2f}")
    print(
        f"  ratio pca_lens(1) / sklearn PCA(1) default: {med['engine pca_lens, 1 component'] / med['sklearn PCA(1), default solver']:.2f}"
    )
    print(f"  ratio pca_lens(2) / sklearn PCA(2) default: {med['engine pca_lens, 2 components'] / ref:.2f}")
    full = PCA(n_components=2, svd_solver="full").fit_transform(x.astype(np.float64))
    top = np.abs(full).max()
    print(f"  max |engine - sklearn full| / max |sklearn|:   {np.abs(pca_2d(x) - full).max() / top:.1e}")
    lens = pca_lens(x, 2)[0]
    # The lens has no sign convention to share (it follows the previous epoch's basis): compared up to sign.
    lens_err = np.abs(np.abs(lens) - np.abs(full)).max() / top
    print(f"  max ||lens| - |sklearn full|| / max |sklearn|: {lens_err:.1e}")


def engine(n: int, d: int, repeat: int, tsne_rounds: int = 3) -> None:
    pca(n, d, repeat)
    x = activations(n, d, 3)
    prev = pca_2d(activations(n, d, 2))
    y = pca_2d(x)
    print(
        f"Procrustes of {n} x 2 onto the previous epoch: {median_ms(lambda: procrustes_align(y, prev), repeat):.2f} ms"
    )

    tsne(n, d, tsne_rounds)


def tsne(n: int, d: int, rounds: int) -> None:
    """tsne_2d against scikit-learn's TSNE (its defaults, init="pca") on the same activations, alternating."""
    from sklearn.manifold import TSNE

    x = activations(n, d, 3)
    tsne_2d(x, max_iter=10)  # imports and first-call costs out of the way
    tsne_rounds = rounds
    ours, theirs = [], []
    for _ in range(tsne_rounds):  # alternating, medians
        ours.append(timed(lambda: tsne_2d(x)))
        theirs.append(timed(lambda: TSNE(n_components=2, init="pca", random_state=0).fit_transform(x)))
    o, t = float(np.median(ours)), float(np.median(theirs))
    print(
        f"t-SNE of {n} x {d} (medians of {tsne_rounds} alternating rounds, load average {os.getloadavg()[0]:.1f}): "
        f"engine tsne_2d {o:.2f} s (target under 1 s), sklearn TSNE(init='pca') {t:.2f} s, "
        f"speed-up {t / o:.1f}x"
    )


def route(n: int, d: int, repeat: int, epochs: int) -> None:
    from tensorboard.backend import application
    from tensorboard.plugins import base_plugin
    from topoact_tensorboard.plugin import TopoActPlugin
    from torch.utils.tensorboard import SummaryWriter
    from werkzeug import test as werkzeug_test
    from werkzeug import wrappers

    from topoact_lightning import Mapper

    logdir = tempfile.mkdtemp(prefix="bench_projection_")
    writer = SummaryWriter(os.path.join(logdir, "run"))
    labels = np.arange(n) % 10
    for step in range(epochs):
        x = activations(n, d, step)
        graph = Mapper(n_intervals=10).fit_graph(x, labels=labels)
        summary.write_summary(writer, summary.graph_summary("fc", graph.to_bytes()), step)
        summary.write_summary(writer, summary.activations_summary("fc", summary.encode_activations(x)), step)
    writer.close()

    def client():
        provider = multiplexer_provider(logdir)
        plugin = TopoActPlugin(base_plugin.TBContext(logdir=logdir, data_provider=provider))
        app = application.TensorBoardWSGI([plugin], data_provider=provider)
        return werkzeug_test.Client(app, wrappers.Response)

    def get(c, epoch, method="pca"):
        r = c.get(
            "/data/plugin/topoact/projection",
            query_string={"run": "run", "layer": "fc", "epoch": epoch, "method": method},
        )
        assert r.status_code == 200, r.get_data(as_text=True)
        return r

    last = epochs - 1
    cold, next_epoch = [], []
    for _ in range(max(3, repeat // 3)):
        c = client()
        cold.append(timed(lambda c=c: get(c, last - 1)))
        next_epoch.append(timed(lambda c=c: get(c, last)))
    warm = median_ms(lambda: get(c, last), repeat)
    size = len(get(c, last).get_data())
    print(
        f"projection route, {n} x {d}, {epochs} epochs logged (ms; in-process TensorBoard app, Python back end)"
    )
    print(f"  cold, epoch {last - 1} (chain of {last} PCAs):  {ms(cold):8.1f}")
    print(f"  next epoch after it (one link):   {ms(next_epoch):8.1f}")
    print(
        f"  warm (cached):                    {warm:8.1f}   answer {size / 1024:.0f} KiB (JSON, before gzip)"
    )
    tsne_cold = timed(lambda: get(c, last, "tsne"))
    tsne_warm = median_ms(lambda: get(c, last, "tsne"), repeat)
    print(f"  t-SNE cold {tsne_cold:.2f} s, warm {tsne_warm:.1f} ms")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=1000)
    parser.add_argument("--d", type=int, default=512)
    parser.add_argument("--repeat", type=int, default=15)
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--pca-only", action="store_true", help="step 1 alone (no t-SNE, no route)")
    parser.add_argument("--tsne-only", action="store_true", help="step 3 alone (t-SNE against scikit-learn)")
    parser.add_argument("--tsne-rounds", type=int, default=3)
    args = parser.parse_args()
    print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    if args.pca_only:
        pca(args.n, args.d, args.repeat)
        return
    if args.tsne_only:
        tsne(args.n, args.d, args.tsne_rounds)
        return
    engine(args.n, args.d, args.repeat, args.tsne_rounds)
    route(args.n, args.d, args.repeat, args.epochs)


if __name__ == "__main__":
    main()
