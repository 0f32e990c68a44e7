"""Every ``>>>`` example in the package and the plugin runs and shows what it claims.

Modules are found by walking the packages, so a new module's examples are checked without a change here.
"""

from __future__ import annotations

import doctest
import importlib
import pkgutil
import warnings

import pytest
import topoact_tensorboard

import topoact_lightning


def _modules(package) -> list[str]:
    found = [package.__name__]
    found += [m.name for m in pkgutil.walk_packages(package.__path__, prefix=package.__name__ + ".")]
    return sorted(found)


MODULES = _modules(topoact_lightning) + _modules(topoact_tensorboard)


def test_every_wing_is_walked():
    names = set(MODULES)
    for expected in (
        "topoact_lightning.engine.mapper",
        "topoact_lightning.monitor.callback",
        "topoact_lightning.monitor.findings.faults",
        "topoact_lightning.logformat.summary",
        "topoact_tensorboard.payloads",
    ):
        assert expected in names


@pytest.mark.parametrize("name", MODULES)
def test_examples_run(name):
    module = importlib.import_module(name)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # an example that warns is not one to copy
        result = doctest.testmod(
            module,
            optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE,
            raise_on_error=False,
            verbose=False,
        )
    assert result.failed == 0, f"{result.failed} of {result.attempted} examples in {name} failed (see stdout)"


def test_most_modules_carry_an_example():
    with_examples = [name for name in MODULES if doctest.DocTestFinder().find(importlib.import_module(name))]
    assert len(with_examples) >= 0.6 * len(MODULES)
