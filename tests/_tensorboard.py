"""A real ``tensorboard`` process on a free port, for the server, browser and demo tests and the plugin benchmarks;
and ``later_writer``, for tests that add an epoch to a run such a process is reading.

Example::

    with tensorboard_process(logdir, "--load_fast=false") as tb:
        tb.wait_for(lambda: fetch(tb.base + "/data/plugin/topoact/runs")[0] == 200, "the TopoAct routes")
        status, content_type, body = fetch(tb.base + "/data/plugins_listing")
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

# Both back ends load the logdir in the background; on two busy cores a first load can take tens of seconds.
START_TIMEOUT = 90.0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


#: How long one request may take before the server counts as hung: a bound, not a speed. Two busy cores have made
#: a first t-SNE answer (which imports scikit-learn's manifold module) take over 10 s.
FETCH_TIMEOUT = 60.0


def fetch(url: str, timeout: float = FETCH_TIMEOUT) -> tuple[int, str, bytes]:
    """(status, content type, body) of a GET; HTTP errors are answers here, not exceptions."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as r:
            return r.status, r.headers.get("Content-Type", ""), r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.headers.get("Content-Type", ""), e.read()


def later_writer(run_dir: Path | str):
    """A ``SummaryWriter`` for ``run_dir`` whose event file TensorBoard reads after the run's existing ones.

    For tests that add an epoch to a run TensorBoard is already reading. Its Python back end reads a run's event
    files in name order and never goes back to a name that sorts earlier; torch names them
    ``events.out.tfevents.<second>.<host>.<pid>.<counter>``, so within one second counter 12 sorts before 9 and
    the new file would be skipped for good. Starting the writer in a later second than every existing file
    puts it last.
    """
    from torch.utils.tensorboard import SummaryWriter

    seconds = [int(p.name.split(".")[3]) for p in Path(run_dir).glob("events.out.tfevents.*")]
    while seconds and time.time() < max(seconds) + 1:
        time.sleep(0.05)
    return SummaryWriter(str(run_dir))


def tensorboard_command() -> list[str]:
    """The venv's ``tensorboard`` script (the one whose entry points include this plugin)."""
    script = Path(sys.executable).with_name("tensorboard")
    return [str(script)] if script.exists() else [sys.executable, "-m", "tensorboard.main"]


def stop(proc: subprocess.Popen) -> None:
    """End a server started with ``start_new_session=True``: its whole process group, killed if it lingers."""
    if proc.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout=15)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


@dataclass
class TensorBoard:
    base: str
    """Base URL, including any ``--path_prefix``."""
    proc: subprocess.Popen
    log: Path
    """The server's combined stdout and stderr."""

    def wait_for(self, predicate: Callable[[], Any], what: str, timeout: float = START_TIMEOUT) -> Any:
        """Poll ``predicate`` until it returns a truthy value, which is returned.

        Fails with the server's log if the server exits or the time runs out; connection errors while it
        starts count as "not yet".
        """
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(
                    f"tensorboard exited with {self.proc.returncode} while waiting for {what}:\n"
                    f"{self.log.read_text()}"
                )
            with contextlib.suppress(OSError):
                value = predicate()
                if value:
                    return value
            time.sleep(0.3)
        raise RuntimeError(f"timed out waiting for {what}:\n{self.log.read_text()}")


@contextlib.contextmanager
def tensorboard_process(
    logdir: Path | str,
    *args: str,
    env: dict[str, str] | None = None,
    cwd: Path | None = None,
    prefix: str = "",
    command: list[str] | None = None,
) -> Iterator[TensorBoard]:
    """``tensorboard --logdir logdir *args`` on 127.0.0.1, yielded once its HTTP server answers.

    ``prefix`` is the ``--path_prefix`` given in ``args``, so that ``base`` includes it. ``command`` is the
    ``tensorboard`` to run (this venv's by default). The process runs in its own session and is terminated
    (killed if it lingers) on exit; its log file is removed.
    """
    port = free_port()
    log = Path(tempfile.mkstemp(prefix=f"tensorboard-{port}-", suffix=".log")[1])
    cmd = command or tensorboard_command()
    cmd = [*cmd, "--logdir", str(logdir), "--host", "127.0.0.1", "--port", str(port), *args]
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            cmd, stdout=out, stderr=subprocess.STDOUT, env=env, cwd=cwd, start_new_session=True
        )
    tb = TensorBoard(f"http://127.0.0.1:{port}{prefix}", proc, log)
    try:
        tb.wait_for(lambda: fetch(tb.base + "/data/plugins_listing")[0] == 200, "the server")
        yield tb
    finally:
        stop(proc)
        with contextlib.suppress(OSError):
            log.unlink()
