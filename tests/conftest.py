"""Shared fixtures: one real training run with the callback, read by the callback's and the plugin's tests."""

from __future__ import annotations

import warnings
from pathlib import Path

import pytest
from _training import DIGITS_CLASSES, DIGITS_LAYERS, probe_pair, train_digits

TRAINED_EPOCHS = 3


@pytest.fixture(scope="session")
def trained_logdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A log dir holding one run (``run/``): a small CNN trained 3 epochs on the digits with ``TopoActMonitor``.

    Layers ``features.3`` (conv map, one random position per sample) and ``fc1``, logged at steps 0..3; probe: the
    300 validation digits with labels and class names ``"0"``..``"9"``, so the graphs carry ``prediction``,
    ``correct`` and ``loss`` extras; thumbnails (8x8 grey) are written once at step 0.
    """
    from topoact_lightning import TopoActMonitor

    logdir = tmp_path_factory.mktemp("topoact_logs")
    monitor = TopoActMonitor(layers=DIGITS_LAYERS, probe=probe_pair(), class_names=DIGITS_CLASSES)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # Lightning's hints about workers and small data sets
        train_digits(logdir, callbacks=[monitor], epochs=TRAINED_EPOCHS)
    return logdir


@pytest.fixture(scope="session")
def browser():
    """One headless Chromium (Debian's, through Playwright) for every browser test of the session."""
    from tests._browser import chromium

    with chromium() as b:
        yield b


@pytest.fixture(scope="session")
def remap_logdir(trained_logdir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The trained run (``run``, with stored activations), ``bare`` (``fc1`` graphs logged without them) and
    ``nostore`` (the trained run's ``fc1`` graphs logged again without their activations: the same probe, so it can
    be compared with ``run``). Shared by the browser tests that re-map or compare."""
    import os

    from torch.utils.tensorboard import SummaryWriter

    from tests.test_plugin_remap import with_bare_run
    from topoact_lightning import LogReader
    from topoact_lightning.logformat import summary

    logdir = with_bare_run(trained_logdir, tmp_path_factory.mktemp("remap_logs"))
    log = LogReader(logdir / "run")
    writer = SummaryWriter(os.path.join(logdir, "nostore"))
    for step in log.steps("fc1"):
        summary.write_summary(writer, summary.graph_summary("fc1", log.graph("fc1", step).to_bytes()), step)
    writer.close()
    return logdir


@pytest.fixture(scope="session", params=["rust", "python"])
def remap_server(remap_logdir: Path, request):
    """A real ``tensorboard`` on ``remap_logdir`` for each data back end (the Rust one, then ``--load_fast=false``),
    one per session: the browser test modules that need them share it."""
    from tests._browser import serve_tensorboard

    with serve_tensorboard(remap_logdir, *([] if request.param == "rust" else ["--load_fast=false"])) as base:
        yield base
