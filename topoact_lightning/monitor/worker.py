"""Running graph builds off the training loop, fed through a bounded queue (the builds: :mod:`.building`).

The training loop hands over small CPU arrays (:class:`GraphJob`) and goes on. A :class:`GraphWorker` thread takes
the jobs in order and runs them through a builder: by default a :class:`GraphProcess`, whose work runs in a child
Python process (the thread only ships the job and waits on a pipe, releasing the GIL), or a :class:`GraphBuilder`
in the thread itself (``worker="thread"``). The builder makes the graph, its metrics, the diagnostics and the
findings (:func:`~topoact_lightning.monitor.building.build_graph`) and leaves a
:class:`~topoact_lightning.monitor.building.GraphResult` that the training thread picks up and writes (loggers are
not thread-safe, so all writing happens on the training thread). The queue is bounded: if graphs take longer than
epochs, the loop waits at the next submission rather than piling up memory. Any exception in a build becomes a
result with ``graph_bytes=None`` and a message; the worker keeps running.

This module, :mod:`~topoact_lightning.monitor.building`, :mod:`~topoact_lightning.monitor.diagnostics` and
:mod:`~topoact_lightning.monitor.findings` are all the child process imports from the monitor: they import neither torch nor Lightning.

Example:
    >>> w = GraphWorker(lambda job: job * 2, maxsize=2)
    >>> w.submit(3); w.submit(4)
    >>> [r for r in w.drain()]
    [6, 8]
    >>> w.close()
"""

from __future__ import annotations

import contextlib
import os
import queue
import threading
import time
from collections.abc import Callable
from typing import Any

from topoact_lightning.monitor.building import GraphBuilder, GraphJob, GraphResult
from topoact_lightning.monitor.findings import FindingTracker

_STOP = object()


def _lower_priority(niceness: int) -> None:
    """Lower this thread's CPU priority (Linux schedules threads separately; elsewhere nothing happens).

    BLAS threads are limited separately, in :meth:`GraphWorker._run`."""
    if niceness and hasattr(os, "setpriority") and hasattr(threading, "get_native_id"):
        with contextlib.suppress(OSError):
            os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), niceness)


class GraphWorker:
    """A daemon thread running ``fn`` on submitted jobs in order; results are collected with :meth:`poll`."""

    def __init__(
        self,
        fn: Callable[[Any], Any],
        maxsize: int = 2,
        niceness: int = 0,
        blas_threads: int | None = 1,
        name: str = "topoact-graphs",
    ) -> None:
        self.fn = fn
        self.niceness = niceness
        self.blas_threads = blas_threads
        self._jobs: queue.Queue = queue.Queue(maxsize=max(1, maxsize))
        self._results: queue.Queue = queue.Queue()
        self._pending = 0
        self._cond = threading.Condition()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        _lower_priority(self.niceness)
        limiter = None
        if self.blas_threads:
            try:
                from threadpoolctl import threadpool_limits

                # numpy/scipy's BLAS is separate from torch's MKL/OpenMP: limiting it leaves training alone.
                limiter = threadpool_limits(limits=self.blas_threads, user_api="blas")
            except Exception:
                limiter = None
        try:
            while True:
                job = self._jobs.get()
                if job is _STOP:
                    return
                try:
                    result = self.fn(job)
                except BaseException as e:  # fn is expected not to raise; keep the thread alive anyway
                    result = e
                self._results.put(result)
                with self._cond:
                    self._pending -= 1
                    self._cond.notify_all()
        finally:
            if limiter is not None:
                limiter.restore_original_limits()

    @property
    def pending(self) -> int:
        with self._cond:
            return self._pending

    def submit(self, job: Any) -> None:
        """Queue a job; blocks while the queue is full."""
        with self._cond:
            self._pending += 1
        self._jobs.put(job)

    def poll(self) -> list[Any]:
        """The results finished so far (never blocks)."""
        out = []
        while True:
            try:
                out.append(self._results.get_nowait())
            except queue.Empty:
                return out

    def drain(self, timeout: float | None = None) -> list[Any]:
        """Wait until every submitted job is done (or ``timeout`` seconds pass), then return all results."""
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._cond:
            while self._pending > 0 and self._thread.is_alive():
                remaining = None if deadline is None else deadline - time.monotonic()
                if remaining is not None and remaining <= 0:
                    break
                self._cond.wait(remaining if remaining is not None else 1.0)
        return self.poll()

    def close(self, timeout: float | None = 5.0) -> None:
        if self._thread.is_alive():
            self._jobs.put(_STOP)
            self._thread.join(timeout)


# ------------------------------------------------------------------------------------------ child process
# Building graphs in a thread of the training process can cost more than its CPU time: the engine's Python-level
# work holds the GIL that the training loop needs between torch ops (benchmarks/bench_callback.py --contention
# measures it; figures in BENCHMARKS.md). With worker="process" the worker thread only ships jobs to a child
# Python process and waits on the pipe, which releases the GIL.
# The child is a fresh interpreter running _CHILD_MAIN rather than multiprocessing's spawn, which would re-import
# (and re-run) the user's training script.


def _send(stream: Any, obj: Any) -> None:
    import pickle
    import struct

    data = pickle.dumps(obj, protocol=pickle.HIGHEST_PROTOCOL)
    stream.write(struct.pack("<Q", len(data)))
    stream.write(data)
    stream.flush()


def _recv(stream: Any) -> Any:
    import pickle
    import struct

    head = stream.read(8)
    if len(head) < 8:
        raise EOFError("graph process closed its pipe")
    (n,) = struct.unpack("<Q", head)
    data = stream.read(n)
    if len(data) < n:
        raise EOFError("graph process closed its pipe")
    return pickle.loads(data)


