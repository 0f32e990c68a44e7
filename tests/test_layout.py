"""The three wings and their borders, proven with imports blocked.

- **engine** (``topoact_lightning.engine``): numpy, scipy and scikit-learn. The callback's graph process is a fresh
  interpreter that imports the engine and the monitor's torch-free modules only; if one of them pulled in torch,
  every fit would pay torch's import (seconds) there, and a user of the engine alone would need torch.
- **monitor** (``topoact_lightning.monitor``): torch and Lightning.
- **viewer** (``topoact_tensorboard``): the engine and the log format, never the monitor, torch or Lightning: it
  runs inside ``tensorboard``, which needs neither.

What the monitor and the viewer both need is the log format (``topoact_lightning.logformat``), torch-free; with
``errors`` and ``reader`` (:class:`LogReader`, for notebooks without torch) it is the shared layer.

Modules are found by walking the packages, never listed: a new module is held to its wing's rule at once. Each
border is checked twice: statically (no module of a wing names what it may not import, even in a function) and
by running the wing in an interpreter where those imports fail.
"""

from __future__ import annotations

import ast
import importlib
import importlib.util
import pkgutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

TORCH = ("torch", "lightning", "pytorch_lightning", "lightning_fabric", "lightning_utilities")
MONITOR = "topoact_lightning.monitor"
VIEWER = "topoact_tensorboard"


def modules_of(package: str) -> list[str]:
    """``package`` and every module below it, found by walking it."""
    root = importlib.import_module(package)
    found = [package]
    if hasattr(root, "__path__"):
        found += [m.name for m in pkgutil.walk_packages(root.__path__, prefix=package + ".")]
    return sorted(found)


ALL = modules_of("topoact_lightning") + modules_of(VIEWER)
ENGINE = modules_of("topoact_lightning.engine")
LOG_FORMAT = modules_of("topoact_lightning.logformat")
#: The shared layer's modules outside the log format package.
SHARED = ["topoact_lightning", "topoact_lightning.errors", "topoact_lightning.reader"]

#: Per wing: the names its modules may never import (a name and everything below it).
FORBIDDEN = {
    # The engine may import torch in one place: the GPU distance blocks of Mapper(device=...), on request.
    "topoact_lightning.engine": (
        "lightning", "pytorch_lightning", "tensorboard", MONITOR, VIEWER, "topoact_lightning.logformat",
    ),
    MONITOR: (VIEWER,),
    "topoact_lightning.logformat": (*TORCH, MONITOR, VIEWER),
    VIEWER: (*TORCH, MONITOR),
    "topoact_lightning.errors": (*TORCH, MONITOR, VIEWER),
    "topoact_lightning.reader": (*TORCH, MONITOR, VIEWER),
    "topoact_lightning": (*TORCH, VIEWER),  # its lazy exports name the monitor's callback, as strings
}  # fmt: skip


def _wing(module: str) -> str | None:
    """The rule ``module`` keeps: the longest key of :data:`FORBIDDEN` it is or lies below."""
    matches = [w for w in FORBIDDEN if module == w or module.startswith(w + ".")]
    matches = [w for w in matches if w != "topoact_lightning" or module == w]
    return max(matches, key=len) if matches else None


def _imported_names(module: str) -> set[str]:
    """Every absolute module name an ``import`` in ``module``'s source names, at any depth of the code."""
    path = Path(importlib.util.find_spec(module).origin)
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names |= {node.module} | {f"{node.module}.{a.name}" for a in node.names}
    return names


def _names(name: str, prefixes: tuple[str, ...]) -> bool:
    return any(name == p or name.startswith(p + ".") for p in prefixes)


def test_every_module_is_in_a_wing() -> None:
    assert {"topoact_lightning.engine.projection", "topoact_lightning.engine.remap"} <= set(ENGINE)
    assert [m for m in ALL if _wing(m) is None] == [], "a module outside the wings: place it in one"
    assert set(SHARED) <= set(ALL)


