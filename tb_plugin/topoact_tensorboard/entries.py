"""Decoded graphs and what the routes derive from them (:class:`GraphEntry`), and how a payload that cannot be read
becomes a message instead of a 500 (:func:`guarded`, :class:`Unreadable`).

Logs are input the plugin did not write: whatever decoding a graph, or deriving numbers from it, raises becomes
that one epoch's ``NotFoundError`` (404) with the reason, so one bad epoch never takes down a layer's other epochs.

Example:
    >>> import numpy as np
    >>> from topoact_lightning import Mapper
    >>> g = Mapper(n_intervals=4).fit_graph(np.random.default_rng(0).normal(size=(50, 3)))
    >>> entry = GraphEntry(g, step=3, wall_time=0.0, where="graph of layer 'fc' at epoch 3")
    >>> entry.metrics["unassigned"] == len(g.unassigned), entry.problem
    (True, None)
"""

from __future__ import annotations

from collections.abc import Callable, Hashable
from dataclasses import dataclass
from functools import cached_property
from typing import TypeVar

import numpy as np
from tensorboard import errors

from topoact_lightning.engine.graph import CATEGORICAL_EXTRAS, MapperGraph
from topoact_tensorboard.payloads import json_number

T = TypeVar("T")

#: Chart names of the means of the monitor's per-sample extras (the README's names).
EXTRA_METRIC_NAMES = {"correct": "accuracy", "loss": "mean_loss"}
#: A graph whose class histograms (nodes x classes) would exceed this many cells is refused as unreadable: only a
#: crafted payload gets there, and building the histograms would exhaust memory.
MAX_HISTOGRAM_CELLS = 1 << 26


def guarded(where: str, compute: Callable[[], T]) -> T:
    """``compute()``, with any failure turned into a 404 saying that ``where`` is unreadable.

    Decoding a payload and deriving numbers from it run on data the plugin did not write (a crafted or damaged
    log): whatever they raise is that one graph's problem, reported with its reason, never a 500.

    Example:
        >>> guarded("graph 3", lambda: [][1])
        Traceback (most recent call last):
        ...
        tensorboard.errors.NotFoundError: Not found: graph 3 is unreadable: IndexError: list index out of range
    """
    try:
        return compute()
    except errors.PublicError:
        raise
    except Exception as e:  # anything a crafted payload makes numpy, zipfile or json raise
        raise errors.NotFoundError(unreadable(where, e)) from e


def unreadable(where: str, e: BaseException) -> str:
    reason = f"{type(e).__name__}: {e}"
    return f"{where} is unreadable: {reason if len(reason) <= 300 else reason[:300] + '...'}"


@dataclass(frozen=True)
class Unreadable:
    """A cached failure to read or derive something (a graph, annotations, activations, a projection): only its
    message, so that the payload and the frames that failed are freed. Whoever finds it raises ``NotFoundError``
    with the message."""

    message: str


class GraphEntry:
    """A decoded graph and what the routes derive from it, each computed once."""

    def __init__(
        self,
        graph: MapperGraph,
        step: int,
        wall_time: float,
        key: Hashable = None,
        annotations: dict | None = None,
        where: str = "graph",
        remapped: bool = False,
    ) -> None:
        self.graph = graph
        #: Built by the plugin from stored activations with a request's Mapper parameters, not read from the logs.
        self.remapped = remapped
        #: Names this graph in messages: "graph of layer 'fc1' at epoch 3 in run 'mnist'".
        self.where = where
        #: What the monitor logged beside the graph (diagnostics, health problem); empty for version-1 logs.
        self.annotations = annotations or {}
        self.step = step
        self.wall_time = wall_time
        #: The cache key: identifies this exact payload (for caches of results derived from several graphs).
        self.key = key
        #: The graph route's response body, gzip-compressed JSON, filled in by the route on first use.
        self.gzipped_json: bytes | None = None

    @cached_property
    def metrics(self) -> dict[str, float | None]:
        """The chart's numbers for this epoch, named as the README names them: the graph metrics,
        ``unassigned``, the monitor's ``dead_units`` and ``effective_rank``, ``accuracy`` and ``mean_loss`` (from
        the per-sample extras), and ``mean_<name>`` of any other numeric extra. Class-index extras
        (``prediction``) have no meaningful mean and are left out."""
        out: dict[str, float | None] = {k: json_number(v) for k, v in self.graph.metrics().items()}
        out["unassigned"] = float(len(self.graph.unassigned))
        diagnostics = self.annotations.get("diagnostics")
        if isinstance(diagnostics, dict):
            for name in ("dead_units", "effective_rank"):
                value = diagnostics.get(name)
                if isinstance(value, (int, float)) and not isinstance(value, bool):
                    out[name] = json_number(float(value))
        for name, values in self.graph.extras.items():
            if name in CATEGORICAL_EXTRAS:
                continue
            finite = values[np.isfinite(values)]
            out[EXTRA_METRIC_NAMES.get(name, f"mean_{name}")] = (
                json_number(finite.mean()) if len(finite) else None
            )
        return out

    @property
    def problem(self) -> str | None:
        """The monitor's health warning for this layer at this epoch, if any."""
        problem = self.annotations.get("problem")
        return problem if isinstance(problem, str) and problem else None

    @cached_property
    def sample_index(self) -> tuple[np.ndarray, np.ndarray]:
        """Sample -> nodes as CSR arrays ``(indptr, nodes)``, computed once per cached graph (the engine's
        :meth:`MapperGraph.sample_index`)."""
        return self.graph.sample_index()

    def derive(self, compute: Callable[[], T]) -> T:
        """``compute()`` on this graph, any failure a 404 naming this graph (see :func:`guarded`)."""
        return guarded(self.where, compute)

    def nodes_of(self, sample: int) -> list[int]:
        if sample >= self.graph.n_samples:
            return []
        indptr, nodes = self.sample_index
        return nodes[indptr[sample] : indptr[sample + 1]].tolist()


def checked(graph: MapperGraph) -> MapperGraph:
    """``graph`` if the routes can derive everything from it; raises ``ValueError`` for what the decoder lets
    through from a crafted payload (edges naming nodes that do not exist, histograms too large to build)."""
    if graph.n_edges and (graph.edges.min() < 0 or graph.edges.max() >= graph.n_nodes):
        raise ValueError(f"an edge refers to a node outside range({graph.n_nodes})")
    if graph.n_nodes * graph.n_classes > MAX_HISTOGRAM_CELLS:
        raise ValueError(
            f"{graph.n_nodes} nodes x {graph.n_classes} classes is too many class counts to show"
        )
    return graph
