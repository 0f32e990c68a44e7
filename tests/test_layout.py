"""The layout's one rule: the engine (and the graph process's modules) never import torch or Lightning.

The callback's graph process is a fresh interpreter that imports the engine and the monitor's torch-free modules
only; if one of them pulled in torch, every fit would pay torch's import (seconds) in that process, and a user
of the engine alone would need torch installed. The tests run that code in an interpreter where importing torch
or Lightning fails.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

# An import hook that refuses torch and both Lightning namespaces, installed before anything else is imported.
_BLOCK = textwrap.dedent(
    """
    import importlib.abc, sys

    class _Refuse(importlib.abc.MetaPathFinder):
        BLOCKED = ("torch", "lightning", "pytorch_lightning", "lightning_fabric", "lightning_utilities")

        def find_spec(self, name, path=None, target=None):
            if name.split(".")[0] in self.BLOCKED:
                raise ImportError(f"{name} is blocked in this test")
            return None

    sys.meta_path.insert(0, _Refuse())
    """
)


def _run(body: str) -> subprocess.CompletedProcess:
    code = _BLOCK + textwrap.dedent(body)
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)


@pytest.mark.slow
def test_engine_runs_where_torch_cannot_be_imported() -> None:
    result = _run(
        """
        import numpy as np
        import topoact_lightning
        from topoact_lightning import Mapper, MapperGraph, compare_graphs
        from topoact_lightning.engine import (  # noqa: F401
            compare, covers, dbscan, distances, elements, export, graph, lenses, lowrank, mapper, memberships,
            metrics, neighbors, params, serialization, threads,
        )

        rng = np.random.default_rng(0)
        X = np.concatenate([rng.normal(0, 0.1, (150, 16)), rng.normal(2, 0.1, (150, 16))]).astype(np.float32)
        y = np.repeat([0, 1], 150)
        for kwargs in ({}, {"lens": "pca2", "n_intervals": 4}, {"fast": True, "n_components": 4}):
            a = Mapper(**kwargs).fit(X, labels=y).graph_
            assert MapperGraph.from_bytes(a.to_bytes()) == a
        b = Mapper(overlap=0.5).fit(X, labels=y).graph_
        print(a.metrics()["purity"], compare_graphs(a, b).distance)
        assert "torch" not in sys.modules, "the engine imported torch"
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
        assert "torch" not in sys.modules
        """
    )
    assert result.returncode == 0, result.stderr


@pytest.mark.slow
def test_log_reader_runs_where_torch_cannot_be_imported(tmp_path) -> None:
    # A notebook reading logs needs no torch: write one graph and its activations with TensorBoard's own writer.
    result = _run(
        f"""
        import numpy as np
        from tensorboard.summary.writer.event_file_writer import EventFileWriter
        from tensorboard.compat.proto import event_pb2
        from topoact_lightning import LogReader, Mapper, summary

        x = np.random.default_rng(1).normal(size=(120, 8)).astype(np.float32)
        g = Mapper(n_intervals=4).fit_graph(x)
        w = EventFileWriter({str(tmp_path)!r})
        for s in (summary.graph_summary("fc", g.to_bytes(), {{"problem": None}}, 0),
                  summary.activations_summary("fc", summary.encode_activations(x), 0)):
            w.add_event(event_pb2.Event(step=3, summary=s))
        w.close()
        log = LogReader({str(tmp_path)!r})
        assert log.layers == ["fc"] and log.steps("fc") == [3]
        assert log.graph("fc", 3).to_bytes() == g.to_bytes()
        assert np.allclose(log.activations("fc", 3), x, rtol=1e-3, atol=1e-3)
        assert "torch" not in sys.modules
        """
    )
    assert result.returncode == 0, result.stderr


def test_the_blocker_really_blocks() -> None:
    # Guards the two tests above: if the hook let torch through they would prove nothing.
    result = _run("import torch\n")
    assert result.returncode != 0
    assert "blocked in this test" in result.stderr
