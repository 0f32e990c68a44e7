"""Reading TopoAct values straight from a run's event files, without TensorBoard's server.

The one reader of the log format on disk. :class:`~topoact_lightning.LogReader` (a notebook), the monitor's resume
(which graphs the logs already hold) and the viewer's way around the Rust data server (blobs it cannot serve) all
read through :func:`read_values`: a value is TopoAct's when its tag's plugin metadata names the ``topoact`` plugin
(:mod:`.summary`), and it comes with what that metadata says (kind, layer, position) and its blobs.

Values come in the order they were written, files in name order (TensorBoard names them by creation time): a step
written again (a resumed run) comes later, so a reader keeping the last value per step shows what TensorBoard shows.
A file cut short (a crash, a full disk) yields what it holds up to the cut.

Example::

    for value in read_values(event_files("lightning_logs/version_0")):
        if value.info.kind == summary.KIND_GRAPH:
            graphs[value.layer, value.step] = value.blobs[0]
"""

from __future__ import annotations

import glob
import os
from collections.abc import Container, Iterable, Iterator
from dataclasses import dataclass

from topoact_lightning.logformat import summary


@dataclass(frozen=True)
class LoggedValue:
    """One TopoAct value of an event file: its step, tag, what the tag's metadata says, and its blobs."""

    step: int
    tag: str
    info: summary.TagInfo
    blobs: list[bytes]

    @property
    def layer(self) -> str | None:
        """The layer of a graph or activations value (None for thumbnails)."""
        return self.info.layer_of(self.tag)


def event_files(run_dir: str | os.PathLike[str], recursive: bool = False) -> list[str]:
    """The event files (``*tfevents*``) of ``run_dir`` in name order; with ``recursive``, those below it too."""
    root = glob.escape(os.fspath(run_dir))
    pattern = os.path.join(root, "**", "*tfevents*") if recursive else os.path.join(root, "*tfevents*")
    return sorted(p for p in glob.glob(pattern, recursive=recursive) if os.path.isfile(p))


def read_values(files: Iterable[str], tags: Container[str] | None = None) -> Iterator[LoggedValue]:
    """Every TopoAct value of ``files`` (only those of ``tags`` when given), in the order written.

    A tag's metadata is read where it first appears (TensorBoard keeps only that one). Raises
    :class:`~.summary.SummaryFormatError` for metadata this version cannot read (a newer summary version says
    to upgrade), and ``OSError`` for a file that cannot be opened.
    """
    from tensorboard.backend.event_processing.event_file_loader import LegacyEventFileLoader

    infos: dict[str, summary.TagInfo | None] = {}
    for path in files:
        for event in LegacyEventFileLoader(path).Load():
            for value in event.summary.value:
                if tags is not None and value.tag not in tags:
                    continue
                if value.tag not in infos:
                    infos[value.tag] = _tag_info(value)
                info = infos[value.tag]
                if info is not None:
                    yield LoggedValue(int(event.step), value.tag, info, list(value.tensor.string_val))


def _tag_info(value) -> summary.TagInfo | None:
    """What a ``Summary.Value``'s metadata says, if it is TopoAct's (None for another plugin's value)."""
    if not value.HasField("metadata") or value.metadata.plugin_data.plugin_name != summary.PLUGIN_NAME:
        return None
    return summary.decode_metadata(value.metadata.plugin_data.content)
