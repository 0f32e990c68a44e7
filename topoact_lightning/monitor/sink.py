"""The sink: where finished graphs go (TensorBoard summaries, thumbnails, ``topoact/*`` scalars on every logger).

All writing happens on the training thread (loggers are not thread-safe). A write fails with ``OSError`` when the
disk is full or the log directory goes away; training must not die for that, so the sink:

- warns once per outage (``rank_zero_warn``) and keeps the graphs it could not write, up to ``max_unwritten``
  (older ones are dropped, and the warning says how many may be);
- reopens the ``SummaryWriter``'s event file (TensorBoard's writer thread stops for good after an error, so every
  later write, including Lightning's own, would fail) and retries the kept graphs with the next write;
- says when writing has recovered.

A graph counts as written only once its summary, its scalars and the flush that follows all succeeded; the
callback records a step as done only then.
"""

from __future__ import annotations

import contextlib
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from lightning_utilities.core.rank_zero import rank_zero_info, rank_zero_warn

from topoact_lightning.monitor.building import GraphResult

DIAGNOSTICS = ("dead_units", "effective_rank", "distance")


@dataclass
class GraphWrite:
    """A finished graph and where it goes: the layer's watch position and the loggers' step for its scalars."""

    result: GraphResult
    position: int | None
    scalar_step: int


def finite(scalars: dict[str, float]) -> dict[str, float]:
    """The finite values of ``scalars`` as floats (a NaN distance, for instance, is not logged).

    Example:
        >>> finite({"nodes": 3, "distance": float("nan")})
        {'nodes': 3.0}
    """
    return {k: float(v) for k, v in scalars.items() if v is not None and np.isfinite(v)}


def write_error(e: BaseException) -> OSError | None:
    """The ``OSError`` behind a failed write: ``e`` itself, or the cause of the ``ValueError`` that Lightning's
    ``TensorBoardLogger.log_metrics`` raises from any error of ``add_scalar`` (a full disk among them).

    Example:
        >>> try:
        ...     try:
        ...         raise OSError(28, "No space left on device")
        ...     except OSError as full:
        ...         raise ValueError("you tried to log 0.5") from full
        ... except ValueError as e:
        ...     write_error(e)
        OSError(28, 'No space left on device')
        >>> write_error(ValueError("a real bug")) is None
        True
    """
    if isinstance(e, OSError):
        return e
    return e.__cause__ if isinstance(e.__cause__, OSError) else None


def findings_tag(layer: str) -> str:
    """The Text-tab tag of a layer's findings (one tag per layer: two layers' findings of one step both show).

    Example:
        >>> findings_tag("fc1")
        'topoact_findings/fc1'
    """
    return f"topoact_findings/{layer}"


def is_summary_writer(logger: Any) -> bool:
    from torch.utils.tensorboard import SummaryWriter

    try:
        return isinstance(logger.experiment, SummaryWriter)
    except Exception:
        return False


