"""Rank 0's path from a probe pass to written graphs: graph jobs, the worker, the sink, and which steps are done.

:class:`GraphPipeline` turns a :class:`~topoact_lightning.monitor.probe_pass.PassResult` into one
:class:`~topoact_lightning.monitor.building.GraphJob` per layer, hands them to the worker, writes the results
through the :class:`~topoact_lightning.monitor.sink.SummarySink`, and records a step in
:attr:`MonitorState.captured_steps` only once every graph of it is written or skipped (a NaN graph, a graph dropped
after writing failed for too long). Until then the step is *open*.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
from lightning_utilities.core.rank_zero import rank_zero_warn

from topoact_lightning.monitor.building import GraphBuilder, GraphJob, GraphResult
from topoact_lightning.monitor.findings import Finding, FindingThresholds
from topoact_lightning.monitor.sink import GraphWrite, SummarySink
from topoact_lightning.monitor.state import MonitorState
from topoact_lightning.monitor.worker import GraphProcess, GraphWorker


@dataclass
class OpenStep:
    """A logged step whose graphs are queued or waiting to be written; done when ``layers_left`` is empty."""

    step: int
    scalar_step: int
    layers_left: set[str] = field(default_factory=set)


@dataclass
class JobSettings:
    """What a step's graph jobs share: the probe's labels and classes, the findings' thresholds, the loss."""

    labels: np.ndarray | None = None
    class_names: list[str] | None = None
    thresholds: FindingThresholds = field(default_factory=FindingThresholds)
    #: The training loss at this step (for ``not_learning``), or None.
    loss: float | None = None
    #: Byte budget per layer and step for the stored activation matrix (0: not stored).
    store_activations: int = 0


def mark_done(
    state: MonitorState, open_steps: dict[int, OpenStep], step: int, layer: str | None = None
) -> None:
    """Record ``layer``'s graph of ``step`` (every layer if None) as written or skipped.

    Example:
        >>> state, open_steps = MonitorState(), {3: OpenStep(3, 70, {"a", "b"})}
        >>> mark_done(state, open_steps, 3, "a"); state.captured_steps
        []
        >>> mark_done(state, open_steps, 3, "b"); state.captured_steps, open_steps
        ([3], {})
    """
    open_step = open_steps.get(step)
    if open_step is not None and layer is not None:
        open_step.layers_left.discard(layer)
        if open_step.layers_left:
            return
    open_steps.pop(step, None)
    if step not in state.captured_steps:
        state.captured_steps = sorted([*state.captured_steps, step])


