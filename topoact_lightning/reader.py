"""Reading a run's TopoAct logs in a notebook, without TensorBoard's server (and without torch).

:class:`LogReader` reads the event files of one run directory (the directory holding ``events.out.tfevents.*``
files, such as Lightning's ``lightning_logs/version_0``) with TensorBoard's own event loader, and gives back what the
callback wrote (:mod:`topoact_lightning.logformat.summary`, read by :mod:`topoact_lightning.logformat.events`):
graphs, stored activations, annotations and thumbnails.

Example::

    from topoact_lightning import LogReader, Mapper, compare_graphs

    log = LogReader("lightning_logs/version_0")
    layer = log.layers[-1]
    last = log.steps(layer)[-1]
    x = log.activations(layer, last)  # (n_probe, d) float32
    finer = Mapper(**{**log.graph(layer, last).params, "n_intervals": 20}).fit_graph(
        x, labels=log.labels, class_names=log.class_names
    )
    compare_graphs(log.graph(layer, last), finer).distance
"""

from __future__ import annotations

import os

import numpy as np

from topoact_lightning.engine.graph import MapperGraph
from topoact_lightning.logformat import events, summary


class LogReader:
    """The TopoAct logs of one run directory, read once when made.

    Args:
        run_dir: a directory holding the run's event files (``events.out.tfevents.*``).

    Attributes:
        layers: the watched layers, input side first.
        labels: the probe's class id per sample (``-1`` unknown), or None.
        class_names: the class names, or None.

    A step written twice (a resumed run) reads as its last write, as TensorBoard shows it.
    """

    def __init__(self, run_dir: str | os.PathLike[str]) -> None:
        self.run_dir = os.fspath(run_dir)
        files = events.event_files(self.run_dir)
        if not files:
            nested = sorted({os.path.dirname(p) for p in events.event_files(self.run_dir, recursive=True)})
            hint = f"; runs below it: {nested[:5]}" if nested else ""
            raise FileNotFoundError(f"no event files (events.out.tfevents.*) in {self.run_dir!r}{hint}")
        self._graphs: dict[str, dict[int, list[bytes]]] = {}
        self._activations: dict[str, dict[int, list[bytes]]] = {}
        self._positions: dict[str, int] = {}
        self._thumbnails: list[bytes] | None = None
        for value in events.read_values(files):
            self._keep(value)
        order = {
            layer: (self._positions.get(layer, len(self._positions) + i), i)
            for i, layer in enumerate(self._graphs)
        }
        self.layers: list[str] = sorted(self._graphs, key=order.__getitem__)
        self.labels: np.ndarray | None = None
        self.class_names: list[str] | None = None
        if self.layers:
            first = self.graph(self.layers[0], self.steps(self.layers[0])[0])
            self.labels, self.class_names = first.labels, first.class_names

    def _keep(self, value: events.LoggedValue) -> None:
        if value.info.kind == summary.KIND_THUMBNAILS:
            self._thumbnails = value.blobs
            return
        layer = value.layer
        if value.info.position is not None:
            self._positions[layer] = value.info.position
        store = self._graphs if value.info.kind == summary.KIND_GRAPH else self._activations
        store.setdefault(layer, {})[value.step] = value.blobs

    def _blobs(
        self, store: dict[str, dict[int, list[bytes]]], what: str, layer: str, step: int
    ) -> list[bytes]:
        if layer not in self._graphs:
            raise KeyError(f"no layer {layer!r} in {self.run_dir!r}; layers: {self.layers}")
        steps = store.get(layer, {})
        if step not in steps:
            raise KeyError(f"no {what} of {layer!r} at step {step}; steps with one: {sorted(steps)}")
        return steps[step]

    def steps(self, layer: str) -> list[int]:
        """The steps (epochs completed) with a graph of ``layer``."""
        if layer not in self._graphs:
            raise KeyError(f"no layer {layer!r} in {self.run_dir!r}; layers: {self.layers}")
        return sorted(self._graphs[layer])

    def activation_steps(self, layer: str) -> list[int]:
        """The steps at which ``layer``'s activations were stored (see ``store_activations``)."""
        self.steps(layer)
        return sorted(self._activations.get(layer, {}))

    def graph(self, layer: str, step: int) -> MapperGraph:
        """The logged Mapper graph of ``layer`` at ``step``."""
        return MapperGraph.from_bytes(self._blobs(self._graphs, "graph", layer, step)[0])

    def annotations(self, layer: str, step: int) -> dict:
        """What the monitor found about ``layer`` at ``step``: ``{"diagnostics": {...}, "problem": ...}``."""
        blobs = self._blobs(self._graphs, "graph", layer, step)
        return summary.decode_annotations(blobs[1]) if len(blobs) > 1 else {}

    def activations(self, layer: str, step: int) -> np.ndarray:
        """The stored probe activation matrix of ``layer`` at ``step``, ``(n_probe, d)`` float32 (precision: see
        :func:`topoact_lightning.logformat.summary.encode_activations`)."""
        return summary.decode_activations(self._blobs(self._activations, "stored activations", layer, step))

    def metrics(self, layer: str) -> dict[int, dict[str, float | None]]:
        """Per step: the graph's metrics (:meth:`MapperGraph.metrics`) and the diagnostics logged beside it."""
        out: dict[int, dict[str, float | None]] = {}
        for step in self.steps(layer):
            values: dict[str, float | None] = {
                k: float(v) for k, v in self.graph(layer, step).metrics().items()
            }
            values.update(self.annotations(layer, step).get("diagnostics") or {})
            out[step] = values
        return out

    def thumbnails(self) -> np.ndarray | None:
        """The probe's thumbnails ``(n, height, width, channels)`` uint8, or None if none were logged."""
        return None if self._thumbnails is None else summary.decode_thumbnails(self._thumbnails)

    def __repr__(self) -> str:
        return f"LogReader({self.run_dir!r}, layers={self.layers})"
