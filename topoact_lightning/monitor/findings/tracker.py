"""The :class:`FindingTracker`: per-layer history, the detectors at each logged step, and what is new."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

import numpy as np

from topoact_lightning.errors import TopoActConfigError
from topoact_lightning.monitor.findings.classes import class_findings, separation_findings
from topoact_lightning.monitor.findings.faults import LayerHistory, fault_findings
from topoact_lightning.monitor.findings.records import Finding, FindingThresholds

if TYPE_CHECKING:
    from topoact_lightning.engine.graph import MapperGraph


# ------------------------------------------------------------------------------------------------------ tracker
class FindingTracker:
    """Runs the detectors at each logged step, keeps each layer's short history and tells which findings are new.

    A fault kind is new once per layer over the run, ``separation`` once per layer and class, and the other
    class findings once per step (:attr:`Finding.key`). All state is plain Python: :meth:`state_dict` can go in a
    Lightning checkpoint, and after :meth:`load_state_dict` re-running a step that was already seen reports
    nothing again.

    Parameters
    ----------
    thresholds : FindingThresholds, optional
        The detectors' thresholds (the defaults when omitted).
    history_length : int
        How many logged steps of each layer's :class:`LayerHistory` to keep (enough for ``not_learning`` and
        ``exploding``; at least ``max(still_steps, exploding_window) + 1``).

    Examples
    --------
    >>> tracker = FindingTracker()
    >>> [f.kind for f in tracker.observe(0, "fc", np.zeros((50, 4)), loss=2.3)]
    ['dead']
    >>> tracker.observe(1, "fc", np.zeros((50, 4)), loss=1.9)  # still dead: not new
    []
    >>> resumed = FindingTracker()
    >>> resumed.load_state_dict(tracker.state_dict())
    >>> resumed.observe(1, "fc", np.zeros((50, 4)), loss=1.9), len(resumed.findings)
    ([], 1)
    """

    STATE_VERSION = 1

    def __init__(self, thresholds: FindingThresholds | None = None, history_length: int = 8) -> None:
        self.thresholds = thresholds or FindingThresholds()
        need = max(self.thresholds.still_steps, self.thresholds.exploding_window) + 1
        if history_length < need:
            raise TopoActConfigError(
                f"FindingTracker: history_length={history_length} is too short for these thresholds; use at least "
                f"{need}"
            )
        self.history_length = int(history_length)
        self._findings: list[Finding] = []
        self._seen: set[tuple[Any, ...]] = set()
        self._history: dict[str, list[LayerHistory]] = {}

    @property
    def findings(self) -> tuple[Finding, ...]:
        """Every finding reported so far, in the order reported."""
        return tuple(self._findings)

    def history(self, layer: str) -> tuple[LayerHistory, ...]:
        return tuple(self._history.get(layer, ()))

    def faulty_layers(self) -> dict[str, list[str]]:
        """``{layer: [fault kinds]}`` of the layers with a fault finding (for the tab's badges)."""
        out: dict[str, list[str]] = {}
        for f in self._findings:
            if f.is_fault:
                out.setdefault(f.layer, []).append(f.kind)
        return out

    def add(self, findings: Iterable[Finding]) -> list[Finding]:
        """Record ``findings`` and return those that are new (not a repeat by :attr:`Finding.key`)."""
        new = []
        for f in findings:
            if f.key in self._seen:
                continue
            self._seen.add(f.key)
            self._findings.append(f)
            new.append(f)
        return new

    def observe(
        self,
        step: int,
        layer: str,
        activations: np.ndarray,
        *,
        loss: float | None = None,
        graph: MapperGraph | None = None,
        graph_distance: float | None = None,
    ) -> list[Finding]:
        """Append this step to the layer's history, run every detector, and return the new findings.

        ``loss`` is the training loss at this step and ``graph_distance`` the distance of ``graph`` to the
        layer's previous graph (both optional; ``not_learning`` needs the loss). A step at or before the last
        one in the layer's history replaces it and what follows (a resumed run repeats steps).
        """
        entry = LayerHistory.from_activations(step, activations, loss=loss, graph_distance=graph_distance)
        history = [h for h in self._history.get(layer, []) if h.step < entry.step]
        history.append(entry)
        self._history[layer] = history[-self.history_length :]
        found = fault_findings(step, layer, activations, self._history[layer], self.thresholds)
        if graph is not None:
            found += separation_findings(step, layer, graph, self.thresholds)
            found += class_findings(step, layer, graph, self.thresholds)
        return self.add(found)

    def state_dict(self) -> dict[str, Any]:
        return {
            "version": self.STATE_VERSION,
            "findings": [f.to_dict() for f in self._findings],
            "history": {layer: [h.to_dict() for h in hs] for layer, hs in self._history.items()},
        }

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        version = state.get("version")
        if version != self.STATE_VERSION:
            raise ValueError(
                f"findings state version {version!r} is not {self.STATE_VERSION}; it was saved by another version "
                "of topoact-lightning"
            )
        self._findings, self._seen = [], set()
        self.add(Finding.from_dict(d) for d in state.get("findings", []))
        self._history = {
            str(layer): [LayerHistory.from_dict(d) for d in hs][-self.history_length :]
            for layer, hs in state.get("history", {}).items()
        }