class GraphPipeline:
    """Builds graphs off the training loop and writes them (rank 0 only; one per fit).

    Args:
        state: the monitor's checkpointed state, updated as graphs are written.
        sink: where graphs go.
        layers: the watched layers, input side first (a layer's index is its ``position`` in the summaries).
        worker: ``"process"`` or ``"thread"`` (see :class:`~topoact_lightning.TopoActMonitor`).
        max_pending: logged steps that may wait to be built before :meth:`submit` waits.
    """

    def __init__(
        self,
        state: MonitorState,
        sink: SummarySink,
        layers: list[str],
        *,
        worker: str = "process",
        niceness: int = 10,
        max_pending: int = 2,
    ) -> None:
        self.state = state
        self.sink = sink
        self.layers = layers
        self.open: dict[int, OpenStep] = {}
        #: Seconds each written graph took to build.
        self.build_seconds: list[float] = []
        #: ``(layer, message)`` of the engine warnings already passed on (once each per fit).
        self.engine_warnings: set[tuple[str, str]] = set()
        previous = dict(state.previous_graphs)
        if worker == "process":
            self.builder: GraphBuilder | GraphProcess = GraphProcess(
                niceness, restore=previous, findings=state.findings_state()
            )
        else:
            self.builder = GraphBuilder()
            self.builder.restore(previous)
            self.builder.restore_findings(state.findings_state())
        self.worker = GraphWorker(self.builder, maxsize=max_pending * len(layers), niceness=niceness)

    @property
    def pending(self) -> int:
        return self.worker.pending

    def submit(
        self,
        step: int,
        scalar_step: int,
        activations: dict[str, np.ndarray],
        extras: dict[str, np.ndarray],
        mapper_params: dict[str, dict[str, Any]],
        settings: JobSettings,
    ) -> None:
        """Queue one job per layer in ``activations`` (all of a step's graphs together, so the loop never waits
        inside a step); the distance is measured against the previous step taken."""
        taken = (*self.state.captured_steps, *self.open)
        previous_step = max((s for s in taken if s < step), default=None)
        self.open[step] = OpenStep(step, scalar_step, set(activations))
        for layer, x in activations.items():
            job = GraphJob(
                step=step,
                previous_step=previous_step,
                layer=layer,
                activations=x,
                labels=settings.labels,
                class_names=settings.class_names,
                extras=extras,
                mapper_params=dict(mapper_params[layer]),
                thresholds=settings.thresholds,
                loss=settings.loss,
                store_activations=settings.store_activations,
            )
            self.worker.submit(job)

    def collect(self, wait: bool = False, timeout: float | None = None, retry: bool = True) -> None:
        """Write the graphs built so far (``wait``: all of them, up to ``timeout`` seconds).

        With ``retry``, graphs that an earlier write could not write are tried again even if nothing new is done.
        """
        results = self.worker.drain(timeout) if wait else self.worker.poll()
        if results or (retry and self.sink.unwritten):
            self._write(results)

    def settle(self, up_to: int, timeout: float = 60.0) -> None:
        """Wait until no step ``<= up_to`` is open (a checkpoint is about to record the steps done)."""
        self.collect()
        if any(s <= up_to for s in self.open):
            self.collect(wait=True, timeout=timeout)

    def close(self, timeout: float | None = None) -> None:
        """Write what is left, stop the worker and warn about anything not logged."""
        self.collect(wait=True, timeout=timeout)
        if self.worker.pending:
            rank_zero_warn(
                f"TopoActMonitor: {self.worker.pending} graph(s) were still being built and are not logged"
            )
        self.worker.close()
        if isinstance(self.builder, GraphProcess):
            self.builder.close()
            if self.builder.failure:
                rank_zero_warn(f"TopoActMonitor: graphs were built in a thread: {self.builder.failure}")
        if self.sink.unwritten:
            rank_zero_warn(
                f"TopoActMonitor: {len(self.sink.unwritten)} graph(s) could not be written before the fit ended "
                "(writing kept failing) and are not logged"
            )
        self.sink.save()

    def _write(self, results: list[Any]) -> None:
        writes = []
        for result in results:
            if not isinstance(result, GraphResult):
                rank_zero_warn(f"TopoActMonitor: the graph worker failed: {result!r}")
                continue
            self._note_findings(result)
            if result.graph_bytes is None:
                rank_zero_warn(
                    f"TopoActMonitor: no graph for layer {result.layer!r} at step {result.step}: {result.error}"
                )
                mark_done(self.state, self.open, result.step, result.layer)
                continue
            self.build_seconds.append(result.seconds)
            position = self.layers.index(result.layer) if result.layer in self.layers else None
            open_step = self.open.get(result.step)
            scalar_step = open_step.scalar_step if open_step is not None else result.step
            writes.append(GraphWrite(result, position, scalar_step))
        written, dropped = self.sink.write(writes)
        for result in written:
            self.state.previous_graphs[result.layer] = (result.step, result.graph_bytes)
        for result in (*written, *dropped):
            mark_done(self.state, self.open, result.step, result.layer)

    def _note_findings(self, result: GraphResult) -> None:
        """Keep the step's findings in the checkpointed state, warn once per fault finding (the graph process
        reports a fault kind once per layer), and pass on the engine's warnings once per layer and message."""
        self.state.findings.extend(result.findings)
        if result.history:
            self.state.finding_history[result.layer] = list(result.history)
        for d in result.findings:
            finding = Finding.from_dict(d)
            if finding.is_fault:
                rank_zero_warn(fault_warning(finding))
        for message in result.warnings:
            if (result.layer, message) not in self.engine_warnings:
                self.engine_warnings.add((result.layer, message))
                rank_zero_warn(f"TopoActMonitor: layer {result.layer!r} at epoch {result.step}: {message}")


def fault_warning(finding: Finding) -> str:
    """The warning of a fault finding: layer, epoch, what was found and the usual fix.

    Example:
        >>> print(fault_warning(Finding(3, "fc1", "dead", "80% of its units never fire")))
        TopoActMonitor: layer 'fc1' is dead at epoch 3: 80% of its units never fire. Usual fix: start the biases ...
    """
    return (
        f"TopoActMonitor: layer {finding.layer!r} is {finding.kind.replace('_', ' ')} at epoch {finding.step}: "
        f"{finding.message}. Usual fix: {finding.fix}. (Warned once per layer and kind; all findings are in "
        "monitor.findings and the Text tab.)"
    )
