"""Building one layer's Mapper graph at one step: the job, the result, and the builder that keeps each layer's
previous graph, its PCA basis and its findings history.

:func:`build_graph` runs the engine on a :class:`GraphJob` (small CPU arrays), computes the graph's metrics, the
layer's diagnostics and findings (:class:`~topoact_lightning.monitor.findings.FindingTracker`), encodes the
activation matrix when it is stored, and returns a :class:`GraphResult`; it never raises. It runs where
:mod:`~topoact_lightning.monitor.worker` puts it: in the torch-free graph process by default, so this module
imports neither torch nor Lightning.

Example:
    >>> import numpy as np
    >>> x = np.random.default_rng(0).normal(size=(120, 6)).astype(np.float32)
    >>> job = GraphJob(step=0, layer="fc", activations=x, labels=None, class_names=None, extras={},
    ...                mapper_params={"n_intervals": 4})
    >>> result = GraphBuilder()(job)
    >>> result.graph_bytes is not None, result.layer, result.step
    (True, 'fc', 0)
"""

from __future__ import annotations

import contextlib
import threading
import time
import warnings
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from topoact_lightning.monitor.diagnostics import activation_diagnostics
from topoact_lightning.monitor.findings import FindingThresholds, FindingTracker


@dataclass
class GraphJob:
    """Everything needed to build one graph, as plain CPU data (safe to hand to another thread)."""

    step: int
    layer: str
    activations: np.ndarray
    labels: np.ndarray | None
    class_names: list[str] | None
    extras: dict[str, np.ndarray]
    mapper_params: dict[str, Any]
    #: The findings' thresholds (:class:`~topoact_lightning.monitor.findings.FindingThresholds`).
    thresholds: FindingThresholds = field(default_factory=FindingThresholds)
    #: The training loss the trainer reported at this step, or None; ``not_learning`` prefers the probe's own mean
    #: per-sample ``loss`` (from ``extras``, see :func:`step_loss`), computed here rather than in the training loop.
    loss: float | None = None
    #: The step logged before this one; the distance is measured only against that graph.
    previous_step: int | None = None
    #: Byte budget for storing the activation matrix with the graph (0: not stored); see ``store_activations``.
    store_activations: int = 0


@dataclass
class GraphResult:
    step: int
    layer: str
    graph_bytes: bytes | None
    scalars: dict[str, float] = field(default_factory=dict)
    error: str | None = None
    problem: str | None = None
    seconds: float = 0.0
    #: The findings new at this step (:meth:`Finding.to_dict`), fault kinds once per layer over the run.
    findings: list[dict[str, Any]] = field(default_factory=list)
    #: The layer's finding history after this step (:meth:`LayerHistory.to_dict`), for checkpoints.
    history: list[dict[str, Any]] = field(default_factory=list)
    #: Distinct warnings the engine raised while building (printed nowhere in the child; the callback warns).
    warnings: list[str] = field(default_factory=list)
    #: The encoded activation matrix (``summary.encode_activations``), when stored.
    activation_blobs: list[bytes] | None = None


class GraphBuilder:
    """Builds graphs in order, remembers each layer's previous graph for the epoch-to-epoch distance, and keeps
    the findings' per-layer history (:attr:`tracker`)."""

    def __init__(self) -> None:
        self.previous: dict[str, tuple[int, bytes, Any]] = {}
        self.references: dict[str, Any] = {}
        self.tracker: FindingTracker | None = None
        self._findings_state: dict[str, Any] | None = None
        #: Record the engine's warnings in the results (the child process, whose stderr nobody reads). Not in a
        #: thread of the training process: ``warnings.catch_warnings`` is process-wide and would swallow the
        #: training thread's own warnings meanwhile.
        self.record_warnings = False
        self._lock = threading.Lock()

    def remember(self, layer: str, step: int, data: bytes, graph: Any) -> None:
        """Keep ``graph`` (and its bytes) as ``layer``'s previous graph."""
        with self._lock:
            self.previous[layer] = (step, data, graph)

    def restore_findings(self, state: dict[str, Any] | None) -> None:
        """Take the findings and histories of a checkpoint (:meth:`FindingTracker.state_dict`), so that a resumed
        fit repeats no finding; applied when the first job brings the thresholds."""
        self._findings_state = state
        self.tracker = None

    def tracker_for(self, thresholds: FindingThresholds) -> FindingTracker:
        if self.tracker is None or self.tracker.thresholds != thresholds:
            tracker = FindingTracker(thresholds)
            if self.tracker is not None:
                tracker.load_state_dict(self.tracker.state_dict())
            elif self._findings_state:
                # An unreadable saved state costs the history, not the run.
                with contextlib.suppress(Exception):
                    tracker.load_state_dict(self._findings_state)
            self.tracker = tracker
        return self.tracker

    def previous_bytes(self) -> dict[str, tuple[int, bytes]]:
        """The last graph built per layer as ``(step, bytes)``, for checkpoints."""
        with self._lock:
            return {layer: (step, data) for layer, (step, data, _) in self.previous.items()}

    def restore(self, saved: dict[str, tuple[int, bytes]]) -> None:
        from topoact_lightning.engine.graph import MapperGraph

        with self._lock:
            for layer, (step, data) in saved.items():
                try:
                    self.previous[layer] = (int(step), bytes(data), MapperGraph.from_bytes(bytes(data)))
                except Exception:  # an unreadable saved graph only costs one distance value
                    continue

    def __call__(self, job: GraphJob) -> GraphResult:
        return build_graph(job, self)


