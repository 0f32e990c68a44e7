"""The monitor: the Lightning callback and what it runs.

``callback`` wires Lightning's hooks to the parts: ``config`` (settings, checked once, resolved per layer),
``probe`` and ``probe_pass`` (the fixed samples and the forward pass with ``capture``'s hooks), ``schedule``,
``pipeline`` (graph jobs to the ``worker``, results to the ``sink``, which steps are done), ``diagnostics`` and
``state`` (what a checkpoint keeps, and what a resume reads back from the logs).
``feature_images`` renders what a Mapper node "sees" (``feature_target``, ``feature_optimisation``,
``image_space``, ``image_transforms``); the callback does not call it yet.

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
