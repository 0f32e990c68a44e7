"""What the monitor keeps across a resume: the checkpointed state, and the graphs already in the logs.

A step counts as done (:attr:`MonitorState.captured_steps`) only once every graph of it is written (or was skipped
with a warning). On resume the logs are the truth: :func:`logged_graphs` reads which graphs the run's TensorBoard
event files already hold, so that a step whose graphs were never written (a crash right after a checkpoint) is
captured again, a step written after the checkpoint is not written twice, and the first distance after the resume
is measured against the last graph really logged.

Example:
    >>> s = MonitorState.from_dict({"version": 2, "captured_steps": [0, 1], "previous_graphs": {"fc1": [1, b"g"]}})
    >>> s.captured_steps, s.previous_graphs
    ([0, 1], {'fc1': (1, b'g')})
    >>> MonitorState.from_dict({"version": 99})
    Traceback (most recent call last):
    ...
    topoact_lightning.errors.TopoActConfigError: the checkpoint's TopoActMonitor state has version 99, newer than this topoact-lightning reads (2); upgrade topoact-lightning, or resume without the monitor's state (remove its entry from checkpoint['callbacks'])
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from topoact_lightning.errors import TopoActConfigError

#: Version 2 (this one) records a step only once its graphs are written; version 1 states read the same way.
STATE_VERSION = 2


@dataclass
class MonitorState:
    """The checkpointed part of a monitor (Python primitives and bytes only, as ``torch.load`` wants).

    Keys a saved state has and this one does not (``warned_layers`` of version 1: the findings now say which
    warnings were given) are ignored."""

    captured_steps: list[int] = field(default_factory=list)
    thumbnails_written: bool = False
    #: The last graph written per layer, ``layer -> (step, bytes)``, for the first distance after a resume.
    previous_graphs: dict[str, tuple[int, bytes]] = field(default_factory=dict)
    #: Every finding so far (:meth:`Finding.to_dict`), in the order reported.
    findings: list[dict[str, Any]] = field(default_factory=list)
    #: Each layer's short history for the findings (:meth:`LayerHistory.to_dict`), so a resume repeats nothing.
    finding_history: dict[str, list[dict[str, Any]]] = field(default_factory=dict)

    def findings_state(self) -> dict[str, Any]:
        """The findings part as :meth:`FindingTracker.load_state_dict` reads it."""
        from topoact_lightning.monitor.findings import FindingTracker

        return {
            "version": FindingTracker.STATE_VERSION,
            "findings": list(self.findings),
            "history": dict(self.finding_history),
        }

    def to_dict(self) -> dict[str, Any]:
        return {
            "version": STATE_VERSION,
            "captured_steps": [int(s) for s in sorted(set(self.captured_steps))],
            "thumbnails_written": bool(self.thumbnails_written),
            "previous_graphs": {k: [int(s), bytes(b)] for k, (s, b) in self.previous_graphs.items()},
            "findings": list(self.findings),
            "finding_history": dict(self.finding_history),
        }

    @classmethod
    def from_dict(cls, state: dict[str, Any]) -> MonitorState:
        """Read a saved state; a newer version than this code knows is refused with the fix."""
        version = state.get("version", 1)
        if not isinstance(version, int) or version > STATE_VERSION:
            raise TopoActConfigError(
                f"the checkpoint's TopoActMonitor state has version {version!r}, newer than this topoact-lightning "
                f"reads ({STATE_VERSION}); upgrade topoact-lightning, or resume without the monitor's state (remove "
                "its entry from checkpoint['callbacks'])"
            )
        return cls(
            captured_steps=[int(s) for s in state.get("captured_steps", [])],
            thumbnails_written=bool(state.get("thumbnails_written", False)),
            previous_graphs={
                k: (int(v[0]), bytes(v[1])) for k, v in state.get("previous_graphs", {}).items()
            },
            findings=list(state.get("findings", [])),
            finding_history={str(k): list(v) for k, v in state.get("finding_history", {}).items()},
        )


@dataclass
class LoggedGraphs:
    """The graph steps a run's event files hold per layer, and the bytes of the last one up to a step."""

    steps: dict[str, set[int]] = field(default_factory=dict)
    last: dict[str, tuple[int, bytes]] = field(default_factory=dict)
    #: The findings of every logged graph step (from its annotations blob), as :meth:`Finding.to_dict`.
    findings: list[dict[str, Any]] = field(default_factory=list)

    def has(self, layer: str, step: int) -> bool:
        return step in self.steps.get(layer, set())


