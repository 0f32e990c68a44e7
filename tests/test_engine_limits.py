"""The engine refuses what it cannot do, and stays small on large class ids (issue 13).

- Cover sizes above ``MAX_COVER_ELEMENTS`` are a TopoActConfigError before any work; a cover that is mostly empty
  is a warning.
- Labels: ids below -1, or without a class name, are a ValueError naming the fix; sparse and huge ids are fine
  and cost memory by the classes present, not by the largest id.
- One sample -> nodes index (``memberships.sample_index``).
- Exact mode's peak memory on a wide input (slow: subprocesses of ``benchmarks/bench_memory.py``).
"""

from __future__ import annotations

import re
import subprocess
import sys
import tracemalloc
import warnings
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from topoact_lightning import Mapper, MapperGraph, TopoActConfigError
from topoact_lightning.engine.memberships import sample_index
from topoact_lightning.engine.params import MAX_COVER_ELEMENTS

ROOT = Path(__file__).resolve().parents[1]


def blobs(n: int = 200, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return np.concatenate([rng.normal(0, 1, (n // 2, 4)), rng.normal(4, 1, (n - n // 2, 4))]).astype(
        np.float32
    )


# ---------------------------------------------------------------------------------------------- cover limit
@pytest.mark.parametrize(
    "params",
    [
        {"n_intervals": 10**7},
        {"n_intervals": 10**12},
        {"lens": "pca2", "n_intervals": 10**4},
        {"lens": "pca2", "n_intervals": [10, 10**5]},
        {"lens": np.zeros((200, 2)), "n_intervals": 1000},
    ],
)
def test_too_many_cover_elements_is_refused_before_any_work(params):
    m = Mapper(**params)
    with pytest.raises(
        TopoActConfigError, match=f"at most {MAX_COVER_ELEMENTS} are supported: lower n_intervals"
    ):
        m.check_params()  # no data needed: a training run fails before it starts


def test_callable_lens_dimension_is_checked_once_known():
    def lens(X):
        return X[:, :3]

    Mapper(lens=lens, n_intervals=1000).check_params()  # its dimension is unknown until it runs
    with pytest.raises(TopoActConfigError, match="1000000000 cover elements over 3 lens"):
        Mapper(lens=lens, n_intervals=1000).fit(blobs())


def test_the_limit_itself_is_accepted():
    lens = np.linspace(0, 1, 200)
    with pytest.warns(UserWarning, match="cover elements hold no sample"):
        g = Mapper(lens=lens, n_intervals=MAX_COVER_ELEMENTS, overlap=0.0, min_samples=1).fit(blobs()).graph_
    assert g.params["n_elements"] == MAX_COVER_ELEMENTS


def test_mostly_empty_cover_warns_and_a_full_one_does_not():
    X = blobs()
    clumped = np.repeat([0.0, 1.0], 100) + np.random.default_rng(0).normal(0, 0.01, 200)  # two clumps
    with pytest.warns(UserWarning, match=r"3\d of 40 cover elements hold no sample.*lower n_intervals"):
        g = Mapper(lens=clumped, n_intervals=40).fit(X).graph_
    assert g.params["n_empty_elements"] > 20
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        Mapper(lens=clumped, n_intervals=40, cover="balanced").fit(X)


# --------------------------------------------------------------------------------------------------- labels
def test_labels_below_minus_one_are_refused():
    with pytest.raises(
        ValueError, match="labels holds -2: class ids must be >= 0, with -1 for an unknown class"
    ):
        Mapper(n_intervals=4).fit(blobs(), labels=np.r_[np.zeros(199, int), -2])


def test_a_class_without_a_name_is_refused():
    labels = np.r_[np.zeros(199, int), 3]
    with pytest.raises(ValueError, match="label 3 has no class name: class_names has 2 names.*give a name"):
        Mapper(n_intervals=4).fit(blobs(), labels=labels, class_names=["a", "b"])
    with pytest.raises(ValueError, match="label 3 has no class name"):
        MapperGraph(
            n_samples=2,
            members=[],
            node_cover=[],
            cover_bounds=np.zeros((1, 1, 2)),
            lens=np.zeros(2),
            labels=np.array([0, 3]),
            class_names=["a", "b"],
        )


def test_uint64_ids_beyond_int64_are_refused():
    labels = np.zeros(200, dtype=np.uint64)
    labels[0] = 2**64 - 1
    with pytest.raises(ValueError, match="beyond int64"):
        Mapper(n_intervals=4).fit(blobs(), labels=labels)


@pytest.mark.parametrize("big", [10**7, 10**9, 2**40])
def test_huge_class_ids_cost_memory_by_the_classes_present(big):
    X = blobs()
    labels = np.where(np.arange(200) < 100, 3, big)
    labels[:5] = -1
    g = Mapper(n_intervals=4, cover="balanced").fit(X, labels=labels).graph_
    tracemalloc.start()
    try:
        hist = g.class_histograms()
        metrics = g.metrics()
        stats = g.node_stats()
        back = MapperGraph.from_bytes(g.to_bytes())
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 20 * 2**20  # a column per id up to 10**9 would be gigabytes
    assert g.classes.tolist() == [3, big] and hist.shape == (g.n_nodes, 2)
    assert hist.sum() == sum(int((labels[m] >= 0).sum()) for m in g.members)
    assert metrics["purity"] == pytest.approx(1.0)  # the two blobs are the two classes
    assert len(stats["purity"]) == g.n_nodes
    assert back == g


def test_classes_are_the_named_ones_when_names_are_given():
    X = blobs()
    labels = np.repeat([0, 2], 100)  # class 1 absent from this probe, but named
    g = Mapper(n_intervals=4, cover="balanced").fit(X, labels=labels, class_names=["a", "b", "c"]).graph_
    assert g.classes.tolist() == [0, 1, 2]
    hist = g.class_histograms()
    assert hist.shape[1] == 3 and hist[:, 1].sum() == 0 and hist.sum() == sum(len(m) for m in g.members)


# ------------------------------------------------------------------------------------------- sample index
@given(
    n_samples=st.integers(0, 30),
    members=st.lists(st.sets(st.integers(0, 29), min_size=1, max_size=10), max_size=8),
)
@settings(max_examples=100, deadline=None)
def test_sample_index_lists_each_samples_nodes_in_order(n_samples, members):
    members = [np.array(sorted(m for m in s if m < n_samples), dtype=np.int64) for s in members]
    members = [m for m in members if len(m)]
    indptr, nodes = sample_index(members, n_samples)
    assert indptr.dtype == nodes.dtype == np.int64 and len(indptr) == n_samples + 1
    for s in range(n_samples):
        assert nodes[indptr[s] : indptr[s + 1]].tolist() == [k for k, m in enumerate(members) if s in m]


# ------------------------------------------------------------------------------------------- exact memory
@pytest.mark.slow
def test_exact_mode_peak_memory_on_a_wide_input_stays_bounded():
    # 2,000 x 20,000 float32 (153 MB), two threads: 3.4-4.0 GB peak before the fix, about 0.8 GB after.
    out = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "bench_memory.py"), "--jobs", "2"],
        capture_output=True,
        text=True,
        check=True,
        timeout=600,
    )
    peak = float(re.search(r"n_jobs=2: peak (\d+) MB", out.stdout).group(1))
    base = float(re.search(r"baseline \(input \+ imports\): (\d+) MB", out.stdout).group(1))
    assert peak < 1500, out.stdout
    assert peak - base < 8 * 153, out.stdout  # the engine's share: a few copies of the input, not dozens


@pytest.mark.parametrize(
    "params, message",
    [
        ({"n_intervals": [3, 4]}, "n_intervals has 2 values for a 1-dimensional lens: give one value, or 1"),
        ({"lens": "pca2", "n_intervals": [3, 4, 5]}, "n_intervals has 3 values for a 2-dimensional lens"),
        ({"overlap": [0.3, 0.4]}, "overlap has 2 values for a 1-dimensional lens"),
    ],
)
def test_per_dimension_values_must_match_the_lens(params, message):
    with pytest.raises(TopoActConfigError, match=message):
        Mapper(**params).check_params()
    Mapper(lens="pca2", n_intervals=[3, 4], overlap=[0.2, 0.3]).check_params()
