"""Faults around the monitor never end training: a full disk (injected, and a real small tmpfs), a child process
killed mid-job or interrupted with Ctrl-C, and files left open."""

from __future__ import annotations

import errno
import os
import shutil
import signal
import subprocess
import sys
import time
import warnings
from pathlib import Path

import lightning.pytorch as L
import pytest
from _training import DIGITS_LAYERS, DigitsCNN, probe_pair, read_run, train_digits
from lightning.pytorch.loggers import TensorBoardLogger
from torch.utils.tensorboard import SummaryWriter

from topoact_lightning import TopoActMonitor
from topoact_lightning.logformat.summary import scalar_tag


def _fit(*args, **kwargs):
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*(num_workers|log_every_n_steps|LeafSpec).*")
        return train_digits(*args, **kwargs)


# ------------------------------------------------------------------------------------------ a full disk, injected
class Disk:
    """Whether the (pretend) disk is full; while it is, every write of a ``topoact`` tag fails with ENOSPC."""

    full = False
    refused = 0


class _FullDiskFileWriter:
    def __init__(self, real):
        self._real = real

    def add_summary(self, summary, global_step=None, walltime=None):
        if Disk.full and any(v.tag.startswith("topoact") for v in summary.value):
            Disk.refused += 1
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return self._real.add_summary(summary, global_step, walltime)

    def __getattr__(self, name):
        return getattr(self._real, name)


class FullDiskWriter(SummaryWriter):
    """A real ``SummaryWriter`` whose monitor writes fail while :class:`Disk` is full (Lightning's own go on)."""

    def _get_file_writer(self):
        return _FullDiskFileWriter(super()._get_file_writer())


class FullDiskLogger(TensorBoardLogger):
    @property
    def experiment(self):
        if self._experiment is None:
            os.makedirs(self.log_dir, exist_ok=True)
            self._experiment = FullDiskWriter(log_dir=self.log_dir)
        return self._experiment


class FillDisk(L.Callback):
    """Fills the disk when epoch ``start`` begins and frees it when epoch ``stop`` begins (None: never)."""

    def __init__(self, start: int, stop: int | None) -> None:
        self.start, self.stop = start, stop

    def on_train_epoch_start(self, trainer, pl_module):
        if trainer.current_epoch == self.start:
            Disk.full = True
        if self.stop is not None and trainer.current_epoch == self.stop:
            Disk.full = False


@pytest.fixture
def disk():
    Disk.full, Disk.refused = False, 0
    yield Disk
    Disk.full = False


@pytest.mark.slow
def test_a_full_disk_warns_once_keeps_the_graphs_and_writes_them_when_space_returns(tmp_path, disk):
    monitor = TopoActMonitor(layers=DIGITS_LAYERS, probe=probe_pair(), thumbnails=False)
    logger = FullDiskLogger(save_dir=str(tmp_path), name="", version="run")
    with pytest.warns(UserWarning) as record:
        _fit(tmp_path, [monitor, FillDisk(start=1, stop=4)], epochs=5, logger=logger)
    full = [str(w.message) for w in record if "could not write" in str(w.message)]
    assert len(full) == 1 and "No space left on device" in full[0] and "training goes on" in full[0]
    assert disk.refused > 0
    run = read_run(tmp_path / "run")
    for layer in DIGITS_LAYERS:
        # Steps 1-3 were built while the disk was full and written once it was not: each once, in order.
        assert run["tensor_steps"][f"topoact_graph/{layer}"] == [0, 1, 2, 3, 4, 5]
        assert len(run["scalar_steps"][scalar_tag(layer, "nodes")]) == 6
        assert set(run["scalars"][scalar_tag(layer, "distance")]) == {1, 2, 3, 4, 5}
    assert monitor.captured_steps == [0, 1, 2, 3, 4, 5]
    assert len(run["scalars"]["val_acc"]) == 5  # Lightning's own logging went on throughout


@pytest.mark.slow
def test_a_disk_that_stays_full_drops_the_oldest_graphs_and_the_fit_completes(tmp_path, disk):
    monitor = TopoActMonitor(layers=["fc1"], probe=probe_pair(), thumbnails=False, max_unwritten=2)
    logger = FullDiskLogger(save_dir=str(tmp_path), name="", version="run")
    with pytest.warns(UserWarning) as record:
        trainer = _fit(tmp_path, [monitor, FillDisk(start=1, stop=None)], epochs=4, logger=logger)
    messages = [str(w.message) for w in record]
    assert sum("could not write" in m for m in messages) == 1
    assert any("2 graph(s) could not be written before the fit ended" in m for m in messages)
    assert trainer.current_epoch == 4 and trainer.state.finished
    # Step 0 was written unless its graph came back after the disk filled; either way the two newest graphs were
    # kept (and never written), older ones dropped; dropped graphs count as done (skipped with a warning).
    assert set(read_run(tmp_path / "run")["tensor_steps"].get("topoact_graph/fc1", [])) <= {0}
    assert monitor.captured_steps == [0, 1, 2]


# ------------------------------------------------------------------------------------------ a real full disk
class _Quiet(DigitsCNN):
    """Logs nothing itself, so that only the monitor writes to the small disk."""

    def training_step(self, batch, batch_idx):
        import torch

        x, y = batch
        return torch.nn.functional.cross_entropy(self(x), y)

    def validation_step(self, batch, batch_idx):
        return None


