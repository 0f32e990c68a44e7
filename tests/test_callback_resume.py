"""Resuming a fit from a checkpoint continues the graph schedule: no duplicate, no missing step."""

from __future__ import annotations

import warnings

import pytest
import torch
from _training import DIGITS_LAYERS, probe_pair, read_run, train_digits
from lightning.pytorch.callbacks import ModelCheckpoint

from topoact_lightning import TopoActMonitor
from topoact_lightning.summary import scalar_tag


def _fit(*args, **kwargs):
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*(num_workers|log_every_n_steps|LeafSpec|checkpoint).*")
        return train_digits(*args, **kwargs)


@pytest.mark.slow
@pytest.mark.parametrize("validation", [True, False], ids=["ckpt-at-validation-end", "ckpt-at-epoch-end"])
def test_resume_continues_the_schedule(tmp_path, validation):
    ckpt_dir = tmp_path / "ckpt"
    extra = {} if validation else {"limit_val_batches": 0}

    def monitor():
        return TopoActMonitor(layers=DIGITS_LAYERS, probe=probe_pair())

    first = monitor()
    _fit(
        tmp_path,
        [first, ModelCheckpoint(dirpath=ckpt_dir, save_last=True)],
        epochs=2,
        enable_checkpointing=True,
        **extra,
    )
    state = torch.load(ckpt_dir / "last.ckpt", weights_only=True)["callbacks"]
    saved = next(v for k, v in state.items() if k.startswith("TopoActMonitor"))
    assert saved["captured_steps"] == [0, 1, 2]
    assert saved["thumbnails_written"] is True

    second = monitor()
    _fit(
        tmp_path,
        [second, ModelCheckpoint(dirpath=ckpt_dir, save_last=True)],
        epochs=4,
        enable_checkpointing=True,
        ckpt_path=str(ckpt_dir / "last.ckpt"),
        **extra,
    )
    assert second.captured_steps == [0, 1, 2, 3, 4]

    run = read_run(tmp_path / "run")
    for layer in DIGITS_LAYERS:
        assert run["tensor_steps"][f"topoact_graph/{layer}"] == [0, 1, 2, 3, 4]
        # One scalar per logged epoch, at the global step of that epoch's end: evenly spaced, none twice.
        steps = run["scalar_steps"][scalar_tag(layer, "nodes")]
        per_epoch = steps[1] + 1
        assert steps == [0] + [k * per_epoch - 1 for k in range(1, 5)]
        assert second.scalar_steps == {3: steps[3], 4: steps[4]}
    assert run["tensor_steps"]["topoact_thumbnails"] == [0]
    # The first graph after the resume is compared with the one logged before the checkpoint (restored from
    # the callback state) when that graph was finished at save time.
    dist = run["scalars"][scalar_tag("fc1", "distance")]
    assert {1, 2, 4} <= set(dist)
