"""The plugin inside a real ``tensorboard`` process, with both data back ends, found through its entry point.

Also: a broken installation (``topoact_lightning`` failing to import) costs the TopoAct tab, not TensorBoard.
"""

from __future__ import annotations

import json
import os

import pytest
from test_plugin_routes import N_EPOCHS, synthetic_graph, write_logs

from tests._tensorboard import fetch, later_writer, tensorboard_process
from topoact_lightning.logformat import summary

pytestmark = pytest.mark.slow


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
    ("backend", "prefix"),
    [([], ""), (["--load_fast=false"], "/behind/proxy")],
    ids=["rust", "python-with-path-prefix"],
)
def test_plugin_in_a_real_tensorboard(logdir, backend, prefix):
    args = [*backend, "--path_prefix", prefix] if prefix else backend
    with tensorboard_process(logdir, "--reload_interval", "1", *args, prefix=prefix) as tb:
        base = tb.base
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
        assert tb.wait_for(loaded, "all epochs") == list(range(N_EPOCHS))
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
        writer = later_writer(logdir / "run_a")
        summary.write_summary(
            writer, summary.graph_summary("fc1", synthetic_graph(N_EPOCHS).to_bytes()), N_EPOCHS
        )
        writer.close()
        new = tb.wait_for(
            lambda: N_EPOCHS in (e := get_json(plugin + "epochs?run=run_a&layer=fc1")["epochs"]) and e,
            "the new epoch",
        )
        assert new == list(range(N_EPOCHS + 1))
        assert get_json(plugin + f"graph?run=run_a&layer=fc1&epoch={N_EPOCHS}")["params"]["epoch"] == N_EPOCHS


def test_tensorboard_starts_when_the_plugin_cannot_be_imported(logdir, tmp_path):
    # A directory that shadows topoact_lightning with a module that fails to import, as a broken install would.
    shadow = tmp_path / "shadow" / "topoact_lightning"
    shadow.mkdir(parents=True)
    (shadow / "__init__.py").write_text('raise ImportError("simulated broken topoact_lightning")\n')
    env = dict(os.environ, PYTHONPATH=str(shadow.parent))
    with tensorboard_process(logdir, "--load_fast=false", env=env, cwd=tmp_path) as tb:
        listing = get_json(tb.base + "/data/plugins_listing")
        assert "topoact" not in listing
        assert "scalars" in listing
        assert fetch(tb.base + "/data/plugin/topoact/runs")[0] == 404
        text = tb.log.read_text()
        assert "The TopoAct plugin could not be loaded" in text
        assert "simulated broken topoact_lightning" in text
        assert tb.proc.poll() is None
