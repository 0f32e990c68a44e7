"""``scripts/demo``, the README's first command: it serves a trained demo with the TopoAct tab and prints the URL.

Training the demo is ``examples/digits_cnn.py``, run in ``test_examples.py``; here the log dir already holds a real
trained run, so the script takes its serving path, in the test suite's own virtual environment.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests._tensorboard import TensorBoard, fetch, free_port, stop

ROOT = Path(__file__).resolve().parent.parent
DEMO = ROOT / "scripts" / "demo"


def demo_env() -> dict[str, str]:
    # The suite's venv (sys.prefix), whose test extra includes the demo's: the script installs nothing.
    return dict(os.environ, TOPOACT_VENV=sys.prefix)


@pytest.mark.slow
def test_demo_serves_a_trained_demo_and_prints_its_url(trained_logdir, tmp_path):
    logdir = tmp_path / "demo logs"  # a space, as a user's path may hold
    shutil.copytree(trained_logdir / "run", logdir / "digits_cnn" / "version_0")
    port = free_port()
    log = tmp_path / "demo.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            ["bash", str(DEMO), "--logdir", "demo logs", "--port", str(port), "--host", "127.0.0.1"],
            cwd=tmp_path,  # --logdir is relative to where the user runs the script, not to the repository
            env=demo_env(),
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    base = f"http://127.0.0.1:{port}"
    tb = TensorBoard(base, proc, log)
    try:
        text = tb.wait_for(lambda: "serving TensorBoard" in (t := log.read_text()) and t, "the demo's URL")
        # "serving" comes once TensorBoard answers, and the last URL printed opens the TopoAct tab.
        assert fetch(base + "/data/plugins_listing")[0] == 200
        assert f"open http://127.0.0.1:{port}/#topoact" in text
        assert re.findall(r"https?://\S+", text)[-1] == f"http://127.0.0.1:{port}/#topoact"
        assert "already holds a trained demo" in text and "training the demo" not in text
        assert "installing" not in text

        def runs():
            status, _, body = fetch(base + "/data/plugin/topoact/runs")
            return status == 200 and json.loads(body)

        (run,) = tb.wait_for(runs, "the demo's run in the TopoAct tab")
        assert run["run"] == "digits_cnn/version_0"

        def epochs():
            # TensorBoard loads event files in the background: a run can be listed before all its epochs are.
            status, _, body = fetch(base + "/data/plugin/topoact/epochs?run=digits_cnn/version_0&layer=fc1")
            return status == 200 and json.loads(body)["epochs"] == [0, 1, 2, 3]

        tb.wait_for(epochs, "epochs 0-3 of layer fc1")
        status, _, body = fetch(
            base + "/data/plugin/topoact/graph?run=digits_cnn/version_0&layer=fc1&epoch=3"
        )
        assert status == 200 and len(json.loads(body)["nodes"]) > 0
    finally:
        stop(proc)


def test_demo_refuses_an_unknown_argument():
    proc = subprocess.run(
        ["bash", str(DEMO), "--prot", "6006"], capture_output=True, text=True, env=demo_env(), timeout=60
    )
    assert proc.returncode == 2
    assert re.search(r"unknown argument: --prot \(expected --port N", proc.stderr)


@pytest.mark.slow
def test_demo_on_a_busy_port_fails_clearly_before_serving(trained_logdir, tmp_path):
    import socket

    logdir = tmp_path / "demo"
    shutil.copytree(trained_logdir / "run", logdir / "digits_cnn" / "version_0")
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        proc = subprocess.run(
            ["bash", str(DEMO), "--logdir", str(logdir), "--port", str(port), "--host", "127.0.0.1"],
            capture_output=True,
            text=True,
            env=demo_env(),
            timeout=120,
        )
    assert proc.returncode == 1
    assert f"port {port} on 127.0.0.1 is not free" in proc.stderr and "--port N" in proc.stderr
    assert "serving" not in proc.stdout
