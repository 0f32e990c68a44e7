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

Usage:
    python benchmarks/bench_mapper.py                 # default cases (includes N=50k, D=512)
    python benchmarks/bench_mapper.py --quick         # small cases only
    python benchmarks/bench_mapper.py --cases 50000x512,10000x4096 --rounds 3
"""

from __future__ import annotations

import argparse
import statistics
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
    args = parser.parse_args()
    cases = args.cases or (QUICK_CASES if args.quick else DEFAULT_CASES)
    header = "| case | nodes | kmapper s | exact s | exact speed-up | identical | fast s | fast speed-up | fast ARI |"
    print(
        f"data: {'isotropic' if args.isotropic else 'factor model'}; {args.intervals} intervals, "
        f"{args.overlap:.0%} overlap, DBSCAN min_samples=5, medians of {args.rounds} round-robin rounds"
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


if __name__ == "__main__":
    main()
