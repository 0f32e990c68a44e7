"""TopoActMonitor in real (short) Lightning trainings, read back with TensorBoard's own event reader."""

from __future__ import annotations

import math
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
from _training import (
    DIGITS_CLASSES,
    DIGITS_LAYERS,
    DigitsCNN,
    probe_pair,
    read_run,
    train_digits,
)
from conftest import TRAINED_EPOCHS

from topoact_lightning import MapperGraph, TopoActConfigError, TopoActMonitor
from topoact_lightning.engine.metrics import GRAPH_METRICS
from topoact_lightning.logformat.summary import scalar_tag
from topoact_lightning.monitor.diagnostics import DIAGNOSTIC_METRICS


def _quiet_fit(*args, **kwargs):
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*(num_workers|log_every_n_steps|LeafSpec).*")
        return train_digits(*args, **kwargs)


# ------------------------------------------------------------------------------------------ the shared run
@pytest.fixture(scope="module")
def trained(trained_logdir: Path):
    runs = [p for p in trained_logdir.iterdir() if p.is_dir()]
    assert len(runs) == 1
    return read_run(runs[0])


@pytest.mark.slow
def test_one_readable_graph_per_layer_and_step(trained):
    steps = list(range(TRAINED_EPOCHS + 1))
    assert sorted(trained["graphs"]) == sorted(DIGITS_LAYERS)
    for layer in DIGITS_LAYERS:
        assert trained["tensor_steps"][f"topoact_graph/{layer}"] == steps  # once each, in order
        for step in steps:
            g = trained["graphs"][layer][step]
            assert isinstance(g, MapperGraph)
            assert g.n_samples == 300 and g.n_nodes > 0
            assert g.class_names == DIGITS_CLASSES
            assert g.labels.tolist() == probe_pair()[1].tolist()
            assert set(g.extras) == {"prediction", "correct", "loss"}


@pytest.mark.slow
def test_extras_match_the_logits_of_the_untrained_and_trained_network(trained):
    g0 = trained["graphs"]["fc1"][0]
    g3 = trained["graphs"]["fc1"][TRAINED_EPOCHS]
    acc0, acc3 = g0.extras["correct"].mean(), g3.extras["correct"].mean()
    # An untrained 10-class network is near chance; three epochs on the digits get far above it.
    assert acc0 < 0.4 < 0.8 < acc3
    assert np.all((g3.extras["prediction"] == g3.labels) == (g3.extras["correct"] == 1))
    assert g3.extras["loss"].mean() < g0.extras["loss"].mean()
    # The same probe pass feeds every layer: extras are identical across layers at one step.
    assert np.array_equal(
        trained["graphs"]["features.3"][2].extras["loss"], trained["graphs"]["fc1"][2].extras["loss"]
    )


@pytest.mark.slow
def test_metric_scalars_for_every_layer_and_logged_step(trained):
    steps = set(range(TRAINED_EPOCHS + 1))
    for layer in DIGITS_LAYERS:
        for metric in GRAPH_METRICS + ("dead_units", "effective_rank"):
            values = trained["scalars"][scalar_tag(layer, metric)]
            assert set(values) == steps, metric
        # The distance to the previous logged graph exists from the second graph on, and lies in [0, 1].
        dist = trained["scalars"][scalar_tag(layer, "distance")]
        assert set(dist) == steps - {0}
        assert all(0.0 <= v <= 1.0 for v in dist.values())
        g = trained["graphs"][layer][TRAINED_EPOCHS]
        assert trained["scalars"][scalar_tag(layer, "nodes")][TRAINED_EPOCHS] == g.n_nodes
        assert math.isclose(
            trained["scalars"][scalar_tag(layer, "purity")][TRAINED_EPOCHS],
            g.metrics()["purity"],
            rel_tol=1e-5,
        )
    assert set(DIAGNOSTIC_METRICS) <= {t.split("/")[-1] for t in trained["scalars"]}


@pytest.mark.slow
def test_purity_rises_with_training(trained):
    purity = trained["scalars"][scalar_tag("fc1", "purity")]
    assert purity[TRAINED_EPOCHS] > purity[0] + 0.1