@pytest.mark.parametrize("module", ALL)
def test_no_module_names_what_its_wing_may_not_import(module: str) -> None:
    names = _imported_names(module)
    if _wing(module) == "topoact_lightning.engine" and module != "topoact_lightning.engine.distances":
        assert not any(_names(n, TORCH) for n in names), f"{module} imports torch: only distances.py may"
    bad = sorted(n for n in names if _names(n, FORBIDDEN[_wing(module)]))
    assert bad == [], f"{module} ({_wing(module)}) imports what its wing may not"


def test_only_the_log_format_reads_event_files() -> None:
    """One reader of the logs on disk (``logformat.events``): LogReader, the monitor's resume and the viewer's way
    around the Rust data server read through it, so a change of the format is made there once."""
    loader = "tensorboard.backend.event_processing.event_file_loader"
    readers = [m for m in ALL if any(_names(n, (loader,)) for n in _imported_names(m))]
    assert readers == ["topoact_lightning.logformat.events"]


# An import hook that refuses torch and both Lightning namespaces (and, when asked, more names), installed before
# anything else is imported.
_BLOCK = textwrap.dedent(
    """
    import importlib.abc, sys

    class _Refuse(importlib.abc.MetaPathFinder):
        BLOCKED = {blocked!r}

        def find_spec(self, name, path=None, target=None):
            if any(name == b or name.startswith(b + ".") for b in self.BLOCKED):
                raise ImportError(f"{{name}} is blocked in this test")
            return None

    sys.meta_path.insert(0, _Refuse())
    """
)


def _run(body: str, blocked: tuple[str, ...] = TORCH) -> subprocess.CompletedProcess:
    check = textwrap.dedent(
        f"""
        leaked = sorted(m for m in sys.modules if any(m == b or m.startswith(b + ".") for b in {blocked!r}))
        assert not leaked, f"imported although blocked: {{leaked}}"
        """
    )
    code = _BLOCK.format(blocked=blocked) + textwrap.dedent(body) + check
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)


@pytest.mark.slow
def test_engine_runs_where_torch_cannot_be_imported() -> None:
    result = _run(
        f"""
        import importlib
        import numpy as np
        from topoact_lightning import Mapper, MapperGraph, compare_graphs

        for name in {ENGINE!r}:
            importlib.import_module(name)

        rng = np.random.default_rng(0)
        X = np.concatenate([rng.normal(0, 0.1, (150, 16)), rng.normal(2, 0.1, (150, 16))]).astype(np.float32)
        y = np.repeat([0, 1], 150)
        for kwargs in ({{}}, {{"lens": "pca2", "n_intervals": 4}}, {{"fast": True, "n_components": 4}}):
            a = Mapper(**kwargs).fit(X, labels=y).graph_
            assert MapperGraph.from_bytes(a.to_bytes()) == a
        b = Mapper(overlap=0.5).fit(X, labels=y).graph_
        print(a.metrics()["purity"], compare_graphs(a, b).distance)
        """
    )
    assert result.returncode == 0, result.stderr
    assert "blocked" not in result.stderr


@pytest.mark.slow
def test_graph_process_modules_run_where_torch_cannot_be_imported() -> None:
    result = _run(
        """
        import numpy as np
        from topoact_lightning.monitor.building import GraphBuilder, GraphJob

        x = np.random.default_rng(1).normal(size=(120, 8)).astype(np.float32)
        job = GraphJob(step=0, layer="fc", activations=x, labels=None, class_names=None, extras={},
                       mapper_params={"n_intervals": 4})
        result = GraphBuilder()(job)
        assert result.graph_bytes is not None, result.error
        """
    )
    assert result.returncode == 0, result.stderr


