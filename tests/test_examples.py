"""The examples, run as users run them (``python examples/<name>.py --quick``), and what they logged, read back
with TensorBoard's own reader."""

from __future__ import annotations

import importlib
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from _training import read_run

from topoact_lightning.engine.metrics import GRAPH_METRICS
from topoact_lightning.logformat.summary import (
    KIND_GRAPH,
    graph_tag,
    scalar_tag,
)

pytestmark = pytest.mark.slow

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
QUICK_STEPS = [0, 1, 2]  # --quick trains 2 epochs; step 0 is the untrained network
# Beside the graph metrics, the callback logs these health diagnostics per layer.
HEALTH_METRICS = ("dead_units", "effective_rank")


def run_example(script: str, logdir: Path, *args: str) -> subprocess.CompletedProcess:
    """Run ``examples/<script>`` in ``--quick`` mode as a user would, from a scratch working directory."""
    cmd = [sys.executable, str(EXAMPLES / script), "--quick", "--logdir", str(logdir), *args]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300, cwd=logdir.parent)
    assert proc.returncode == 0, f"{script} failed:\n{proc.stdout[-2000:]}\n{proc.stderr[-4000:]}"
    return proc


def import_example(name: str):
    sys.path.insert(0, str(EXAMPLES))
    try:
        return importlib.import_module(name)
    finally:
        sys.path.remove(str(EXAMPLES))


def only_run(logdir: Path, name: str) -> Path:
    (run_dir,) = (logdir / name).glob("version_*")
    return run_dir


def check_layers_logged(log: dict, layers: list[str], n_probe: int, class_names: list[str]) -> None:
    """Every layer has a decodable graph at every step, with its metadata and its ``topoact/...`` scalars."""
    assert sorted(log["graphs"]) == sorted(layers)
    for layer in layers:
        info = log["metadata"][graph_tag(layer)]
        assert (info.kind, info.layer) == (KIND_GRAPH, layer)
        assert sorted(log["graphs"][layer]) == QUICK_STEPS
        for graph in log["graphs"][layer].values():
            assert graph.n_samples == n_probe
            assert graph.n_nodes >= 1
            assert graph.class_names == class_names
            assert graph.labels is not None and set(graph.labels.tolist()) <= set(range(len(class_names)))
            # Labels and class logits in the probe: each sample's prediction, correctness and loss come along.
            assert {"prediction", "correct", "loss"} <= set(graph.extras)
        for metric in (*GRAPH_METRICS, *HEALTH_METRICS):
            values = log["scalars"][scalar_tag(layer, metric)]
            assert sorted(values) == QUICK_STEPS, (layer, metric)
        final = log["graphs"][layer][QUICK_STEPS[-1]].metrics()
        assert log["scalars"][scalar_tag(layer, "nodes")][QUICK_STEPS[-1]] == final["nodes"]


# ------------------------------------------------------------------------------------------------ digits_cnn
def test_digits_cnn_logs_three_layers_every_epoch_and_thumbnails(tmp_path):
    logdir = tmp_path / "logs"
    proc = run_example("digits_cnn.py", logdir)
    accuracy = float(re.search(r"validation accuracy (\d\.\d+)", proc.stdout).group(1))
    assert 0.0 <= accuracy <= 1.0

    log = read_run(only_run(logdir, "digits_cnn"))
    check_layers_logged(
        log, ["block1", "block2", "hidden"], n_probe=120, class_names=[str(d) for d in range(10)]
    )
    # The probe's 8x8 digits, once, in probe order, for the node inspector.
    assert list(log["thumbnails"]) == [0]
    digits_cnn = import_example("digits_cnn")
    _, _, x_val, y_val = digits_cnn.digits_data(seed=0)
    expected = np.round(x_val[:120, 0].numpy() * 255).astype(np.uint8)  # inputs span [0, 1] over the probe
    np.testing.assert_array_equal(log["thumbnails"][0][..., 0], expected)
    assert log["graphs"]["hidden"][0].labels.tolist() == y_val[:120].tolist()
    # The training curves sit next to the topology.
    assert "val_acc" in log["scalars"]