@pytest.mark.slow
def test_the_healthy_digits_run_has_class_findings_and_no_fault(trained):
    notes = trained["annotations"]
    assert sorted(notes) == sorted(DIGITS_LAYERS)
    found = [f for layer in notes.values() for step in layer.values() for f in step["findings"]]
    assert not [f for f in found if f["fault"]], found
    assert all(step["problem"] is None for layer in notes.values() for step in layer.values())
    kinds = {f["kind"] for f in found}
    assert "confusion" in kinds, kinds
    for layer, steps in notes.items():
        for step, note in steps.items():
            graph = trained["graphs"][layer][step]
            for f in note["findings"]:
                assert (f["layer"], f["step"]) == (layer, step)
                assert all(0 <= n < graph.n_nodes for n in f["details"].get("nodes", []))
                assert all(0 <= s < graph.n_samples for s in f["details"].get("samples", []))


@pytest.mark.slow
def test_thumbnails_written_once(trained):
    assert list(trained["thumbnails"]) == [0]
    img = trained["thumbnails"][0]
    assert img.shape == (300, 8, 8, 1) and img.dtype == np.uint8
    x = probe_pair()[0]
    # The brightest pixel of the probe maps to 255 and the order of samples is the probe order.
    assert img.max() == 255
    assert np.array_equal(img[:, :, :, 0] > 128, x[:, 0].numpy() > 0.5)


# ------------------------------------------------------------------------------------------ runs of its own
@pytest.mark.slow
def test_schedule_every_two_epochs_keeps_the_last_and_restores_the_model(tmp_path):
    model = DigitsCNN()
    monitor = TopoActMonitor(layers=["fc1"], probe=probe_pair()[0], schedule=2, thumbnails=False)
    _quiet_fit(tmp_path, [monitor], epochs=3, model=model)
    run = read_run(tmp_path / "run")
    assert run["tensor_steps"]["topoact_graph/fc1"] == [0, 2, 3]  # 3 = the last epoch, off the schedule
    assert "topoact_thumbnails" not in run["tensor_steps"]
    g = run["graphs"]["fc1"][3]
    assert g.labels is None and g.extras == {}  # no labels: no correctness or loss
    assert monitor.captured_steps == [0, 2, 3]
    # Hooks lived only during the probe passes, and training flags were restored.
    assert all(not m._forward_hooks for m in model.modules())
    assert model.training
    # The same callback in a fresh fit starts a new schedule.
    _quiet_fit(tmp_path / "again", [monitor], epochs=1)
    assert monitor.captured_steps == [0, 1]
    assert read_run(tmp_path / "again" / "run")["tensor_steps"]["topoact_graph/fc1"] == [0, 1]


@pytest.mark.slow
def test_int_probe_draws_from_validation_data_and_no_tensorboard_logger_warns(tmp_path):
    from lightning.pytorch.loggers import CSVLogger

    monitor = TopoActMonitor(layers=["fc1"], probe=120, schedule=[1], log_untrained=False)
    with pytest.warns(UserWarning, match="no TensorBoard logger"):
        _quiet_fit(tmp_path, [monitor], epochs=2, logger=CSVLogger(tmp_path, name="csv", version=0))
    import csv

    with open(tmp_path / "csv" / "version_0" / "metrics.csv") as f:
        rows = list(csv.DictReader(f))
    nodes = {int(r["step"]): float(r["topoact/fc1/nodes"]) for r in rows if r.get("topoact/fc1/nodes")}
    val_steps = sorted({int(r["step"]) for r in rows if r.get("val_acc")})
    # The scalars of epochs 1 and 2 sit at the steps where Lightning logged those epochs' val_acc.
    assert len(val_steps) == 2 and val_steps[0] > 2
    assert sorted(nodes) == val_steps and all(v > 0 for v in nodes.values())
    assert monitor.scalar_steps == {1: val_steps[0], 2: val_steps[1]}
    assert monitor.probe_.n == 120 and monitor.probe_.labels is not None
    assert monitor.probe_.sizes == [64, 56]  # the CPU default batch size


