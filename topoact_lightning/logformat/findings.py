"""The findings' vocabulary and how a finding is logged: what the monitor writes and the viewer reads.

A finding names one observation about one layer at one logged step (the monitor's detectors make them:
:mod:`topoact_lightning.monitor.findings`). Its *kind* is one of :data:`KINDS`: the fault kinds are warnings, the
class kinds describe the classes at a step. Each graph step's annotations (:mod:`.summary`) list that step's
findings under ``"findings"``, each a JSON object::

    {"step": int, "layer": str, "kind": str, "message": str, "details": {...}, "fault": bool}

``message`` is one sentence without the layer's name; ``details`` holds the figures behind it, with node ids of that
step's graph under ``"nodes"`` and probe sample ids under ``"samples"`` (:data:`ID_LISTS`) where they apply;
``fault`` follows from the kind. :func:`logged` makes an entry from a finding's record, :func:`record` takes it
back, and :func:`read_logged` checks an entry read from logs the plugin did not write.

This module imports nothing: it is the one statement of the kinds, for the monitor, the viewer and the tab.

Example:
    >>> entry = logged({"step": 3, "layer": "fc", "kind": "dead", "message": "90% never fire", "details": {}})
    >>> entry["fault"], record(entry) == {"step": 3, "layer": "fc", "kind": "dead", "message": "90% never fire",
    ...                                    "details": {}}
    (True, True)
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

#: Kinds that are warnings: each is reported once per layer over a run.
FAULT_KINDS = ("dead", "constant", "collapsed", "saturated", "not_learning", "exploding")
#: Kinds that describe the classes at a logged step (not warnings).
CLASS_KINDS = ("confusion", "separation", "suspect_labels")
KINDS = FAULT_KINDS + CLASS_KINDS

#: ``details`` fields that hold ids when they are lists (the tab highlights those nodes, tracks those samples).
ID_LISTS = ("nodes", "samples")


def is_fault(kind: str) -> bool:
    """Whether ``kind`` is a warning (one of :data:`FAULT_KINDS`)."""
    return kind in FAULT_KINDS


def logged(finding: Mapping[str, Any]) -> dict[str, Any]:
    """The annotations entry of a finding's record (``Finding.to_dict()``): the record and its ``fault``."""
    return {**finding, "fault": is_fault(finding["kind"])}


def record(entry: Mapping[str, Any]) -> dict[str, Any]:
    """The finding's record in a logged entry (what ``Finding.from_dict`` reads): the entry without ``fault``."""
    return {k: v for k, v in entry.items() if k != "fault"}


def read_logged(raw: Any, step: int, layer: str) -> dict[str, Any]:
    """A checked entry of a graph step's ``annotations["findings"]``, placed where it was logged (``step`` and
    ``layer``: the graph it annotates, whose node ids ``details["nodes"]`` names), with ``fault`` from its kind.

    Raises ``ValueError`` saying what is wrong with an entry that could not be shown or acted on.

    Example:
        >>> read_logged({"kind": "dead", "message": "90% never fire", "details": {"nodes": [1]}}, 3, "fc")
        {'step': 3, 'layer': 'fc', 'kind': 'dead', 'fault': True, 'message': '90% never fire', 'details': {'nodes': [1]}}
        >>> read_logged({"kind": "boom", "message": ""}, 3, "fc")
        Traceback (most recent call last):
        ...
        ValueError: unknown kind 'boom'
    """
    if not isinstance(raw, dict):
        raise ValueError(f"a finding must be a JSON object, not {type(raw).__name__}")
    kind, message, details = raw.get("kind"), raw.get("message"), raw.get("details", {})
    if kind not in KINDS:
        raise ValueError(f"unknown kind {kind!r}" if isinstance(kind, str) else "no kind")
    if not isinstance(message, str):
        raise ValueError(f"a {kind!r} finding without a message")
    if details is None:
        details = {}
    if not isinstance(details, dict):
        raise ValueError(f"the details of a {kind!r} finding must be a JSON object")
    for name in ID_LISTS:
        # Only a list is ids: a number is a count (``confusion`` gives how many samples its nodes hold).
        ids = details.get(name)
        if isinstance(ids, list) and not all(
            isinstance(i, int) and not isinstance(i, bool) and 0 <= i < 2**53 for i in ids
        ):
            raise ValueError(
                f"details.{name} of a {kind!r} finding must be a list of non-negative integer ids"
            )
    return {
        "step": step,
        "layer": layer,
        "kind": kind,
        "fault": is_fault(kind),
        "message": message,
        "details": details,
    }
