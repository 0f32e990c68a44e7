"""A way around one bug of TensorBoard's Rust data server: blobs of runs whose name JSON escapes.

The Rust server (``tensorboard-data-server`` 0.7) makes its blob keys from JSON of ``[experiment, run, tag, step,
index]``, then decodes them into borrowed strings, which fails for any string JSON escapes (a quote, a backslash, a
control character): ``read_blob`` answers "BadJson" for every blob of such a run. It lists those runs and their
blob references fine. Tags are ours to encode (``summary.graph_tag``); run names are directory names. So for such a
run, and only after the server refused, the plugin reads the blob from the run's own event files, where the key
says it is (:class:`EventFileBlobs`, through the log format's one reader, :mod:`topoact_lightning.logformat.events`).

Example::

    location = blob_key_location(blob_key)  # ("", run, tag, step, index), or None for a key of another shape
    data = EventFileBlobs().read(logdir, *location[1:])
"""

from __future__ import annotations

import base64
import binascii
import json
import os
import threading

from tensorboard import errors

from topoact_lightning.logformat import events

#: Characters JSON escapes: a run name holding any of them has unreadable blob keys on the Rust data server.
JSON_ESCAPED = frozenset(chr(c) for c in range(0x20)) | {'"', "\\"}


def needs_event_files(run: str) -> bool:
    """Whether the Rust data server cannot read ``run``'s blobs (see the module docstring)."""
    return bool(JSON_ESCAPED & set(run))


def blob_key_location(blob_key: str) -> tuple[str, str, str, int, int] | None:
    """``(experiment, run, tag, step, index)`` from a Rust data server blob key (URL-safe base 64 of a JSON list,
    without padding); None for a key of another shape."""
    try:
        raw = base64.urlsafe_b64decode(blob_key + "=" * (-len(blob_key) % 4))
        experiment, run, tag, step, index = json.loads(raw)
    except (binascii.Error, ValueError, TypeError):
        return None
    if not all(isinstance(x, str) for x in (experiment, run, tag)) or not all(
        isinstance(x, int) for x in (step, index)
    ):
        return None
    return experiment, run, tag, step, index


class EventFileBlobs:
    """The blobs of one (run, tag) read from its event files, kept for the last few series read.

    A series is reread when any of its files changed size (training goes on while TensorBoard runs).
    """

    def __init__(self, max_series: int = 2) -> None:
        self.max_series = max_series
        self._series: dict[tuple, dict[int, list[bytes]]] = {}
        self._lock = threading.Lock()

    def read(self, logdir: str, run: str, tag: str, step: int, index: int) -> bytes:
        run_dir = os.path.realpath(os.path.join(logdir, *run.split("/")) if run != "." else logdir)
        root = os.path.realpath(logdir)
        if os.path.commonpath([run_dir, root]) != root or not os.path.isdir(run_dir):
            raise errors.NotFoundError(f"run {run!r} is not a directory of the log directory")
        files = events.event_files(run_dir)
        key = (run_dir, tag, tuple((f, os.path.getsize(f)) for f in files))
        with self._lock:
            steps = self._series.get(key)
        if steps is None:
            steps = _read_series(files, tag)
            with self._lock:
                self._series[key] = steps
                while len(self._series) > self.max_series:
                    self._series.pop(next(iter(self._series)))
        blobs = steps.get(step)
        if blobs is None or not 0 <= index < len(blobs):
            raise errors.NotFoundError(
                f"no blob {index} of tag {tag!r} at step {step} in the event files of {run!r}"
            )
        return blobs[index]


def _read_series(files: list[str], tag: str) -> dict[int, list[bytes]]:
    # A step written twice (a resumed run): the latest wins, as on the data provider.
    return {value.step: value.blobs for value in events.read_values(files, tags={tag})}