# ------------------------------------------------------------------------------------- diagnose_architecture
@pytest.fixture(scope="module")
def diagnosis(tmp_path_factory):
    logdir = tmp_path_factory.mktemp("diagnosis") / "logs"
    proc = run_example("diagnose_architecture.py", logdir)
    return proc, {run: read_run(only_run(logdir, run)) for run in ("healthy", "broken")}


def test_diagnosis_logs_both_runs_in_one_logdir(diagnosis):
    _, logs = diagnosis
    for log in logs.values():
        check_layers_logged(
            log, ["block1", "block2", "hidden"], n_probe=150, class_names=[str(d) for d in range(10)]
        )


def test_diagnosis_metrics_tell_the_broken_run_apart(diagnosis):
    _, logs = diagnosis
    healthy, broken = logs["healthy"]["scalars"], logs["broken"]["scalars"]
    dead = scalar_tag("hidden", "dead_units")
    # The broken hidden layer is dead from the untrained network on; the healthy one is mostly alive.
    assert all(v == 1.0 for v in broken[dead].values())
    assert all(v < 0.5 for v in healthy[dead].values())
    assert all(v == 0.0 for v in broken[scalar_tag("hidden", "effective_rank")].values())
    # Its graph collapses to one node holding every probe sample, of every class.
    final = QUICK_STEPS[-1]
    graph = logs["broken"]["graphs"]["hidden"][final]
    assert graph.n_nodes == 1 and graph.node_sizes[0] == graph.n_samples
    assert broken[scalar_tag("hidden", "largest_node_share")][final] == 1.0
    assert healthy[scalar_tag("hidden", "largest_node_share")][final] < 0.5
    assert (
        healthy[scalar_tag("hidden", "purity")][final] > broken[scalar_tag("hidden", "purity")][final] + 0.3
    )
    # No gradient gets past the dead layer: the layers before it are frozen, their graphs do not move.
    for layer in ("block1", "block2"):
        assert broken[scalar_tag(layer, "distance")][final] == pytest.approx(0.0, abs=1e-9)
        assert healthy[scalar_tag(layer, "distance")][final] > 0.0


def test_diagnosis_warns_about_the_broken_layer_only(diagnosis):
    proc, _ = diagnosis
    warnings = re.findall(r"TopoActMonitor: layer '([^']+)' is ([a-z ]+) at epoch (\d+): ", proc.stderr)
    assert warnings == [("hidden", "dead", "0")], proc.stderr[-3000:]
    assert "healthy: 0 TopoActMonitor warning(s)" in proc.stdout
    assert "broken: 1 TopoActMonitor warning(s)" in proc.stdout
    # monitor.findings of the broken run: the layer, the kind, the epoch and the usual fix.
    assert "healthy: 0 fault finding(s)" in proc.stdout
    assert "broken: 1 fault finding(s)" in proc.stdout
    assert re.search(r"^  layer 'hidden', epoch 0: dead: 100% of its units never fire", proc.stdout, re.M)
    assert re.search(r"^    usual fix: start the biases at 0", proc.stdout, re.M)
    # The healthy run's class findings (digits sharing nodes) are listed too.
    healthy_classes = re.search(
        r"^healthy: 0 fault finding\(s\), (\d+) class finding\(s\)", proc.stdout, re.M
    )
    assert healthy_classes is not None and int(healthy_classes.group(1)) > 0
    # The comparison table shows the dead layer side by side with the healthy one.
    row = re.search(r"^hidden\s+dead_units\s+(\S+)\s+(\S+)$", proc.stdout, re.M)
    assert row is not None, proc.stdout
    assert float(row.group(1)) < 0.5 and float(row.group(2)) == 1.0


