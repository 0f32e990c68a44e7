"""Every ``>>>`` example in the engine runs and shows what it claims (the lead extends this to the other wings).

Modules are found by walking the package, so a new module's examples are checked without a change here.
"""

from __future__ import annotations

import doctest
import importlib
import pkgutil
import warnings

import pytest

import topoact_lightning.engine as engine

ENGINE_MODULES = sorted(m.name for m in pkgutil.iter_modules(engine.__path__, prefix=engine.__name__ + "."))


def test_every_engine_module_is_checked():
    assert len(ENGINE_MODULES) >= 15 and "topoact_lightning.engine.mapper" in ENGINE_MODULES


@pytest.mark.parametrize("name", [engine.__name__, *ENGINE_MODULES])
def test_examples_run(name):
    module = importlib.import_module(name)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # an example that warns is not one to copy
        result = doctest.testmod(module, optionflags=doctest.ELLIPSIS, raise_on_error=False, verbose=False)
    assert result.failed == 0, f"{result.failed} of {result.attempted} examples in {name} failed (see stdout)"
