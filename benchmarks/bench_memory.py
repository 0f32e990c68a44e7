"""Peak memory of one exact-mode Mapper fit on a wide input, in a fresh subprocess per run.

Each run starts a new interpreter that builds the input (seeded, so every run sees the same data), fits
``Mapper(n_jobs=...)`` in exact mode and prints a digest of the graph; the parent reads the child's peak resident
set size from ``resource.getrusage(RUSAGE_CHILDREN).ru_maxrss``. A baseline child that only builds the input and
imports the engine is measured the same way, so the figure the engine adds is ``peak - baseline``.

``--source DIR`` runs another checkout of the package (for instance ``git archive <commit> topoact_lightning |
tar -x -C DIR``) side by side with this one, and checks that both give the same graph.

Usage:
    python benchmarks/bench_memory.py                          # 2,000 x 20,000 float32 (152 MB), 1 and 2 threads
    python benchmarks/bench_memory.py --shape 1000x5000 --jobs 1
    python benchmarks/bench_memory.py --source /tmp/old        # compare with an older checkout
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import textwrap

_CHILD = textwrap.dedent(
    """
    import hashlib, sys, time
    import numpy as np

    n, d, jobs, fit = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), sys.argv[4] == "fit"
    rng = np.random.default_rng(0)
    # Activation-like: 10 classes, ReLU-clipped, so the l2 lens spreads the points over the cover.
    centres = rng.normal(size=(10, d)).astype(np.float32)
    X = centres[rng.integers(0, 10, n)]
    for s in range(0, n, 100):  # noise in slices: no float64 copy of the whole input inflates the baseline
        X[s : s + 100] += rng.normal(size=(len(X[s : s + 100]), d)).astype(np.float32) * 0.5
    np.maximum(X, 0, out=X)
    from topoact_lightning.engine.mapper import Mapper

    if fit:
        t = time.perf_counter()
        g = Mapper(n_jobs=jobs).fit(X).graph_
        took = time.perf_counter() - t
        digest = hashlib.sha256(b"".join(m.tobytes() for m in g.members) + g.edges.tobytes()).hexdigest()[:16]
        print(f"{g.n_nodes} {g.n_edges} {digest} {took:.1f}")
    else:
        print("0 0 - 0")
    """
)


def peak_rss_mb(source: str | None, n: int, d: int, jobs: int, fit: bool) -> tuple[float, str]:
    """Peak RSS (MB) of one child run, and what it printed. Children run one at a time, so RUSAGE_CHILDREN's
    maximum grows only when this child's peak is the highest so far: each run is measured by a fresh parent."""
    env = dict(os.environ)
    if source:
        env["PYTHONPATH"] = source + os.pathsep + env.get("PYTHONPATH", "")
    probe = textwrap.dedent(
        f"""
        import resource, subprocess, sys
        out = subprocess.run([sys.executable, "-c", {_CHILD!r}, "{n}", "{d}", "{jobs}", "{"fit" if fit else "base"}"],
                             capture_output=True, text=True)
        sys.stderr.write(out.stderr)
        print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, out.stdout.strip())
        """
    )
    out = subprocess.run([sys.executable, "-c", probe], env=env, capture_output=True, text=True, check=True)
    kb, rest = out.stdout.strip().split(" ", 1)
    return int(kb) / 1024, rest


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--shape", default="2000x20000", help="N x D of the float32 input")
    ap.add_argument("--jobs", default="1,2", help="comma-separated n_jobs values")
    ap.add_argument("--source", default=None, help="another checkout of topoact_lightning to compare with")
    args = ap.parse_args()
    n, d = (int(v) for v in args.shape.lower().split("x"))
    print(f"input {n} x {d} float32 = {n * d * 4 / 2**20:.0f} MB; load average {os.getloadavg()[0]:.2f}")
    sources = [("this checkout", None)] + ([("--source", args.source)] if args.source else [])
    for label, src in sources:
        base, _ = peak_rss_mb(src, n, d, 1, fit=False)
        print(f"[{label}] baseline (input + imports): {base:.0f} MB")
        for jobs in (int(j) for j in args.jobs.split(",")):
            peak, printed = peak_rss_mb(src, n, d, jobs, fit=True)
            nodes, edges, digest, took = printed.split()
            print(
                f"[{label}] n_jobs={jobs}: peak {peak:.0f} MB (engine adds {peak - base:.0f} MB), "
                f"{nodes} nodes, {edges} edges, graph {digest}, fit {took} s"
            )


if __name__ == "__main__":
    main()