# ---------------------------------------------------------------------------------------- transformer_tokens
def test_transformer_tokens_logs_token_reductions(tmp_path):
    logdir = tmp_path / "logs"
    run_example("transformer_tokens.py", logdir)
    log = read_run(only_run(logdir, "transformer_tokens"))
    layers = ["encoder.layers.0", "encoder.layers.1"]
    check_layers_logged(log, layers, n_probe=120, class_names=["2-3", "3-2", "4-5", "5-4"])
    assert log["thumbnails"] == {}  # token ids are not images
    # Both reductions leave one d_model-wide vector per sequence: the lens is the L2 norm of that vector, so it
    # differs between the padding-aware token mean and the [CLS] token.
    lens0 = log["graphs"]["encoder.layers.0"][2].lens
    lens1 = log["graphs"]["encoder.layers.1"][2].lens
    assert lens0.shape == lens1.shape == (120,)
    assert not np.allclose(lens0, lens1)


def test_transformer_task_needs_order_not_counts():
    """Each sequence holds exactly one motif; fillers never form one, so token counts alone cannot classify."""
    tt = import_example("transformer_tokens")
    x, y = tt.make_sequences(300, seed=3)
    assert x.shape == (300, 1 + tt.MAX_LEN) and set(y.tolist()) == {0, 1, 2, 3}
    for seq, label in zip(x.numpy(), y.numpy(), strict=True):
        assert seq[0] == tt.CLS
        tokens = seq[1:][seq[1:] != tt.PAD]
        assert tt.MIN_LEN <= len(tokens) <= tt.MAX_LEN
        assert (seq[1 + len(tokens) :] == tt.PAD).all()  # padding only at the end
        pairs = [p for p in zip(tokens[:-1].tolist(), tokens[1:].tolist(), strict=True) if p in tt.MOTIFS]
        assert pairs == [tt.MOTIFS[label]]


# -------------------------------------------------------------------------------------------- engine_alone
def test_engine_alone_writes_kmapper_html_and_graphml(tmp_path):
    import networkx as nx

    from topoact_lightning import Mapper

    out = tmp_path / "out"
    proc = run_example("engine_alone.py", out)
    X, labels = np.load(out / "activations.npy"), np.load(out / "labels.npy")
    assert X.shape == (1797, 32) and labels.shape == (1797,)
    # The same engine call on the saved file gives the graph the example exported.
    graph = Mapper(lens="l2norm", n_intervals=12, overlap=0.4, random_state=0).fit(X, labels=labels).graph_
    assert f"Mapper graph: {graph.n_nodes} nodes, {graph.n_edges} edges" in proc.stdout

    html = (out / "mapper.html").read_text()
    assert "<html" in html.lower()
    assert all(node_id in html for node_id in graph.node_ids)

    nxg = nx.read_graphml(out / "mapper.graphml")
    assert (nxg.number_of_nodes(), nxg.number_of_edges()) == (graph.n_nodes, graph.n_edges)
    sizes = sorted(int(d["size"]) for _, d in nxg.nodes(data=True))
    assert sizes == sorted(graph.node_sizes.tolist())


def test_engine_alone_on_your_own_matrix_finds_a_loop(tmp_path):
    """A noisy circle off the origin: the L2-norm lens cuts it into arcs, and the Mapper graph is one cycle."""
    import networkx as nx

    rng = np.random.default_rng(0)
    angle = rng.uniform(0, 2 * np.pi, 800)
    circle = np.stack([3 + np.cos(angle), np.sin(angle)], axis=1) + rng.normal(0, 0.03, (800, 2))
    np.save(tmp_path / "circle.npy", circle.astype(np.float32))
    out = tmp_path / "out"
    proc = run_example(
        "engine_alone.py",
        out,
        "--activations",
        str(tmp_path / "circle.npy"),
        "--n-intervals",
        "8",
        "--eps",
        "0.2",
    )
    assert re.search(r"^\s+loops\s+1\.000$", proc.stdout, re.M), proc.stdout
    assert re.search(r"^\s+components\s+1\.000$", proc.stdout, re.M), proc.stdout
    nxg = nx.read_graphml(out / "mapper.graphml")
    assert len(nx.cycle_basis(nxg)) == 1
    assert not (out / "activations.npy").exists()  # nothing was trained