class FillRealDisk(L.Callback):
    def __init__(self, mount: Path, start: int, stop: int) -> None:
        self.filler = mount / "filler"
        self.start, self.stop = start, stop

    def on_train_epoch_start(self, trainer, pl_module):
        if trainer.current_epoch == self.start:
            with open(self.filler, "wb") as f:
                try:
                    while True:
                        f.write(b"\0" * 65536)
                        f.flush()
                except OSError:
                    pass
        if trainer.current_epoch == self.stop:
            self.filler.unlink()


@pytest.fixture
def small_tmpfs(tmp_path):
    mount = tmp_path / "small"
    mount.mkdir()
    if shutil.which("mount") is None:
        pytest.skip("no mount command to create a small tmpfs (the injected full-disk test still runs)")
    out = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=4m", "none", str(mount)], capture_output=True, text=True
    )
    if out.returncode != 0:
        pytest.skip(
            f"mounting a tmpfs was refused ({out.stderr.strip()}); the injected full-disk test still runs"
        )
    yield mount
    subprocess.run(["umount", "-l", str(mount)], check=False)


@pytest.mark.slow
def test_a_real_full_tmpfs_does_not_end_the_fit_and_writing_recovers(small_tmpfs):
    monitor = TopoActMonitor(layers=DIGITS_LAYERS, probe=probe_pair(), thumbnails=False)
    with pytest.warns(UserWarning) as record:
        trainer = _fit(
            small_tmpfs, [monitor, FillRealDisk(small_tmpfs, start=1, stop=3)], epochs=4, model=_Quiet()
        )
    assert trainer.state.finished
    full = [str(w.message) for w in record if "could not write" in str(w.message)]
    assert len(full) == 1 and "No space left on device" in full[0]
    run = read_run(small_tmpfs / "run")
    for layer in DIGITS_LAYERS:
        steps = run["tensor_steps"][f"topoact_graph/{layer}"]
        assert sorted(set(steps)) == [0, 1, 2, 3, 4]
        assert len(steps) == len(set(steps))  # none written twice
    assert monitor.captured_steps == [0, 1, 2, 3, 4]


# ------------------------------------------------------------------------------------------ the graph process
def _children(name: str = "_serve") -> dict[int, str]:
    """This process's child processes whose command line mentions ``name``: pid -> state (``Z`` = zombie)."""
    out = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            cmdline = (entry / "cmdline").read_bytes().decode(errors="replace")
        except OSError:
            continue
        fields = stat.rsplit(")", 1)[1].split()
        if int(fields[1]) == os.getpid() and name in cmdline:
            out[int(entry.name)] = fields[0]
    return out


class KillTheChild(L.Callback):
    """Kills the graph process while it builds the first epoch's graphs."""

    def __init__(self) -> None:
        self.killed: list[int] = []

    def on_train_epoch_end(self, trainer, pl_module):
        if trainer.current_epoch == 0:
            for pid in _children():
                os.kill(pid, signal.SIGKILL)
                self.killed.append(pid)


@pytest.mark.slow
@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads processes from /proc")
def test_a_child_killed_mid_job_is_reaped_and_its_graphs_are_built_in_a_thread(tmp_path):
    monitor = TopoActMonitor(layers=DIGITS_LAYERS, probe=probe_pair(), thumbnails=False)
    killer = KillTheChild()
    with pytest.warns(UserWarning, match="graphs were built in a thread: the graph process stopped"):
        _fit(tmp_path, [monitor, killer], epochs=3)
    assert len(killer.killed) == 1
    assert _children() == {}  # no zombie (nor live child) left after the fit
    run = read_run(tmp_path / "run")
    for layer in DIGITS_LAYERS:
        assert run["tensor_steps"][f"topoact_graph/{layer}"] == [0, 1, 2, 3]


@pytest.mark.slow
@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads processes from /proc")
def test_the_child_ignores_ctrl_c_and_the_parent_stops_it(capfd):
    from test_callback_worker import _blobs, _job

    from topoact_lightning.monitor.worker import GraphProcess

    proc = GraphProcess(niceness=0)
    try:
        assert proc(_job(0, _blobs(), n_intervals=8)).error is None
        os.kill(proc.pid, signal.SIGINT)  # what Ctrl-C sends to the whole process group
        time.sleep(0.3)
        r = proc(_job(1, _blobs(seed=1), previous_step=0, n_intervals=8))
        assert proc.failure is None and r.error is None and 0 < r.scalars["distance"] <= 1
    finally:
        proc.close()
    assert _children() == {}
    err = capfd.readouterr().err
    assert "KeyboardInterrupt" not in err and "Traceback" not in err


@pytest.mark.slow
def test_a_fit_leaves_no_file_open(tmp_path):
    """Each fit used to leave the graph process's stdout pipe to the garbage collector (``unclosed file``)."""
    import gc

    monitor = TopoActMonitor(layers=["fc1"], probe=probe_pair())
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("ignore")
        warnings.simplefilter(
            "always", ResourceWarning
        )  # recorded (an "error" inside __del__ is only printed)
        train_digits(tmp_path, [monitor], epochs=1)
        del monitor
        gc.collect()
    assert [w for w in record if issubclass(w.category, ResourceWarning)] == []
    assert not any("unclosed" in str(w.message) for w in record)
