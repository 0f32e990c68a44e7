"""Two real processes on CPU (gloo): the probe pass is split across ranks, gathered, and rank 0 logs graphs
identical to a single-process run over the same probe."""

from __future__ import annotations

import warnings
from datetime import timedelta

import pytest
import torch
from _training import DIGITS_CLASSES, DIGITS_LAYERS, DigitsCNN, probe_pair, read_run, train_digits

from topoact_lightning import TopoActMonitor


@pytest.fixture(autouse=True)
def _isolate_distributed():
    from lightning_utilities.core.rank_zero import rank_zero_only

    rank = getattr(rank_zero_only, "rank", 0)
    yield
    rank_zero_only.rank = rank
    if torch.distributed.is_available() and torch.distributed.is_initialized():
        torch.distributed.destroy_process_group()


def _monitor():
    # Batches of 64 cut the 300 probe samples into 5 batches: rank 0 runs three, rank 1 two.
    return TopoActMonitor(
        layers=DIGITS_LAYERS, probe=probe_pair(), class_names=DIGITS_CLASSES, probe_batch_size=64
    )


def _model():
    torch.manual_seed(0)
    return DigitsCNN(lr=0.0)


def _fit(*args, **kwargs):
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*(num_workers|log_every_n_steps|LeafSpec|sync_dist).*")
        return train_digits(*args, **kwargs)


@pytest.mark.slow
def test_ddp_two_processes_log_the_single_process_graphs(tmp_path):
    from lightning.pytorch.strategies import DDPStrategy

    # lr=0 keeps the weights at their (seeded, identical) initial values, so every step must match exactly.
    _fit(tmp_path / "single", [_monitor()], epochs=2, model=_model())
    _fit(
        tmp_path / "ddp",
        [_monitor()],
        epochs=2,
        model=_model(),
        devices=2,
        strategy=DDPStrategy(start_method="fork", timeout=timedelta(seconds=120)),
    )
    single = read_run(tmp_path / "single" / "run")
    ddp = read_run(tmp_path / "ddp" / "run")
    for layer in DIGITS_LAYERS:
        assert ddp["tensor_steps"][f"topoact_graph/{layer}"] == [0, 1, 2]
        for step in (0, 1, 2):
            a, b = single["graphs"][layer][step], ddp["graphs"][layer][step]
            assert a == b, (layer, step)
            assert set(b.extras) == {"prediction", "correct", "loss"}
    assert ddp["thumbnails"][0].shape == (300, 8, 8, 1)
    # Only rank 0 wrote: one event file in the run directory.
    assert len(list((tmp_path / "ddp" / "run").glob("events.out.tfevents.*"))) == 1
