"""topoact-lightning: Mapper graphs of a network's activations, logged during training, shown in TensorBoard.

The engine (:class:`Mapper`, :class:`MapperGraph`) needs only numpy, scipy and scikit-learn; the callback
(:class:`TopoActMonitor`) imports torch and Lightning when first used.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"


def _engine_exports() -> dict[str, str]:
    from topoact_lightning.engine import _EXPORTS as engine  # the engine package's __init__ imports nothing

    return dict(engine)


# Lazy exports: `import topoact_lightning` stays cheap (the TensorBoard plugin imports the summary format and
# graph model from here and must not pull in torch).
_EXPORTS = {
    **_engine_exports(),
    "TopoActMonitor": "topoact_lightning.monitor.callback",
    "TopoActConfigError": "topoact_lightning.errors",
    "LogReader": "topoact_lightning.reader",
}

__all__ = [
    "GraphComparison",
    "GraphFormatError",
    "LogReader",
    "Mapper",
    "MapperGraph",
    "TopoActConfigError",
    "TopoActMonitor",
    "compare_graphs",
]

if TYPE_CHECKING:  # pragma: no cover
    from topoact_lightning.engine.compare import GraphComparison, compare_graphs
    from topoact_lightning.engine.graph import GraphFormatError, MapperGraph
    from topoact_lightning.engine.mapper import Mapper
    from topoact_lightning.errors import TopoActConfigError
    from topoact_lightning.monitor.callback import TopoActMonitor
    from topoact_lightning.reader import LogReader


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        import importlib

        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'topoact_lightning' has no attribute {name!r}")
