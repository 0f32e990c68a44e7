"""Both Lightning namespaces, mixed precision on CPU, and torch.compile'd submodules."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import pytorch_lightning as PL
import torch
from _training import DIGITS_LAYERS, DigitsCNN, probe_pair, read_run, train_digits

from topoact_lightning import TopoActMonitor


def _fit(*args, **kwargs):
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*(num_workers|log_every_n_steps|LeafSpec|precision).*")
        return train_digits(*args, **kwargs)


def _check_run(run_dir, layers=DIGITS_LAYERS, steps=(0, 1)):
    run = read_run(run_dir)
    for layer in layers:
        assert run["tensor_steps"][f"topoact_graph/{layer}"] == list(steps)
        g = run["graphs"][layer][steps[-1]]
        assert g.n_nodes > 0 and np.isfinite(g.lens).all()
    return run


@pytest.mark.slow
def test_pytorch_lightning_trainer_and_logger(tmp_path):
    monitor = TopoActMonitor(layers=DIGITS_LAYERS, probe=probe_pair())
    trainer = _fit(tmp_path, [monitor], epochs=1, namespace=PL)
    assert isinstance(trainer, PL.Trainer) and isinstance(trainer.logger, PL.loggers.TensorBoardLogger)
    run = _check_run(tmp_path / "run")
    assert "topoact/fc1/purity" in run["scalars"]


@pytest.mark.slow
@pytest.mark.parametrize("precision", ["bf16-mixed", "16-mixed"])
def test_mixed_precision(tmp_path, precision):
    monitor = TopoActMonitor(layers=DIGITS_LAYERS, probe=probe_pair())
    _fit(tmp_path, [monitor], epochs=1, precision=precision)
    run = _check_run(tmp_path / "run")
    # Activations arrive as float32 from the autocast forward; extras too.
    assert run["graphs"]["fc1"][1].extras["loss"].dtype == np.float32


class _CompiledFeatures(DigitsCNN):
    def __init__(self):
        super().__init__()
        # aot_eager goes through Dynamo and AOTAutograd like the default backend, without a C++ build.
        self.features = torch.compile(self.features, backend="aot_eager")


@pytest.mark.slow
def test_compiled_submodule_with_plain_layer_names(tmp_path):
    model = _CompiledFeatures()
    assert "features._orig_mod.3" in dict(model.named_modules())
    monitor = TopoActMonitor(layers=["features.3", "fc1"], probe=probe_pair(), thumbnails=False)
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        _fit(tmp_path, [monitor], epochs=2, model=model)
    assert not [w for w in record if "TopoActMonitor" in str(w.message)]
    _check_run(tmp_path / "run", steps=(0, 1, 2))
    assert all(not m._forward_hooks for m in model.modules())