@pytest.mark.slow
def test_fast_dev_run_warns_once_and_does_not_crash(tmp_path):
    monitor = TopoActMonitor(layers=DIGITS_LAYERS, probe=probe_pair())
    with pytest.warns(UserWarning, match="no logger") as record:
        _quiet_fit(tmp_path, [monitor], fast_dev_run=True)
    assert sum("TopoActMonitor" in str(w.message) for w in record) == 1
    assert monitor.captured_steps == []


class _NaNAfterTraining(DigitsCNN):
    """Diverges after the first epoch, but only in eval mode, so that training itself goes on."""

    def forward(self, x):
        if not self.training and self.current_epoch >= 1:
            x = x * float("nan")
        return super().forward(x)


@pytest.mark.slow
def test_nan_activations_warn_and_skip_the_graph(tmp_path):
    monitor = TopoActMonitor(layers=DIGITS_LAYERS, probe=probe_pair(), thumbnails=False)
    with pytest.warns(UserWarning) as record:
        _quiet_fit(tmp_path, [monitor], epochs=2, model=_NaNAfterTraining(), limit_val_batches=0)
    msgs = [str(w.message) for w in record if "no graph for layer" in str(w.message)]
    assert len(msgs) == 2
    assert all("at step 2" in m and "300 of 300 probe samples have NaN" in m for m in msgs)
    run = read_run(tmp_path / "run")
    for layer in DIGITS_LAYERS:
        assert run["tensor_steps"][f"topoact_graph/{layer}"] == [0, 1]
    assert monitor.captured_steps == [0, 1, 2]


class _DeadLayer(DigitsCNN):
    def __init__(self):
        super().__init__()
        self.dead = torch.nn.ReLU()

    def forward(self, x):
        h = self.fc1(self.features(x).flatten(1))
        return self.fc2(self.dead(h - 1e4))  # every unit of the ReLU output is 0, and stays so


@pytest.mark.slow
def test_dead_layer_warns_once_naming_layer_and_epoch(tmp_path):
    monitor = TopoActMonitor(layers=["dead"], probe=probe_pair(), thumbnails=False)
    with pytest.warns(UserWarning) as record:
        _quiet_fit(tmp_path, [monitor], epochs=2, model=_DeadLayer())
    msgs = [str(w.message) for w in record if "TopoActMonitor: layer" in str(w.message)]
    assert len(msgs) == 1
    assert (
        "layer 'dead' is dead at epoch 0: 100% of its units never fire" in msgs[0] and "Usual fix:" in msgs[0]
    )
    assert [(f.layer, f.kind, f.step) for f in monitor.findings if f.is_fault] == [("dead", "dead", 0)]
    run = read_run(tmp_path / "run")
    assert run["scalars"][scalar_tag("dead", "dead_units")] == {0: 1.0, 1: 1.0, 2: 1.0}


# ------------------------------------------------------------------------------------------ configuration errors
def test_unknown_layer_fails_before_training_with_suggestions(tmp_path):
    monitor = TopoActMonitor(layers=["feature.3", "fc1"], probe=probe_pair())
    model = DigitsCNN()
    with pytest.raises(TopoActConfigError, match=r"no module named 'feature.3'.*'features.3'"):
        _quiet_fit(tmp_path, [monitor], epochs=1, model=model)
    assert model.global_step == 0