def logged_graphs(log_dir: str | Path, layers: list[str], up_to: int) -> LoggedGraphs:
    """Which graph steps of ``layers`` the event files in and below ``log_dir`` hold (unreadable files are
    skipped); ``last`` keeps, per layer, the graph of the latest step ``<= up_to``."""
    from topoact_lightning.logformat import events, summary

    wanted = set(layers)
    found = LoggedGraphs()
    if not Path(log_dir).is_dir():
        return found
    for path in events.event_files(log_dir, recursive=True):
        try:
            for value in events.read_values([path]):
                if value.info.kind == summary.KIND_GRAPH and value.layer in wanted:
                    _note(found, value, up_to)
        except Exception:  # a damaged file (a disk that filled up): what was readable counts
            continue
    return found


def _note(found: LoggedGraphs, value: Any, up_to: int) -> None:
    layer, step, blobs = value.layer, value.step, value.blobs
    found.steps.setdefault(layer, set()).add(step)
    if len(blobs) > 1:
        found.findings.extend(_logged_findings(blobs[1]))
    last = found.last.get(layer)
    if blobs and step <= up_to and (last is None or step >= last[0]):
        found.last[layer] = (step, bytes(blobs[0]))


def _logged_findings(blob: bytes) -> list[dict[str, Any]]:
    from topoact_lightning.logformat.findings import record
    from topoact_lightning.logformat.summary import decode_annotations

    try:
        listed = decode_annotations(blob).get("findings") or []
        return [record(d) for d in listed if isinstance(d, dict)]
    except Exception:  # annotations of an older version, or damaged: no findings to recover
        return []


def recover_findings(state: MonitorState, logged: list[dict[str, Any]]) -> None:
    """Add the findings of graphs logged after the checkpoint was saved (their step's graph is not taken again,
    so its findings would be lost), skipping those the state holds already.

    Example:
        >>> s = MonitorState(findings=[{"step": 0, "layer": "fc", "kind": "dead", "message": "m"}])
        >>> recover_findings(s, [{"step": 0, "layer": "fc", "kind": "dead", "message": "m"},
        ...                      {"step": 2, "layer": "fc", "kind": "not_learning", "message": "n"}])
        >>> [d["kind"] for d in s.findings]
        ['dead', 'not_learning']
    """
    from topoact_lightning.monitor.findings import Finding

    known = {Finding.from_dict(d).key for d in state.findings}
    for d in sorted(logged, key=lambda d: int(d.get("step", 0))):
        try:
            key = Finding.from_dict(d).key
        except Exception:
            continue
        if key not in known:
            known.add(key)
            state.findings.append(d)


def resume_from_logs(state: MonitorState, log_dir: str | Path, layers: list[str], epoch: int) -> LoggedGraphs:
    """On resume, take the run's event files as the truth about which graphs exist.

    Every step whose graphs are all logged counts as done (never written twice), also one written after the
    checkpoint was saved. Each layer's previous graph becomes the last one logged up to ``epoch + 1``: a checkpoint
    saved at validation end, before the epoch's graphs were taken, resumes with ``epoch`` one lower and replays that
    epoch's end, which takes step ``epoch + 1``.
    """
    logged = logged_graphs(log_dir, layers, up_to=epoch + 1)
    state.previous_graphs.update(logged.last)
    done = set(state.captured_steps)
    for step in set().union(*logged.steps.values()) if logged.steps else ():
        if all(logged.has(layer, step) for layer in layers):
            done.add(step)
    state.captured_steps = sorted(done)
    recover_findings(state, logged.findings)
    return logged