@pytest.mark.slow
def test_log_format_and_reader_run_without_torch_or_the_monitor(tmp_path) -> None:
    # A notebook reading logs needs no torch: write one graph and its activations with TensorBoard's own writer.
    result = _run(
        f"""
        import importlib
        import numpy as np
        from tensorboard.summary.writer.event_file_writer import EventFileWriter
        from tensorboard.compat.proto import event_pb2
        from topoact_lightning import LogReader, Mapper
        from topoact_lightning.logformat import findings, summary

        for name in {[*LOG_FORMAT, *SHARED]!r}:
            importlib.import_module(name)

        x = np.random.default_rng(1).normal(size=(120, 8)).astype(np.float32)
        g = Mapper(n_intervals=4).fit_graph(x)
        dead = findings.logged({{"step": 3, "layer": "fc", "kind": "dead", "message": "m", "details": {{}}}})
        w = EventFileWriter({str(tmp_path)!r})
        for s in (summary.graph_summary("fc", g.to_bytes(), {{"problem": None, "findings": [dead]}}, 0),
                  summary.activations_summary("fc", summary.encode_activations(x), 0)):
            w.add_event(event_pb2.Event(step=3, summary=s))
        w.close()
        log = LogReader({str(tmp_path)!r})
        assert log.layers == ["fc"] and log.steps("fc") == [3]
        assert log.graph("fc", 3).to_bytes() == g.to_bytes()
        assert np.allclose(log.activations("fc", 3), x, rtol=1e-3, atol=1e-3)
        assert log.annotations("fc", 3)["findings"] == [dead]
        """,
        blocked=(*TORCH, MONITOR),
    )
    assert result.returncode == 0, result.stderr


@pytest.mark.slow
def test_viewer_serves_a_logged_run_without_torch_lightning_or_the_monitor(trained_logdir) -> None:
    """The plugin's WSGI app, on TensorBoard's Python data provider, serves every route for a run the monitor
    logged (graphs, stored activations, findings, thumbnails), in an interpreter where the monitor, torch and
    Lightning cannot be imported."""
    result = _run(
        f"""
        import importlib, json
        from tensorboard.backend import application
        from tensorboard.backend.event_processing import data_provider, plugin_event_multiplexer
        from tensorboard.plugins import base_plugin
        from werkzeug import test as werkzeug_test, wrappers

        for name in {modules_of(VIEWER)!r}:
            importlib.import_module(name)
        from topoact_tensorboard.loader import TopoActLoader

        logdir = {str(trained_logdir)!r}
        mux = plugin_event_multiplexer.EventMultiplexer(tensor_size_guidance={{"topoact": 0}})
        mux.AddRunsFromDirectory(logdir)
        mux.Reload()
        provider = data_provider.MultiplexerDataProvider(mux, logdir)
        plugin = TopoActLoader().load(base_plugin.TBContext(logdir=logdir, data_provider=provider))
        assert plugin is not None, "the loader could not load the plugin"
        client = werkzeug_test.Client(application.TensorBoardWSGI([plugin], data_provider=provider),
                                      wrappers.Response)

        def get(route, **query):
            r = client.get("/data/plugin/topoact/" + route, query_string=query)
            assert r.status_code == 200, (route, query, r.status_code, r.get_data()[:300])
            return r.get_data() if route.startswith(("thumbnail", "static/")) else json.loads(r.get_data())

        (run,) = get("runs")
        assert run["run"] == "run" and run["layers"] == ["features.3", "fc1"] and run["activations"]
        epochs = get("epochs", run="run", layer="fc1")["epochs"]
        last = epochs[-1]
        graph = get("graph", run="run", layer="fc1", epoch=last)
        assert graph["nodes"] and graph["epoch"] == last
        assert get("graph", run="run", layer="fc1", epoch=last, n_intervals=6, eps="fixed")["remapped"]
        assert get("compare", run="run", layer="fc1", epoch=0, epoch2=last)["a"]["epoch"] == 0
        assert len(get("metrics", run="run", layer="fc1")["epochs"]) == len(epochs)
        assert get("track", run="run", layer="fc1", samples="0,1")["samples"] == [0, 1]
        assert get("findings", run="run")["layers"] == ["features.3", "fc1"]
        assert len(get("projection", run="run", layer="fc1", epoch=last)["x"]) == 300
        assert get("thumbnail", run="run", sample=0)[:4] == b"\\x89PNG"
        assert b"render" in get("static/index.js")
        """,
        blocked=(*TORCH, MONITOR),
    )
    assert result.returncode == 0, result.stderr


def test_the_blocker_really_blocks() -> None:
    # Guards the tests above: if the hook let torch or the monitor through they would prove nothing.
    for name in ("torch", "lightning.pytorch", "topoact_lightning.monitor.findings"):
        result = _run(f"import {name}\n", blocked=(*TORCH, MONITOR))
        assert result.returncode != 0
        assert "blocked in this test" in result.stderr