def test_impossible_mapper_params_fail_in_init():
    with pytest.raises(TopoActConfigError, match="overlap"):
        TopoActMonitor(layers=["fc1"], probe=probe_pair(), mapper_params={"overlap": 1.5})
    with pytest.raises(TopoActConfigError, match="n_intervals"):
        TopoActMonitor(
            layers=["fc1", "features.3"], probe=probe_pair(), mapper_params={"fc1": {"n_intervals": 0}}
        )
    with pytest.raises(TopoActConfigError, match="Mapper accepts"):
        TopoActMonitor(layers=["fc1"], probe=probe_pair(), mapper_params={"n_cubes": 10})
    TopoActMonitor(
        layers=["fc1", "features.3"], probe=probe_pair(), mapper_params={"fc1": {"n_intervals": 10}}
    )


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"schedule": 0}, "schedule"),
        ({"schedule": "weekly"}, "schedule"),
        ({"reduction": "median"}, "unknown reduction"),
        ({"reduction": {"fc9": "mean"}}, "not in layers"),
        ({"probe": 1}, "probe"),
        ({"probe_batch_size": 0}, "probe_batch_size"),
        ({"probe_batch_size": True}, "probe_batch_size"),
        ({"logits": "yes"}, "logits"),
        ({"layers": []}, "layers"),
        ({"worker": "gpu"}, "worker"),
    ],
)
def test_bad_arguments_fail_in_init(kwargs, match):
    args = {"layers": ["fc1"], "probe": probe_pair(), **kwargs}
    with pytest.raises(TopoActConfigError, match=match):
        TopoActMonitor(**args)


def test_probe_labels_not_matching_inputs_fail_before_training(tmp_path):
    x, y = probe_pair()
    model = DigitsCNN()
    with pytest.raises(TopoActConfigError, match="labels have shape"):
        _quiet_fit(tmp_path, [TopoActMonitor(layers=["fc1"], probe=(x, y[:-5]))], epochs=1, model=model)
    assert model.global_step == 0


class _Unused(DigitsCNN):
    def __init__(self):
        super().__init__()
        self.spare = torch.nn.Linear(4, 4)


def test_a_layer_that_never_fires_fails_before_training(tmp_path):
    model = _Unused()
    with pytest.raises(TopoActConfigError, match=r"\['spare'\] never ran"):
        _quiet_fit(tmp_path, [TopoActMonitor(layers=["spare"], probe=probe_pair())], epochs=1, model=model)
    assert model.global_step == 0


def test_int_probe_without_validation_data_fails_clearly(tmp_path):
    import lightning.pytorch as L
    from _training import loaders

    model = DigitsCNN()
    trainer = L.Trainer(
        max_epochs=1,
        logger=False,
        enable_progress_bar=False,
        enable_checkpointing=False,
        callbacks=[TopoActMonitor(layers=["fc1"], probe=500)],
    )
    with pytest.raises(TopoActConfigError, match="val_dataloaders"):
        trainer.fit(model, loaders()[0])
    assert model.global_step == 0


def test_default_layers_are_the_last_hidden_linear_or_conv_layers():
    from topoact_lightning.monitor.capture import default_layers

    assert default_layers(DigitsCNN()) == ["features.2", "fc1"]


@pytest.mark.slow
def test_a_logged_step_queues_all_its_graphs_without_waiting_for_the_worker(tmp_path, monkeypatch):
    """With max_pending=1 and a worker that cannot finish a graph, the step-0 capture still hands over one graph
    per layer and returns: the loop only waits when a whole earlier step is still pending."""
    import threading

    import lightning.pytorch as L

    from topoact_lightning.monitor import building

    release = threading.Event()
    build = building.build_graph

    def stuck(job, builder=None):
        release.wait(timeout=20)  # bounds the test if the capture wrongly waits for this graph
        return build(job, builder)

    monkeypatch.setattr(building, "build_graph", stuck)
    pending_at_start = []

    class Look(L.Callback):
        def on_train_epoch_start(self, trainer, pl_module):
            if not pending_at_start:
                pending_at_start.append(monitor.pending_graphs)
                release.set()

    layers = ["features.0", "features.3", "fc1"]
    monitor = TopoActMonitor(
        layers=layers, probe=probe_pair(), schedule=[1], thumbnails=False, worker="thread", max_pending=1
    )
    _quiet_fit(tmp_path, [monitor, Look()], epochs=1)
    assert pending_at_start == [len(layers)]  # none finished, none waited for
    assert sorted(read_run(tmp_path / "run")["graphs"]) == sorted(layers)


