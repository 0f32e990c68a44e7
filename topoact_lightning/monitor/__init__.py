"""The monitor: the Lightning callback and what it runs (probe, capture, schedule, diagnostics, graph worker).

This wing imports torch and Lightning, but only in the modules that need them: the graph worker
(:mod:`topoact_lightning.monitor.worker`) and :mod:`~topoact_lightning.monitor.diagnostics` run in the
callback's torch-free graph process, so this package's ``__init__`` imports nothing.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pragma: no cover
    from topoact_lightning.monitor.callback import TopoActMonitor

__all__ = ["TopoActMonitor"]


def __getattr__(name: str) -> Any:
    if name == "TopoActMonitor":
        from topoact_lightning.monitor.callback import TopoActMonitor

        return TopoActMonitor
    raise AttributeError(f"module 'topoact_lightning.monitor' has no attribute {name!r}")
