"""Resuming a fit from a checkpoint continues the graph schedule: no duplicate, no missing step."""

from __future__ import annotations

import os
import warnings

import pytest
import torch
from _training import DIGITS_LAYERS, probe_pair, read_run, train_digits
from lightning.pytorch.callbacks import ModelCheckpoint

from topoact_lightning import TopoActMonitor
from topoact_lightning.logformat.summary import scalar_tag


def _fit(*args, **kwargs):
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*(num_workers|log_every_n_steps|LeafSpec|checkpoint).*")
        return train_digits(*args, **kwargs)


@pytest.mark.slow
@pytest.mark.parametrize("validation", [True, False], ids=["ckpt-at-validation-end", "ckpt-at-epoch-end"])
def test_resume_continues_the_schedule(tmp_path, validation):
    ckpt_dir = tmp_path / "ckpt"
    extra = {} if validation else {"limit_val_batches": 0}

    def checkpoint():  # with validation, saved before on_train_epoch_end takes the epoch's graphs
        return ModelCheckpoint(dirpath=ckpt_dir, save_last=True, save_on_train_epoch_end=not validation)

    def monitor():
        return TopoActMonitor(layers=DIGITS_LAYERS, probe=probe_pair())

    first = monitor()
    _fit(
        tmp_path,
        [first, checkpoint()],
        epochs=2,
        enable_checkpointing=True,
        **extra,
    )
    state = torch.load(ckpt_dir / "last.ckpt", weights_only=True)["callbacks"]
    saved = next(v for k, v in state.items() if k.startswith("TopoActMonitor"))
    # A step is recorded only once written: at validation end step 2 is not even taken yet; at epoch end (after the
    # monitor's hook) its graphs may or may not be written by the time the checkpoint is saved.
    assert saved["captured_steps"] in ([0, 1], [0, 1] if validation else [0, 1, 2]) and saved["version"] == 2
    assert saved["thumbnails_written"] is True
    assert saved["previous_graphs"]["fc1"][0] == saved["captured_steps"][-1]

    second = monitor()
    _fit(
        tmp_path,
        [second, checkpoint()],
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
    # The first graph after the resume is compared with the last one logged before it (read back from the logs).
    for layer in DIGITS_LAYERS:
        assert set(run["scalars"][scalar_tag(layer, "distance")]) == {1, 2, 3, 4}


_CRASHING_FIT = """
import os, sys, warnings
warnings.simplefilter("ignore")
from pathlib import Path
from lightning.pytorch.callbacks import ModelCheckpoint
from _training import DIGITS_LAYERS, probe_pair, train_digits
from topoact_lightning import TopoActMonitor

logdir, crash_after, epochs, validation = Path(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), sys.argv[4] == "1"
resume = sys.argv[5] if len(sys.argv) > 5 else None


class CrashAfterSave(ModelCheckpoint):
    def _save_checkpoint(self, trainer, filepath):
        super()._save_checkpoint(trainer, filepath)
        if trainer.current_epoch + 1 == crash_after and filepath.endswith("last.ckpt"):
            os._exit(17)  # the process dies right after the checkpoint is on disk: no hook, no flush, no teardown


train_digits(
    logdir,
    [
        TopoActMonitor(layers=DIGITS_LAYERS, probe=probe_pair()),
        CrashAfterSave(dirpath=logdir / "ckpt", save_last=True, save_on_train_epoch_end=not validation),
    ],
    epochs=epochs,
    enable_checkpointing=True,
    ckpt_path=resume,
    **({} if validation else {"limit_val_batches": 0}),
)
"""


@pytest.mark.slow
@pytest.mark.parametrize("validation", [True, False], ids=["ckpt-at-validation-end", "ckpt-at-epoch-end"])
def test_a_crash_right_after_a_checkpoint_loses_no_logged_epoch(tmp_path, validation):
    """The process dies right after ModelCheckpoint saved at the end of epoch 4; the resumed fit logs step 4 (and
    every other step) exactly once, with its distance."""
    import subprocess
    import sys
    from pathlib import Path

    script = tmp_path / "fit.py"
    script.write_text(_CRASHING_FIT)
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).parent)}
    flag = "1" if validation else "0"
    first = subprocess.run(
        [sys.executable, str(script), str(tmp_path), "4", "6", flag], env=env, capture_output=True, text=True
    )
    assert first.returncode == 17, first.stderr[-3000:]
    saved = torch.load(tmp_path / "ckpt" / "last.ckpt", weights_only=True)
    assert saved["epoch"] == 3  # the checkpoint of the end of epoch 4 (0-based 3)
    state = next(v for k, v in saved["callbacks"].items() if k.startswith("TopoActMonitor"))
    if validation:  # saved at validation end, before the monitor took step 4, which the process lost
        assert state["captured_steps"] == [0, 1, 2, 3]
        assert 4 not in read_run(tmp_path / "run")["tensor_steps"]["topoact_graph/fc1"]
    second = subprocess.run(
        [sys.executable, str(script), str(tmp_path), "0", "6", flag, str(tmp_path / "ckpt" / "last.ckpt")],
        env=env,
        capture_output=True,
        text=True,
    )
    assert second.returncode == 0, second.stderr[-3000:]
    run = read_run(tmp_path / "run")
    for layer in DIGITS_LAYERS:
        assert run["tensor_steps"][f"topoact_graph/{layer}"] == [0, 1, 2, 3, 4, 5, 6]
        assert len(run["scalar_steps"][scalar_tag(layer, "nodes")]) == 7
        assert set(run["scalars"][scalar_tag(layer, "distance")]) == {1, 2, 3, 4, 5, 6}
