"""The background graph worker: order, bounded queue, failures turned into results, distances between steps."""

from __future__ import annotations

import os
import sys
import threading
import time

import numpy as np
import pytest

from topoact_lightning.engine.graph import MapperGraph
from topoact_lightning.monitor.building import GraphBuilder, GraphJob, GraphResult, build_graph
from topoact_lightning.monitor.worker import GraphProcess, GraphWorker


def _job(step, x, previous_step=None, **params):
    return GraphJob(
        step=step,
        layer="fc1",
        activations=x,
        labels=np.arange(len(x)) % 3,
        class_names=["a", "b", "c"],
        extras={"loss": np.linspace(0, 1, len(x), dtype=np.float32)},
        mapper_params=params,
        previous_step=previous_step,
    )


def _blobs(n=300, seed=0):
    rng = np.random.default_rng(seed)
    centres = rng.normal(scale=8, size=(3, 6))
    return (centres[np.arange(n) % 3] + rng.normal(size=(n, 6))).astype(np.float32)


def test_build_graph_gives_a_graph_metrics_and_diagnostics():
    r = build_graph(_job(0, _blobs(), n_intervals=8))
    assert r.error is None and r.graph_bytes is not None
    g = MapperGraph.from_bytes(r.graph_bytes)
    assert g.class_names == ["a", "b", "c"] and set(g.extras) == {"loss"} and g.params["n_intervals"] == 8
    assert r.scalars["nodes"] == g.n_nodes and 0 < r.scalars["effective_rank"] <= 1
    assert r.scalars["dead_units"] == 0 and np.isnan(r.scalars["distance"])


def test_distance_only_against_the_previous_logged_step():
    builder = GraphBuilder()
    x = _blobs()
    builder(_job(0, x))
    assert builder(_job(1, x, previous_step=0)).scalars["distance"] == 0.0  # same activations, same graph
    # Step 1 is the last graph built; a job claiming step 2 came before it gets no distance.
    assert np.isnan(builder(_job(3, _blobs(seed=1), previous_step=2)).scalars["distance"])
    d = builder(_job(4, _blobs(seed=2), previous_step=3)).scalars["distance"]
    assert 0 < d <= 1
    # Checkpointed graphs come back in a new builder.
    restored = GraphBuilder()
    restored.restore(builder.previous_bytes())
    assert restored.previous["fc1"][0] == 4


def test_failures_become_results_not_exceptions():
    x = _blobs()
    bad_lens = build_graph(_job(2, x, lens=np.zeros(5)))  # a lens of the wrong length
    assert bad_lens.graph_bytes is None and bad_lens.error and bad_lens.step == 2
    x[7, 3] = np.inf
    nan = build_graph(_job(3, x))
    assert nan.graph_bytes is None and "1 of 300 probe samples have NaN or infinite" in nan.error


def test_worker_runs_in_order_survives_exceptions_and_drains():
    seen = []

    def fn(job):
        if job == 2:
            raise RuntimeError("boom")
        seen.append(job)
        return job

    w = GraphWorker(fn, maxsize=1)
    for k in range(5):
        w.submit(k)
    results = w.drain(timeout=10)
    w.close()
    assert seen == [0, 1, 3, 4]
    assert results[:2] == [0, 1] and isinstance(results[2], RuntimeError) and results[3:] == [3, 4]
    assert w.pending == 0


def test_bounded_queue_makes_submit_wait():
    gate = threading.Event()
    w = GraphWorker(lambda job: gate.wait(5) and job, maxsize=1)
    w.submit(0)  # taken by the worker, blocked on the gate
    time.sleep(0.05)
    w.submit(1)  # fills the queue
    t = threading.Thread(target=w.submit, args=(2,))
    t.start()
    time.sleep(0.1)
    assert t.is_alive()  # the third submission waits for room
    gate.set()
    t.join(5)
    assert not t.is_alive()
    assert w.drain(timeout=5) == [0, 1, 2]
    w.close()


def test_result_dataclass_defaults():
    r = GraphResult(1, "x", None)
    assert r.scalars == {} and r.problem is None


def test_graph_process_builds_the_same_graphs_as_the_thread_and_keeps_state():
    from topoact_lightning.monitor.worker import GraphProcess

    proc = GraphProcess(niceness=0)
    try:
        local = GraphBuilder()
        for step, seed in ((0, 0), (1, 1)):
            job = _job(step, _blobs(seed=seed), previous_step=step - 1 if step else None, n_intervals=8)
            a, b = proc(job), local(job)
            assert proc.failure is None and a.error is None
            assert MapperGraph.from_bytes(a.graph_bytes) == MapperGraph.from_bytes(b.graph_bytes)
            assert a.scalars == b.scalars or all(
                (np.isnan(a.scalars[k]) and np.isnan(b.scalars[k])) or a.scalars[k] == b.scalars[k]
                for k in a.scalars
            )
        assert 0 < a.scalars["distance"] <= 1  # the child kept step 0's graph
        assert proc.previous_bytes()["fc1"][0] == 1
    finally:
        proc.close()


def test_graph_process_death_falls_back_to_a_thread():
    from topoact_lightning.monitor.worker import GraphProcess

    proc = GraphProcess(niceness=0)
    proc(_job(0, _blobs(), n_intervals=8))
    import signal

    os.kill(proc.pid, signal.SIGKILL)
    r = proc(_job(1, _blobs(seed=1), previous_step=0, n_intervals=8))
    assert proc.failure and "graph process stopped" in proc.failure
    assert r.graph_bytes is not None and 0 < r.scalars["distance"] <= 1  # state carried over to the fallback
    proc.close()