class SummarySink:
    """Writes graphs, thumbnails and scalars to a fit's loggers, surviving ``OSError`` (see the module docstring).

    Args:
        loggers: the trainer's loggers (scalars go to all of them).
        writers: the ``SummaryWriter`` of each TensorBoard logger (graphs and thumbnails go there).
        max_unwritten: graphs kept for a later write while writing fails.
    """

    def __init__(self, loggers: Sequence[Any], writers: Sequence[Any], max_unwritten: int = 16) -> None:
        self.loggers = list(loggers)
        self.writers = list(writers)
        self.max_unwritten = max_unwritten
        self.unwritten: deque[GraphWrite] = deque()
        self.dropped: list[GraphWrite] = []
        self.failing = False

    @classmethod
    def for_trainer(cls, trainer: Any, max_unwritten: int = 16) -> SummarySink:
        loggers = [lg for lg in trainer.loggers if type(lg).__name__ != "DummyLogger"]
        return cls(loggers, [lg.experiment for lg in loggers if is_summary_writer(lg)], max_unwritten)

    def write_thumbnails(self, images: np.ndarray) -> bool:
        """Write the probe's thumbnails at step 0; ``False`` if writing failed (warned)."""
        from topoact_lightning.logformat.summary import thumbnails_summary, write_summary

        summary = thumbnails_summary(images)
        try:
            for writer in self.writers:
                write_summary(writer, summary, 0)
            self._flush()
        except OSError as e:
            self._failed(e, "the probe thumbnails")
            return False
        return True

    def write(self, writes: Sequence[GraphWrite]) -> tuple[list[GraphResult], list[GraphResult]]:
        """Write the graphs kept from earlier failures, then ``writes``, and flush.

        Returns ``(written, dropped)``: the results now safely written, and those given up on because more than
        ``max_unwritten`` waited. Never raises ``OSError``.
        """
        todo = list(self.unwritten) + list(writes)
        self.unwritten.clear()
        if not todo:
            return [], []
        try:
            for item in todo:
                self._write_one(item)
            self._flush()
        except (OSError, ValueError) as e:
            error = write_error(e)
            if error is None:
                raise
            self._keep(todo)
            self._failed(error, f"{len(todo)} graph(s)")
            return [], self._take_dropped()
        if self.failing:
            self.failing = False
            rank_zero_info(
                f"TopoActMonitor: writing summaries works again; wrote {len(todo)} delayed graph(s)"
            )
        return [item.result for item in todo], self._take_dropped()

    def save(self) -> None:
        """Let every logger save (CSV files, hyperparameters); failures are not the monitor's to raise."""
        for logger in self.loggers:
            with contextlib.suppress(Exception):
                logger.save()

    # ------------------------------------------------------------------------------------------ internals
    def _write_one(self, item: GraphWrite) -> None:
        from topoact_lightning.logformat.findings import logged
        from topoact_lightning.logformat.summary import (
            activations_summary,
            graph_summary,
            scalar_tag,
            write_summary,
        )
        from topoact_lightning.monitor.findings import Finding, findings_markdown

        r = item.result
        found = [Finding.from_dict(d) for d in r.findings]
        annotations = {
            "diagnostics": {k: r.scalars.get(k) for k in DIAGNOSTICS},
            "problem": r.problem,
            "findings": [logged(f.to_dict()) for f in found],
        }
        summaries = [graph_summary(r.layer, r.graph_bytes, annotations, item.position)]
        if r.activation_blobs:
            summaries.append(activations_summary(r.layer, r.activation_blobs, item.position))
        for writer in self.writers:
            for summary in summaries:
                write_summary(writer, summary, r.step)
            if found:
                writer.add_text(findings_tag(r.layer), findings_markdown(found), r.step)
        metrics = {scalar_tag(r.layer, k): v for k, v in finite(r.scalars).items()}
        for logger in self.loggers:
            try:
                logger.log_metrics(metrics, step=item.scalar_step)
            except ValueError as e:
                # Lightning's TensorBoardLogger wraps any failure of add_scalar in a ValueError; a full disk is
                # still an OSError underneath, and handled as one.
                if isinstance(e.__cause__, OSError):
                    raise e.__cause__ from e
                raise

    def _flush(self) -> None:
        for writer in self.writers:
            writer.flush()

    def _keep(self, items: list[GraphWrite]) -> None:
        self.unwritten.extend(items)
        while len(self.unwritten) > self.max_unwritten:
            self.dropped.append(self.unwritten.popleft())

    def _take_dropped(self) -> list[GraphResult]:
        out = [item.result for item in self.dropped]
        self.dropped = []
        return out

    def _failed(self, error: OSError, what: str) -> None:
        for writer in self.writers:
            _reopen(writer)
        if self.failing:
            return
        self.failing = True
        rank_zero_warn(
            f"TopoActMonitor: could not write {what} ({type(error).__name__}: {error}); training goes on. Up to "
            f"{self.max_unwritten} graphs are kept and written when writing works again (older ones are dropped); "
            "free disk space in the log directory."
        )


def _reopen(writer: Any) -> None:
    """Make ``writer`` start a new event file with its next write.

    After an error TensorBoard's event writer thread has stopped and re-raises that error on every later call; a
    ``SummaryWriter`` without a file writer opens a fresh one (``_get_file_writer``), which works once there is
    room again. The stopped writer holds no open file (TensorBoard's ``GFile`` opens the file per write).
    """
    if hasattr(writer, "file_writer") and hasattr(writer, "all_writers"):
        writer.file_writer = None
        writer.all_writers = None
