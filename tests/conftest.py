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