def test_graph_process_stays_lean_on_a_dense_cover_element():
    """The graph process imports neither scipy nor scikit-learn, even when a cover element holds a dense
    neighbourhood graph (300 identical samples: 44,850 pairs within any eps). Either import would cost the
    training machine about 0.25 s of CPU per fit. Nor does it import what only sampling (``numpy.random``, 20 ms)
    or several engine threads (``concurrent.futures``, 8 ms) need: its 1,000 samples are all eps queries."""
    import subprocess
    import sys

    code = """
import sys
import numpy as np
from topoact_lightning.monitor.building import GraphBuilder, GraphJob
# Scattered values without np.random, whose import is checked below.
x = (np.sin(np.arange(16_000, dtype=np.float64) * 12.9898) * 43758.5453 % 1.0).reshape(1000, 16).astype(np.float32)
x[:300] = 3
builder = GraphBuilder()
for step in (0, 1):
    job = GraphJob(step=step, previous_step=step - 1 if step else None, layer="fc1", activations=x,
                   labels=np.arange(1000) % 10, class_names=None, extras={}, mapper_params={})
    r = builder(job)
    assert r.error is None, r.error
print(max(len(m) for m in builder.previous["fc1"][2].members))
print(sorted(({m.split(".")[0] for m in sys.modules} & {"scipy", "sklearn", "torch"})
             | (set(sys.modules) & {"numpy.random", "concurrent.futures"})))
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    largest_node, heavy = out.stdout.strip().splitlines()
    assert int(largest_node) >= 300  # the duplicates really were clustered as one node
    assert heavy == "[]"


def test_graph_process_lowers_its_priority_before_it_imports_numpy():
    """The child's start-up (interpreter, numpy, this package) overlaps training; niced from its first statement,
    it leaves the cores to the training loop instead of slowing it."""
    import subprocess
    import sys

    from topoact_lightning.monitor.worker import _CHILD_MAIN

    code = f"""
import os, sys
real_nice = os.nice
def nice(n):
    print(n, "numpy" in sys.modules, flush=True)
    return real_nice(n)
os.nice = nice
sys.argv = ["-c", "7"]
exec({_CHILD_MAIN!r})
"""
    # stdin at EOF: the child's loop ends at once, as when the training process goes away.
    out = subprocess.run(
        [sys.executable, "-c", code], stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=60
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["7", "False"]


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads the niceness from /proc")
def test_graph_process_starts_with_its_first_job_runs_niced_and_exits_cleanly():
    from topoact_lightning.monitor.worker import GraphProcess

    def nice_of(pid: int) -> int:
        with open(f"/proc/{pid}/stat") as f:
            return int(f.read().rsplit(")", 1)[1].split()[16])  # field 19 of stat(5)

    proc = GraphProcess(niceness=5)
    # No child until the first job: the step-0 probe pass, which queues that job, runs without its start-up.
    assert proc.pid is None
    try:
        r = proc(_job(0, _blobs(), n_intervals=8))  # a job has been served: the child is past its start-up
        assert r.error is None and r.graph_bytes is not None
        assert nice_of(proc.pid) == min(19, nice_of(os.getpid()) + 5)
    finally:
        proc.close()
    assert proc.returncode == 0 and proc.pid is None


def _clumped(n=300):
    x = np.zeros((n, 4), dtype=np.float32)
    x[:, 0] = np.linspace(0, 0.01, n)
    x[-1, 0] = 100.0  # one far sample: the lens range is mostly empty
    return x


@pytest.mark.slow
def test_engine_warnings_in_the_child_come_back_with_the_result():
    proc = GraphProcess(niceness=0)
    try:
        r = proc(_job(0, _clumped(), n_intervals=40))
    finally:
        proc.close()
    assert proc.failure is None
    assert [w for w in r.warnings if "cover elements hold no sample" in w], r.warnings
    # In a thread of the training process the warning is raised as usual (catching it there would be
    # process-wide and swallow the training thread's own warnings).
    with pytest.warns(UserWarning, match="cover elements hold no sample"):
        r = GraphBuilder()(_job(0, _clumped(), n_intervals=40))
    assert r.warnings == []


def test_engine_warnings_are_passed_on_once_per_layer_and_message():
    from topoact_lightning.monitor.pipeline import GraphPipeline
    from topoact_lightning.monitor.sink import SummarySink
    from topoact_lightning.monitor.state import MonitorState

    pipeline = GraphPipeline(MonitorState(), SummarySink([], []), ["fc1", "fc2"], worker="thread")
    try:
        with pytest.warns(UserWarning) as record:  # noqa: PT031 (three results, warned about twice)
            for step, layer in ((0, "fc1"), (1, "fc1"), (1, "fc2")):
                pipeline._note_findings(
                    GraphResult(step, layer, b"", warnings=["most cover elements are empty"])
                )
    finally:
        pipeline.worker.close()
    msgs = [str(w.message) for w in record if "most cover elements are empty" in str(w.message)]
    assert msgs == [
        "TopoActMonitor: layer 'fc1' at epoch 0: most cover elements are empty",
        "TopoActMonitor: layer 'fc2' at epoch 1: most cover elements are empty",
    ]