@pytest.mark.slow
def test_training_stopped_by_max_steps_still_logs_its_last_state(tmp_path):
    monitor = TopoActMonitor(
        layers=["fc1"], probe=probe_pair(), schedule=5, thumbnails=False, worker="process"
    )
    _quiet_fit(tmp_path, [monitor], epochs=10, max_steps=30)  # 24 steps per epoch: stops inside epoch 2
    assert monitor.captured_steps == [0, 2]
    assert read_run(tmp_path / "run")["tensor_steps"]["topoact_graph/fc1"] == [0, 2]


@pytest.mark.parametrize(
    ("mapper_params", "match"),
    [
        (
            {"fc1": {"n_intervals": 8}, "fc9": {}},
            r"mapper_params names layers \['fc9'\] that are not in layers",
        ),
        (
            {"fc1": {"n_intervals": 8}, "features.3": {"n_cubes": 3}},
            r"mapper_params\['features.3'\].*n_cubes",
        ),
        ({"n_intervals": [3, 4]}, r"n_intervals has 2 values for a 1-dimensional lens.*lens='pca2'"),
        ({"lens": "pca2", "overlap": [0.2, 0.3, 0.4]}, r"overlap has 3 values for a 2-dimensional lens"),
    ],
)
def test_config_errors_name_the_offending_key(mapper_params, match):
    with pytest.raises(TopoActConfigError, match=match):
        TopoActMonitor(layers=["fc1", "features.3"], probe=probe_pair(), mapper_params=mapper_params)


def test_per_dimension_lists_that_fit_the_lens_are_accepted():
    TopoActMonitor(layers=["fc1"], probe=probe_pair(), mapper_params={"lens": "pca2", "n_intervals": [3, 4]})


def test_a_probe_smaller_than_min_samples_is_a_config_error(tmp_path):
    with pytest.raises(TopoActConfigError, match="smaller than min_samples=5"):
        TopoActMonitor(layers=["fc1"], probe=3)
    x, y = probe_pair()
    model = DigitsCNN()
    monitor = TopoActMonitor(layers=["fc1"], probe=(x[:8], y[:8]), mapper_params={"min_samples": 10})
    with pytest.raises(TopoActConfigError, match=r"the probe has 8 samples but min_samples=10"):
        _quiet_fit(tmp_path, [monitor], epochs=1, model=model)
    assert model.global_step == 0


@pytest.mark.slow
def test_several_monitors_share_a_trainer_with_distinct_state_keys(tmp_path):
    import lightning.pytorch as L
    from lightning.pytorch.callbacks import ModelCheckpoint

    def pair(**keys):
        return [TopoActMonitor(probe=probe_pair(), thumbnails=False, **kw) for kw in keys.values()]

    with pytest.raises(RuntimeError, match="more than one stateful callback"):
        L.Trainer(callbacks=pair(a={}, b={"schedule": 2}), logger=False)
    monitors = pair(a={"state_key": "every-epoch"}, b={"schedule": 2, "state_key": "every-other"})
    _quiet_fit(
        tmp_path,
        [*monitors, ModelCheckpoint(dirpath=tmp_path / "ckpt", save_last=True)],
        epochs=2,
        enable_checkpointing=True,
    )
    saved = torch.load(tmp_path / "ckpt" / "last.ckpt", weights_only=True)["callbacks"]
    keys = [k for k in saved if k.startswith("TopoActMonitor")]
    assert sorted(keys) == [
        "TopoActMonitor{'state_key': 'every-epoch'}",
        "TopoActMonitor{'state_key': 'every-other'}",
    ]
    assert [m.captured_steps for m in monitors] == [[0, 1, 2], [0, 2]]


def test_per_layer_settings_for_unknown_default_layers_fail_before_training(tmp_path):
    model = DigitsCNN()
    monitor = TopoActMonitor(probe=probe_pair(), mapper_params={"fc1": {"n_intervals": 8}, "fc9": {}})
    with pytest.raises(
        TopoActConfigError, match=r"mapper_params names layers \['fc9'\].*\['features.2', 'fc1'\]"
    ):
        _quiet_fit(tmp_path, [monitor], epochs=1, model=model)
    assert model.global_step == 0