def build_graph(job: GraphJob, builder: GraphBuilder | None = None) -> GraphResult:
    """Mapper graph, graph metrics, diagnostics and findings of one layer at one step. Never raises."""
    t0 = time.perf_counter()
    tracker = builder.tracker_for(job.thresholds) if builder is not None else FindingTracker(job.thresholds)
    try:
        x = np.asarray(job.activations, dtype=np.float32)
        bad = ~np.isfinite(x).all(axis=1)
        if bad.any():
            result = GraphResult(
                job.step,
                job.layer,
                None,
                error=f"{int(bad.sum())} of {len(x)} probe samples have NaN or infinite activations; graph skipped",
            )
            _observe_safely(
                result, tracker, job, x, None, float("nan")
            )  # NaN activations are an `exploding` finding
            return result
        from topoact_lightning.engine.mapper import Mapper

        params = dict(job.mapper_params)
        # Monitoring takes at most one core unless the user asks for more: on small machines a second engine
        # thread competes with the training loop's intra-op threads, which wait for their slowest member.
        params.setdefault("n_jobs", 1)
        if (
            builder is not None
            and params.get("lens") in ("pca", "pca2")
            and params.get("lens_reference") is None
            and job.layer in builder.references
        ):
            # Keep the PCA lens from mirroring between epochs: align it with the previous epoch's basis.
            params["lens_reference"] = builder.references[job.layer]
        record = builder is not None and builder.record_warnings
        with warnings.catch_warnings(record=True) if record else contextlib.nullcontext() as caught:
            if record:
                warnings.simplefilter("always")
            mapper = Mapper(**params).fit(
                x, labels=job.labels, extras=job.extras or None, class_names=job.class_names
            )
        graph = mapper.graph_
        if builder is not None and getattr(mapper, "reference_", None) is not None:
            builder.references[job.layer] = mapper.reference_
        data = graph.to_bytes()
        scalars = {k: float(v) for k, v in graph.metrics().items()}
        diag = activation_diagnostics(x)
        scalars["dead_units"] = diag["dead_units"]
        scalars["effective_rank"] = diag["effective_rank"]
        distance = float("nan")
        if builder is not None:
            prev = builder.previous.get(job.layer)
            if prev is not None and job.previous_step is not None and prev[0] == job.previous_step:
                from topoact_lightning.engine.compare import compare_graphs

                distance = float(compare_graphs(prev[2], graph).distance)
            builder.remember(job.layer, job.step, data, graph)
        scalars["distance"] = distance
        result = GraphResult(job.step, job.layer, data, scalars)
        result.warnings = list(dict.fromkeys(str(w.message) for w in caught or ()))
        _observe_safely(result, tracker, job, x, graph, distance)
        result.activation_blobs = stored_activations(x, job.store_activations)
        if result.activation_blobs is None and job.store_activations > 0:
            # Said once per layer (the message names no step), so re-mapping's 404 later is no surprise.
            result.warnings.append(
                f"its activation matrix ({x.shape[0]} x {x.shape[1]}) is not stored: compressed it exceeds "
                f"store_activations' budget of {job.store_activations:,} bytes per layer and step, so this "
                "layer cannot be re-mapped; pass a larger budget in bytes to store it"
            )
        result.seconds = time.perf_counter() - t0
        return result
    except Exception as e:  # monitoring must never stop training
        return GraphResult(
            job.step, job.layer, None, error=f"{type(e).__name__}: {e}", seconds=time.perf_counter() - t0
        )


def _observe(
    result: GraphResult, tracker: FindingTracker, job: GraphJob, x: np.ndarray, graph: Any, distance: float
) -> None:
    """Run the findings' detectors on this step and put the new findings, the layer's history and the fault
    findings' messages (``problem``) in ``result``."""
    found = tracker.observe(
        job.step,
        job.layer,
        x,
        loss=step_loss(job),
        graph=graph if job.labels is not None else None,
        graph_distance=distance if np.isfinite(distance) else None,
    )
    result.findings = [f.to_dict() for f in found]
    result.history = [h.to_dict() for h in tracker.history(job.layer)]
    faults = [f.message for f in found if f.is_fault]
    result.problem = "; ".join(faults) if faults else None


def _observe_safely(
    result: GraphResult, tracker: FindingTracker, job: GraphJob, x: np.ndarray, graph: Any, distance: float
) -> None:
    try:
        _observe(result, tracker, job, x, graph, distance)
    except Exception as e:  # a failing detector costs the findings of this step, never the graph
        result.warnings.append(f"findings skipped at step {job.step}: {type(e).__name__}: {e}")


def stored_activations(x: np.ndarray, budget: int) -> list[bytes] | None:
    """The encoded matrix if storing is on and it fits ``budget`` bytes; compressed here, in the graph process,
    so the training loop pays nothing.

    Example:
        >>> len(stored_activations(np.ones((4, 3), dtype=np.float32), 10_000)), stored_activations(np.ones((4, 3)), 0)
        (3, None)
    """
    if budget <= 0:
        return None
    from topoact_lightning.logformat.summary import encode_activations

    blobs = encode_activations(x)
    return blobs if sum(len(b) for b in blobs) <= budget else None


def step_loss(job: GraphJob) -> float | None:
    """The loss ``not_learning`` compares across steps: the mean of the probe's per-sample ``loss`` (labels and
    logits known), else the loss the trainer reported (``job.loss``), else None.

    Example:
        >>> job = GraphJob(step=1, layer="fc", activations=np.zeros((3, 2)), labels=None, class_names=None,
        ...                extras={"loss": np.array([1.0, np.nan, 3.0])}, mapper_params={}, loss=9.0)
        >>> step_loss(job)
        2.0
    """
    losses = (job.extras or {}).get("loss")
    if losses is not None:
        losses = np.asarray(losses, dtype=np.float64)
        losses = losses[np.isfinite(losses)]
        if losses.size:
            return float(losses.mean())
    return job.loss
