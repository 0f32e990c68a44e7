"""The Mapper engine: lens -> cover -> clustering per cover element -> nerve, and what is computed from graphs.

Needs only numpy, scipy and scikit-learn. The callback's graph process imports this wing (and the torch-free
modules of :mod:`topoact_lightning.monitor` it runs) in a fresh interpreter, so nothing here may import torch or
Lightning; ``tests/test_layout.py`` runs the engine where importing either fails.

Modules, in the order of a fit: :mod:`.params` (what :class:`Mapper` accepts), :mod:`.lenses`, :mod:`.covers`,
:mod:`.elements` (clustering every cover element, on :mod:`.threads`), :mod:`.dbscan` on :mod:`.distances`
(blocked radius pairs) with :mod:`.lowrank` (fast mode's bases) and :mod:`.neighbors` (the automatic eps), then
:mod:`.graph` (:class:`MapperGraph`, the nerve from :mod:`.memberships`), :mod:`.metrics`, :mod:`.compare`,
:mod:`.serialization` (the payload) and :mod:`.export` (KeplerMapper, networkx).

Example:
    >>> import numpy as np
    >>> from topoact_lightning.engine import Mapper
    >>> X = np.random.default_rng(0).normal(size=(200, 8)).astype(np.float32)
    >>> Mapper(n_intervals=4).fit(X).graph_.n_samples
    200
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

_EXPORTS = {
    "Mapper": "topoact_lightning.engine.mapper",
    "MapperGraph": "topoact_lightning.engine.graph",
    "GraphFormatError": "topoact_lightning.engine.graph",
    "compare_graphs": "topoact_lightning.engine.compare",
    "GraphComparison": "topoact_lightning.engine.compare",
}

__all__ = ["GraphComparison", "GraphFormatError", "Mapper", "MapperGraph", "compare_graphs"]

if TYPE_CHECKING:  # pragma: no cover
    from topoact_lightning.engine.compare import GraphComparison, compare_graphs
    from topoact_lightning.engine.graph import GraphFormatError, MapperGraph
    from topoact_lightning.engine.mapper import Mapper


def __getattr__(name: str) -> Any:
    # Lazy: importing one engine module (as the graph process does) must not import the others.
    if name in _EXPORTS:
        import importlib

        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'topoact_lightning.engine' has no attribute {name!r}")
