"""The plugin inside a real ``tensorboard`` process, with both data back ends, found through its entry point.

Also: a broken installation (``topoact_lightning`` failing to import) costs the TopoAct tab, not TensorBoard.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from test_plugin_routes import N_EPOCHS, synthetic_graph, write_logs
from torch.utils.tensorboard import SummaryWriter

from topoact_lightning import summary

pytestmark = pytest.mark.slow

START_TIMEOUT = 90.0


def tensorboard_command() -> list[str]:
    script = Path(sys.executable).with_name("tensorboard")
    return [str(script)] if script.exists() else [sys.executable, "-m", "tensorboard.main"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def fetch(url: str, timeout: float = 10.0) -> tuple[int, str, bytes]:
    """(status, content type, body) of a GET; HTTP errors are answers here, not exceptions."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as r:
            return r.status, r.headers.get("Content-Type", ""), r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.headers.get("Content-Type", ""), e.read()


def wait_for(predicate, what: str, proc: subprocess.Popen, log: Path, timeout: float = START_TIMEOUT):
    """Poll ``predicate`` until it returns a truthy value; fail with the server's log if it never does."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(
                f"tensorboard exited with {proc.returncode} while waiting for {what}:\n{log.read_text()}"
            )
        with contextlib.suppress(OSError):
            value = predicate()
            if value:
                return value
        time.sleep(0.3)
    pytest.fail(f"timed out waiting for {what}:\n{log.read_text()}")


@contextlib.contextmanager
def tensorboard(logdir: Path, *args: str, env: dict | None = None, cwd: Path | None = None, prefix: str = ""):
    """A running ``tensorboard`` serving ``logdir``; yields ``(base_url, process, log_path)``."""
    port = free_port()
    log = logdir.parent / f"tensorboard-{port}.log"
    cmd = [*tensorboard_command(), "--logdir", str(logdir), "--host", "127.0.0.1", "--port", str(port), *args]
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            cmd,
            stdout=out,
            stderr=subprocess.STDOUT,
            env=env,
            cwd=cwd or logdir.parent,
            start_new_session=True,
        )
    base = f"http://127.0.0.1:{port}{prefix}"
    try:
        wait_for(lambda: fetch(base + "/data/plugins_listing")[0] == 200, "the server", proc, log)
        yield base, proc, log
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@pytest.fixture
def logdir(tmp_path):
    write_logs(str(tmp_path / "logs"))
    return tmp_path / "logs"


def get_json(url: str):
    status, ctype, body = fetch(url)
    assert status == 200, (url, status, body[:500])
    assert ctype.startswith("application/json")
    return json.loads(body)


@pytest.mark.parametrize(
    "backend,prefix",
    [([], ""), (["--load_fast=false"], "/behind/proxy")],
    ids=["rust", "python-with-path-prefix"],
)
def test_plugin_in_a_real_tensorboard(logdir, backend, prefix):
    args = [*backend, "--path_prefix", prefix] if prefix else backend
    with tensorboard(logdir, "--reload_interval", "1", *args, prefix=prefix) as (base, proc, log):
        listing = get_json(base + "/data/plugins_listing")
        assert listing["topoact"]["enabled"] is True
        assert listing["topoact"]["tab_name"] == "TopoAct"
        plugin = base + "/data/plugin/topoact/"

        def loaded():
            # Both back ends load the logdir in the background: wait until every run and epoch is in.
            runs = get_json(plugin + "runs")
            if [r["run"] for r in runs] != ["broken", "run_a", "run_b"]:
                return None
            epochs = get_json(plugin + "epochs?run=run_a&layer=fc1")["epochs"]
            return epochs if len(epochs) == N_EPOCHS else None

        # Every epoch, although TensorBoard keeps only 10 steps per tag unless the loader says otherwise.
        assert wait_for(loaded, "all epochs", proc, log) == list(range(N_EPOCHS))
        assert get_json(plugin + "epochs?run=run_b&layer=fc1")["epochs"] == list(range(N_EPOCHS))

        graph = get_json(plugin + f"graph?run=run_a&layer=encoder.0&epoch={N_EPOCHS - 1}")
        assert graph["epoch"] == N_EPOCHS - 1 and graph["params"]["epoch"] == N_EPOCHS - 1
        assert len(graph["nodes"]) == 8

        status, _, body = fetch(plugin + "graph?run=broken&layer=fc1&epoch=1")
        assert status == 404 and b"unreadable" in body
        status, ctype, body = fetch(plugin + "thumbnail?run=run_a&sample=3")
        assert status == 200 and ctype == "image/png" and body[:4] == b"\x89PNG"

        status, ctype, body = fetch(plugin + "static/index.js")
        assert status == 200, body[:300]
        assert ctype.startswith("text/javascript")
        assert b"render" in body
        assert fetch(plugin + "static/../loader.py")[0] == 404

        # Training goes on while TensorBoard runs: the next reload brings the new epoch to the routes.
        writer = SummaryWriter(str(logdir / "run_a"))
        summary.write_summary(
            writer, summary.graph_summary("fc1", synthetic_graph(N_EPOCHS).to_bytes()), N_EPOCHS
        )
        writer.close()
        new = wait_for(
            lambda: N_EPOCHS in (e := get_json(plugin + "epochs?run=run_a&layer=fc1")["epochs"]) and e,
            "the new epoch",
            proc,
            log,
        )
        assert new == list(range(N_EPOCHS + 1))
        assert get_json(plugin + f"graph?run=run_a&layer=fc1&epoch={N_EPOCHS}")["params"]["epoch"] == N_EPOCHS


def test_tensorboard_starts_when_the_plugin_cannot_be_imported(logdir, tmp_path):
    # A directory that shadows topoact_lightning with a module that fails to import, as a broken install would.
    shadow = tmp_path / "shadow" / "topoact_lightning"
    shadow.mkdir(parents=True)
    (shadow / "__init__.py").write_text('raise ImportError("simulated broken topoact_lightning")\n')
    env = dict(os.environ, PYTHONPATH=str(shadow.parent))
    with tensorboard(logdir, "--load_fast=false", env=env, cwd=tmp_path) as (base, proc, log):
        listing = get_json(base + "/data/plugins_listing")
        assert "topoact" not in listing
        assert "scalars" in listing
        assert fetch(base + "/data/plugin/topoact/runs")[0] == 404
        text = log.read_text()
        assert "The TopoAct plugin could not be loaded" in text
        assert "simulated broken topoact_lightning" in text
        assert proc.poll() is None