class GraphProcess:
    """A callable like :class:`GraphBuilder` whose work runs in a child Python process, started by the first job.

    If the child cannot start or dies, it builds in the calling thread instead and keeps the reason in
    :attr:`failure` (the callback warns with it).
    """

    def __init__(
        self,
        niceness: int = 10,
        restore: dict[str, tuple[int, bytes]] | None = None,
        findings: dict[str, Any] | None = None,
    ) -> None:
        self.niceness = niceness
        self.fallback: GraphBuilder | None = None
        self.failure: str | None = None
        self._last: dict[str, tuple[int, bytes]] = dict(restore or {})
        # The findings state the child starts from, kept up to date with each result for a fallback builder.
        self._findings: dict[str, Any] = {
            "version": FindingTracker.STATE_VERSION,
            "findings": [],
            "history": {},
        }
        if findings:
            self._findings = {**self._findings, **findings}
        self._proc: Any = None
        self._started = False
        #: The child's exit status once it was stopped (0: it exited cleanly).
        self.returncode: int | None = None

    @property
    def pid(self) -> int | None:
        """The child's process id while it runs (None before the first job, after :meth:`close` or a failure)."""
        return self._proc.pid if self._proc is not None else None

    def start(self) -> None:
        """Start the child (done by the first job, so that its start-up does not overlap the step-0 probe pass)."""
        import subprocess
        import sys

        if self._started:
            return
        self._started = True
        env = dict(os.environ)
        for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
            env[var] = "1"  # the training process owns the cores; one thread is plenty for 1e3-1e4 points
        try:
            self._proc = subprocess.Popen(
                [sys.executable, "-c", _CHILD_MAIN, str(int(self.niceness))],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                env=env,
            )
            _send(self._proc.stdin, ("restore", dict(self._last)))
            _send(self._proc.stdin, ("findings", self._findings))
        except Exception as e:  # no interpreter, no pipes: build in-process
            self._fail(f"{type(e).__name__}: {e}")

    def _fail(self, why: str) -> None:
        self.failure = why
        self.fallback = GraphBuilder()
        self.fallback.restore(self._last)
        self.fallback.restore_findings(self._findings)
        proc, self._proc = self._proc, None
        if proc is not None:  # reap it (no zombie) and close its pipes
            proc.kill()
            _reap(proc)

    def previous_bytes(self) -> dict[str, tuple[int, bytes]]:
        if self.fallback is not None:
            return self.fallback.previous_bytes()
        return dict(self._last)

    def __call__(self, job: GraphJob) -> GraphResult:
        self.start()
        result = None
        if self._proc is not None:
            try:
                _send(self._proc.stdin, ("job", job))
                result = _recv(self._proc.stdout)
            except Exception as e:
                self._fail(
                    f"the graph process stopped ({type(e).__name__}: {e}); building in a thread instead"
                )
        if result is None:
            assert self.fallback is not None
            result = self.fallback(job)
        if isinstance(result, GraphResult):
            if result.graph_bytes is not None:
                self._last[result.layer] = (result.step, result.graph_bytes)
            self._findings["findings"] = [*self._findings["findings"], *result.findings]
            self._findings["history"] = {**self._findings["history"], result.layer: result.history}
        return result

    def close(self) -> None:
        """Stop the child (it exits at once, or is killed after 10 s) and close its pipes."""
        proc, self._proc = self._proc, None
        if proc is None:
            return
        try:
            _send(proc.stdin, ("stop", None))
            proc.wait(timeout=10)
        except Exception:
            proc.kill()
        _reap(proc)
        self.returncode = proc.returncode


def _reap(proc: Any) -> None:
    """Wait for a stopped or killed child and close both pipe ends, so that neither a zombie nor an open file
    (a ``ResourceWarning``) outlives it."""
    for stream in (proc.stdin, proc.stdout):
        # A broken pipe while flushing: the file is closed all the same.
        with contextlib.suppress(Exception):
            stream.close()
    with contextlib.suppress(Exception):
        proc.wait(timeout=10)


# The child lowers its priority before it imports anything: its start-up (interpreter, numpy, this package) then
# takes what the training loop leaves rather than an equal share of the cores. It ignores SIGINT: Ctrl-C reaches
# the whole process group, and the training process stops the child itself (on_exception -> close), so the child
# neither dies mid-job nor prints its own KeyboardInterrupt traceback. _serve runs from the importable module, not
# __main__, so that pickled jobs and results name the same classes.
_CHILD_MAIN = (
    "import os, signal, sys\n"
    "signal.signal(signal.SIGINT, signal.SIG_IGN)\n"
    "n = int(sys.argv[1])\n"
    "if n and hasattr(os, 'nice'):\n"
    "    try:\n"
    "        os.nice(n)\n"
    "    except OSError:\n"
    "        pass\n"
    "from topoact_lightning.monitor.worker import _serve\n"
    "_serve()\n"
)


def _serve() -> None:
    import sys

    # The protocol owns the real stdout; anything the engine prints goes to stderr.
    out = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)
    inp = sys.stdin.buffer
    builder = GraphBuilder()
    builder.record_warnings = True
    while True:
        try:
            kind, payload = _recv(inp)
        except EOFError:
            return
        if kind == "stop":
            # Skip the interpreter's teardown (every fit waits for it at its end): this
            # process holds no files or buffers but the two flushed below.
            out.flush()
            sys.stderr.flush()
            os._exit(0)
        if kind == "restore":
            builder.restore(payload)
            continue
        if kind == "findings":
            builder.restore_findings(payload)
            continue
        _send(out, builder(payload))
