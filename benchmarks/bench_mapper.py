"""Mapper engine vs KeplerMapper, side by side in one run.

For each case (N samples x D features of activation-like data) both engines get the same lens array (the first
principal component), the same cover (``kmapper.Cover(30, 0.3)`` / ``Mapper(cover="kmapper", n_intervals=30,
overlap=0.3)``) and the same ``DBSCAN(eps, min_samples=5)`` instance (eps from the knee rule). Rounds are run
round-robin (kmapper, exact, fast, kmapper, ...) and medians reported, because the machine is shared.

Printed per case: medians, the speed-up of the exact engine and of fast mode over ``KeplerMapper.map``, whether
the exact graph is identical to KeplerMapper's (node member sets and edges), and the adjusted Rand index of fast
mode's point-to-node assignment against the exact graph (:func:`topoact_lightning.engine.compare.membership_ari`).

Data: ReLU-clipped Gaussian class mixtures, float32: 10 classes, each a random centre plus a rank-16 Gaussian
factor model (activations have low intrinsic dimension) plus isotropic noise of standard deviation 0.1.
``--isotropic`` replaces the factor model by isotropic noise of standard deviation 0.6 (full-rank: hard for any
dimension reduction, so fast mode's ARI drops there).

``--million`` adds issue 21's large case, each part in a fresh process (so that peak memory is the fit's):
scale mode (``Mapper(scale=True)``, 30 intervals, 30% overlap, automatic eps, default lens) on 1,000,000 x 256 of the
same activations generated in chunks (the generator's peak stays below the input's size), wall clock of the fit and
peak resident memory over the input's size, then the agreement (ARI) of scale mode with exact mode on the first
200,000 samples (both with the eps exact mode chooses there). Each figure is printed beside its target.

Usage:
    python benchmarks/bench_mapper.py                 # default cases (includes N=50k, D=512)
    python benchmarks/bench_mapper.py --quick         # small cases only
    python benchmarks/bench_mapper.py --cases 50000x512,10000x4096 --rounds 3
    python benchmarks/bench_mapper.py --cases 50000x512 --rounds 5 --million   # the issue 21 figures
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time

import kmapper
import numpy as np
from sklearn.cluster import DBSCAN

from topoact_lightning import Mapper
from topoact_lightning.engine.compare import membership_ari
from topoact_lightning.engine.lenses import pca_lens
from topoact_lightning.engine.neighbors import auto_eps

DEFAULT_CASES = "2000x64,2000x512,2000x4096,10000x64,10000x512,10000x4096,50000x64,50000x512"
QUICK_CASES = "2000x64,2000x512,10000x512"


def activations(n: int, d: int, *, isotropic: bool = False, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    k, rank = 10, 16
    y = rng.integers(0, k, n)
    centres = rng.normal(size=(k, d)).astype(np.float32)
    X = centres[y]
    if isotropic:
        X += rng.normal(size=(n, d)).astype(np.float32) * 0.6
    else:
        factors = (rng.normal(size=(k, rank, d)) / np.sqrt(rank)).astype(np.float32)
        z = rng.normal(size=(n, rank)).astype(np.float32)
        for c in range(k):
            rows = y == c
            X[rows] += 0.8 * z[rows] @ factors[c]
        X += rng.normal(size=(n, d)).astype(np.float32) * 0.1
    return np.maximum(X, 0, out=X)


def activations_chunked(n: int, d: int, *, seed: int = 0, chunk: int = 65536) -> np.ndarray:
    """:func:`activations`' model (same class centres and factors for a seed), generated ``chunk`` rows at a time
    into one float32 array: the generator holds a chunk's temporaries, not float64 copies of the whole input.
    The first rows are the same for any ``n``, so a smaller ``n`` is a subset of a larger one."""
    rng = np.random.default_rng(seed)
    k, rank = 10, 16
    centres = rng.normal(size=(k, d)).astype(np.float32)
    factors = (rng.normal(size=(k, rank, d)) / np.sqrt(rank)).astype(np.float32)
    X = np.empty((n, d), dtype=np.float32)
    for start in range(0, n, chunk):
        part = np.random.default_rng([seed, start])
        m = min(chunk, n - start)
        y = part.integers(0, k, m)
        block = centres[y]
        z = part.normal(size=(m, rank)).astype(np.float32)
        for c in range(k):
            rows = y == c
            block[rows] += 0.8 * z[rows] @ factors[c]
        block += part.normal(size=(m, d)).astype(np.float32) * 0.1
        X[start : start + m] = np.maximum(block, 0)
    return X


def same_graph(km: dict, g) -> bool:
    ids = g.node_ids
    ours = {ids[i]: m.tolist() for i, m in enumerate(g.members)}
    theirs = {name: sorted(m) for name, m in km["nodes"].items()}
    our_edges = {frozenset((ids[a], ids[b])) for a, b in g.edges.tolist()}
    their_edges = {frozenset((a, b)) for a, bs in km["links"].items() for b in bs}
    return ours == theirs and our_edges == their_edges


def run_case(n: int, d: int, rounds: int, isotropic: bool, n_intervals: int, overlap: float) -> dict:
    X = activations(n, d, isotropic=isotropic)
    lens = pca_lens(X, 1)[0]
    eps = auto_eps(X, 5)
    clusterer = DBSCAN(eps=eps, min_samples=5)

    def run_kmapper():
        return kmapper.KeplerMapper(verbose=0).map(
            lens.reshape(-1, 1), X, clusterer=clusterer, cover=kmapper.Cover(n_intervals, overlap)
        )

    def run_ours(fast: bool):
        return Mapper(
            lens=lens,
            cover="kmapper",
            n_intervals=n_intervals,
            overlap=overlap,
            clusterer=clusterer,
            fast=fast,
        ).fit(X)

    times: dict[str, list[float]] = {"kmapper": [], "exact": [], "fast": []}
    results: dict = {}
    for _ in range(rounds):
        for name, fn in (
            ("kmapper", run_kmapper),
            ("exact", lambda: run_ours(False)),
            ("fast", lambda: run_ours(True)),
        ):
            t = time.perf_counter()
            results[name] = fn()
            times[name].append(time.perf_counter() - t)
    med = {k: statistics.median(v) for k, v in times.items()}
    exact_graph = results["exact"].graph_
    return {
        "case": f"N={n}, D={d}",
        "nodes": exact_graph.n_nodes,
        "eps": eps,
        "kmapper_s": med["kmapper"],
        "exact_s": med["exact"],
        "fast_s": med["fast"],
        "exact_ratio": med["kmapper"] / med["exact"],
        "fast_ratio": med["kmapper"] / med["fast"],
        "identical": same_graph(results["kmapper"], exact_graph),
        "fast_ari": membership_ari(exact_graph, results["fast"].graph_),
        "rounds": rounds,
    }


def _child(task: str, n: int, d: int) -> dict:
    """One part of the million case, in this (fresh) process; prints a JSON line."""
    import resource

    from topoact_lightning.engine.compare import membership_ari

    X = activations_chunked(n, d)
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    if task == "scale":
        start = time.perf_counter()
        graph = Mapper(n_intervals=30, overlap=0.3, scale=True).fit_graph(X)
        seconds = time.perf_counter() - start
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
        return {
            "seconds": seconds,
            "peak_ratio": peak / X.nbytes,
            "peak_mb": peak / 2**20,
            "input_mb": X.nbytes / 2**20,
            "before_ratio": before / X.nbytes,
            "nodes": graph.n_nodes,
            "eps": graph.params["eps"],
        }
    exact = Mapper(n_intervals=30, overlap=0.3).fit(X)
    scaled = Mapper(n_intervals=30, overlap=0.3, eps=exact.eps_, scale=True).fit_graph(X)
    return {"ari": membership_ari(exact.graph_, scaled), "eps": exact.eps_, "nodes": exact.graph_.n_nodes}


def run_million(n: int, d: int, subset: int) -> None:
    """Issue 21's large case: scale mode's fit time and peak memory at ``n`` x ``d``, its ARI on ``subset``."""

    def child(task: str, rows: int) -> dict:
        out = subprocess.run(
            [sys.executable, __file__, "--child", task, str(rows), str(d)],
            check=True,
            capture_output=True,
            text=True,
        )
        return json.loads(out.stdout.strip().splitlines()[-1])

    load = os.getloadavg()[0]
    fit = child("scale", n)
    agreement = child("agree", subset)
    print(
        f"\nscale mode, {n:,} x {d} (30 intervals, 30% overlap, automatic eps {fit['eps']:.3f}, "
        f"{fit['nodes']} nodes; load average {load:.1f} at the start, {os.getloadavg()[0]:.1f} at the end)"
    )
    print("| figure | measured | target |")
    print("|---|---|---|")
    print(f"| fit, wall clock | {fit['seconds']:.1f} s | under 30 s |")
    print(
        f"| peak resident memory / input | {fit['peak_ratio']:.2f}x ({fit['peak_mb']:.0f} MB for "
        f"{fit['input_mb']:.0f} MB; before the fit {fit['before_ratio']:.2f}x) | at most 2x |"
    )
    print(
        f"| ARI vs exact, first {subset:,} samples (eps {agreement['eps']:.3f}) | {agreement['ari']:.4f} | >= 0.95 |"
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--cases", default=None, help=f"comma-separated NxD (default {DEFAULT_CASES})")
    parser.add_argument("--quick", action="store_true", help=f"only {QUICK_CASES}")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument(
        "--isotropic", action="store_true", help="full-rank isotropic noise instead of factors"
    )
    parser.add_argument("--intervals", type=int, default=30)
    parser.add_argument("--overlap", type=float, default=0.3)
    parser.add_argument(
        "--million", action="store_true", help="also issue 21's 1,000,000 x 256 scale-mode case"
    )
    parser.add_argument("--million-rows", type=int, default=1_000_000, help=argparse.SUPPRESS)
    parser.add_argument("--subset", type=int, default=200_000, help=argparse.SUPPRESS)
    parser.add_argument("--child", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        task, n, d = args.child
        print(json.dumps(_child(task, int(n), int(d))))
        return
    cases = args.cases or (QUICK_CASES if args.quick else DEFAULT_CASES)
    header = "| case | nodes | kmapper s | exact s | exact speed-up | identical | fast s | fast speed-up | fast ARI |"
    print(
        f"data: {'isotropic' if args.isotropic else 'factor model'}; {args.intervals} intervals, "
        f"{args.overlap:.0%} overlap, DBSCAN min_samples=5, medians of {args.rounds} round-robin rounds; "
        f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores"
    )
    print(header)
    print("|---|---|---|---|---|---|---|---|---|")
    for spec in cases.split(","):
        n, d = (int(v) for v in spec.lower().split("x"))
        r = run_case(n, d, args.rounds, args.isotropic, args.intervals, args.overlap)
        print(
            f"| {r['case']} | {r['nodes']} | {r['kmapper_s']:.2f} | {r['exact_s']:.2f} | {r['exact_ratio']:.1f}x | "
            f"{'yes' if r['identical'] else 'NO'} | {r['fast_s']:.2f} | {r['fast_ratio']:.1f}x | {r['fast_ari']:.3f} |",
            flush=True,
        )
        if (n, d) == (50_000, 512):
            print(
                f"  issue 21 targets at 50,000 x 512: exact {r['exact_ratio']:.1f}x (target 8x, identical: "
                f"{'yes' if r['identical'] else 'NO'}), fast {r['fast_ratio']:.1f}x at ARI {r['fast_ari']:.3f} "
                f"(target 20x at >= 0.97); load average now {os.getloadavg()[0]:.1f}",
                flush=True,
            )
    if args.million:
        run_million(args.million_rows, 256, args.subset)


if __name__ == "__main__":
    main()
