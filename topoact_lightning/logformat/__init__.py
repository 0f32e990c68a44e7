"""The log format: what the monitor writes to TensorBoard's event files, and the viewer and LogReader read back.

The one place where both sides of the logs meet, so it is torch-free (the standard library, numpy and
TensorBoard's protobufs) and imports nothing of the monitor: the viewer (``topoact_tensorboard``) and
:class:`~topoact_lightning.LogReader` depend on it and on the engine only. ``tests/test_layout.py`` holds it to that.

- :mod:`.summary`: the tags, their plugin metadata, and the blobs of graphs, annotations, stored activations and
  thumbnails;
- :mod:`.findings`: the findings' vocabulary (the kinds, which are faults) and the fields of a logged finding;
- :mod:`.events`: reading TopoAct values straight from event files, the one reader of the logs on disk (for
  ``LogReader``, the monitor's resume and the viewer's way around the Rust data server).

Importing this package imports none of its modules.
"""
