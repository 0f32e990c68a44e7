"""Every ``>>>`` example in the monitor wing (and the shared summary module) runs and shows what it says."""

from __future__ import annotations

import doctest
import importlib
import pkgutil

import pytest

import topoact_lightning.monitor as monitor

MODULES = sorted(
    [f"topoact_lightning.monitor.{m.name}" for m in pkgutil.iter_modules(monitor.__path__)]
    + ["topoact_lightning.monitor", "topoact_lightning.summary", "topoact_lightning.errors"]
)


def test_every_monitor_module_is_listed():
    assert {"callback", "config", "probe", "probe_pass", "sink", "state", "pipeline", "worker"} <= {
        m.rsplit(".", 1)[-1] for m in MODULES
    }


@pytest.mark.parametrize("name", MODULES)
def test_doctests(name):
    module = importlib.import_module(name)
    result = doctest.testmod(
        module, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE, verbose=False
    )
    assert result.failed == 0, f"{result.failed} of {result.attempted} examples failed in {name}"
