"""The TensorBoard summaries: what the callback writes and the plugin and :class:`LogReader` read.

Everything is a blob sequence (``DATA_CLASS_BLOB_SEQUENCE``, a rank-1 ``DT_STRING`` tensor) under the plugin name
``topoact``:

- one tag per layer, ``topoact_graph/<layer>`` (:func:`graph_tag`: ``%``, quotes, backslashes and control
  characters percent-encoded; the metadata holds the real name); the step is the number of training epochs completed when the graph
  was taken (0 = the untrained network). Blob 0 is :meth:`MapperGraph.to_bytes`; blob 1 (since version 2) is a JSON
  object of *annotations*: what the monitor found about the layer at that step, which is not part of the graph
  (``{"diagnostics": {"dead_units", "effective_rank", "distance"}, "problem": str | null, "findings": [...]}``;
  NaN as null). ``findings`` lists the layer's findings at that step (:mod:`.findings`: their kinds and fields;
  ``details["nodes"]`` are node ids of that step's graph, ``details["samples"]`` probe sample ids); ``problem``
  joins the fault findings' messages. Steps written before
  findings existed have no ``findings`` key. Readers accept version-1 steps with the graph blob alone.
- one tag per layer, ``topoact_activations/<layer>`` (:func:`activations_tag`, encoded like :func:`graph_tag`;
  written when the monitor's ``store_activations`` allows it), at the same steps as the graphs: the probe activation
  matrix the graph was built from, after reduction (:func:`encode_activations`). Blob 0 is a JSON header
  ``{"n", "d", "encoding": "f16-rowscaled"}``, blob 1 the zlib-compressed little-endian ``float32`` row scales
  (each row's largest absolute value), blob 2 the zlib-compressed ``float16`` matrix of the rows divided by
  their scales. Each decoded value is within ``2**-11`` (0.049%) of its row's largest absolute value of the exact
  one; row norms within 0.05%. A separate tag keeps graph reads small.
- one tag ``topoact_thumbnails``, written once at step 0: blob 0 is a JSON header
  ``{"n", "height", "width", "channels"}``, blob 1 the zlib-compressed ``uint8`` array of shape
  ``(n, height, width, channels)``, one small image per probe sample, in probe order.

The ``plugin_data.content`` of each tag is a JSON object ``{"version", "kind", "layer"?, "position"?}`` (``position``:
the layer's place among the watched layers, input side first, so readers can list layers in network order); it is
constant per tag,
since TensorBoard keeps only the first metadata it sees for a tag. Bump :data:`SUMMARY_VERSION` on any
incompatible change; readers refuse newer versions with a clear message.

Scalars are written separately, through the loggers, as ``topoact/<layer>/<metric>``.

This module imports only numpy and TensorBoard's protobufs, so that TensorBoard starts fast with the plugin.
"""

from __future__ import annotations

import json
import re
import urllib.parse
import zlib
from dataclasses import dataclass

import numpy as np

PLUGIN_NAME = "topoact"
SUMMARY_VERSION = 2
GRAPH_TAG_PREFIX = "topoact_graph/"
THUMBNAILS_TAG = "topoact_thumbnails"
SCALAR_TAG_PREFIX = "topoact/"

KIND_GRAPH = "graph"
KIND_THUMBNAILS = "thumbnails"
KIND_ACTIVATIONS = "activations"
ACTIVATIONS_TAG_PREFIX = "topoact_activations/"
ACTIVATIONS_ENCODING = "f16-rowscaled"


class SummaryFormatError(ValueError):
    """Plugin metadata or a payload that this version cannot read."""


#: What :func:`graph_tag` percent-encodes: the characters JSON escapes, which TensorBoard's Rust data server puts
#: in its blob keys and then cannot read back (a 400 "BadJson"), and ``%`` itself so that decoding is exact.
_TAG_ESCAPED = re.compile(r'[%"\\\x00-\x1f]')


def graph_tag(layer: str) -> str:
    r"""The tag of ``layer``'s graphs. Readers take the layer's name from the tag's metadata (written since version
    1), so the tag may differ from it; tags written before these characters were encoded still read.

    Example:
        >>> graph_tag("encoder.0"), graph_tag('say "hi"\t')
        ('topoact_graph/encoder.0', 'topoact_graph/say %22hi%22%09')
        >>> layer_of_tag(graph_tag('100% "odd"\\name\n'))
        '100% "odd"\\name\n'
    """
    return GRAPH_TAG_PREFIX + _encoded(layer)


def _encoded(layer: str) -> str:
    return _TAG_ESCAPED.sub(lambda m: f"%{ord(m.group()):02X}", layer)


def activations_tag(layer: str) -> str:
    """The tag of ``layer``'s stored activations (encoded like :func:`graph_tag`).

    Example:
        >>> activations_tag('say "hi"')
        'topoact_activations/say %22hi%22'
    """
    return ACTIVATIONS_TAG_PREFIX + _encoded(layer)


def layer_of_tag(tag: str) -> str:
    """The layer name :func:`graph_tag` or :func:`activations_tag` encoded in ``tag`` (for a tag whose metadata
    names no layer)."""
    prefix = ACTIVATIONS_TAG_PREFIX if tag.startswith(ACTIVATIONS_TAG_PREFIX) else GRAPH_TAG_PREFIX
    return urllib.parse.unquote(tag[len(prefix) :])


def scalar_tag(layer: str, metric: str) -> str:
    return f"{SCALAR_TAG_PREFIX}{layer}/{metric}"


@dataclass(frozen=True)
class TagInfo:
    """What a tag's plugin metadata says: its kind and, for graphs, the layer."""

    version: int
    kind: str
    layer: str | None = None
    #: The layer's index among the watched layers (input side first); None in version-1 logs.
    position: int | None = None

    def layer_of(self, tag: str) -> str | None:
        """The layer of ``tag``'s values: the metadata's, or (metadata that names none) the one the tag encodes;
        None for thumbnails.

        Example:
            >>> TagInfo(1, KIND_GRAPH).layer_of("topoact_graph/fc%221"), TagInfo(2, KIND_GRAPH, "fc").layer_of("x")
            ('fc"1', 'fc')
        """
        if self.layer is not None:
            return self.layer
        return None if self.kind == KIND_THUMBNAILS else layer_of_tag(tag)


def encode_metadata(kind: str, layer: str | None = None, position: int | None = None) -> bytes:
    content: dict[str, object] = {"version": SUMMARY_VERSION, "kind": kind}
    if layer is not None:
        content["layer"] = layer
    if position is not None:
        content["position"] = int(position)
    return json.dumps(content).encode()


def decode_metadata(content: bytes) -> TagInfo:
    try:
        obj = json.loads(content.decode() if content else "{}")
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise SummaryFormatError(f"unreadable topoact plugin metadata: {e}") from e
    version = obj.get("version") if isinstance(obj, dict) else None
    if not isinstance(version, int):
        raise SummaryFormatError("topoact plugin metadata has no version")
    if version > SUMMARY_VERSION:
        raise SummaryFormatError(
            f"summary version {version} is newer than this plugin reads ({SUMMARY_VERSION}); "
            "upgrade topoact-lightning"
        )
    kind = obj.get("kind")
    if kind not in (KIND_GRAPH, KIND_THUMBNAILS, KIND_ACTIVATIONS):
        raise SummaryFormatError(f"unknown topoact summary kind {kind!r}")
    layer = obj.get("layer")
    position = obj.get("position")
    if not isinstance(position, int) or isinstance(position, bool) or position < 0:
        position = None
    return TagInfo(
        version=version, kind=kind, layer=str(layer) if layer is not None else None, position=position
    )


def blob_summary(tag: str, blobs: list[bytes], metadata_content: bytes):
    """A ``Summary`` proto holding ``blobs`` as a rank-1 string tensor (one blob sequence step)."""
    from tensorboard.compat.proto import summary_pb2, tensor_pb2, tensor_shape_pb2, types_pb2

    tensor = tensor_pb2.TensorProto(
        dtype=types_pb2.DT_STRING,
        string_val=list(blobs),
        tensor_shape=tensor_shape_pb2.TensorShapeProto(
            dim=[tensor_shape_pb2.TensorShapeProto.Dim(size=len(blobs))]
        ),
    )
    metadata = summary_pb2.SummaryMetadata(
        plugin_data=summary_pb2.SummaryMetadata.PluginData(plugin_name=PLUGIN_NAME, content=metadata_content),
        data_class=summary_pb2.DATA_CLASS_BLOB_SEQUENCE,
    )
    return summary_pb2.Summary(value=[summary_pb2.Summary.Value(tag=tag, metadata=metadata, tensor=tensor)])


def graph_summary(
    layer: str,
    graph_bytes: bytes,
    annotations: dict | None = None,
    position: int | None = None,
):
    """The summary for one Mapper graph of ``layer`` (the step is given when it is written).

    ``annotations`` (JSON-ready; NaN becomes null) go in a second blob, see the module docstring.
    """
    blobs = [graph_bytes, encode_annotations(annotations or {})]
    return blob_summary(graph_tag(layer), blobs, encode_metadata(KIND_GRAPH, layer, position))


def encode_annotations(annotations: dict) -> bytes:
    """Strict JSON of a graph step's annotations (NaN and infinities become null)."""
    return json.dumps(_finite_or_none(annotations), allow_nan=False, separators=(",", ":")).encode()


def decode_annotations(blob: bytes) -> dict:
    """The annotations of a graph step; raises :class:`SummaryFormatError` unless ``blob`` is a JSON object.

    Example:
        >>> decode_annotations(encode_annotations({"problem": None, "diagnostics": {"dead_units": float("nan")}}))
        {'problem': None, 'diagnostics': {'dead_units': None}}
    """
    try:
        obj = json.loads(blob.decode())
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise SummaryFormatError(f"unreadable graph annotations: {e}") from e
    if not isinstance(obj, dict):
        raise SummaryFormatError("graph annotations must be a JSON object")
    return obj


def _finite_or_none(obj):
    if isinstance(obj, dict):
        return {str(k): _finite_or_none(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_finite_or_none(v) for v in obj]
    if isinstance(obj, (float, np.floating)):
        return float(obj) if np.isfinite(obj) else None
    if isinstance(obj, np.integer):
        return int(obj)
    return obj


def encode_thumbnails(images: np.ndarray) -> list[bytes]:
    """Blobs for a ``uint8`` array of shape ``(n, height, width, channels)`` (channels 1 or 3)."""
    images = np.ascontiguousarray(images)
    if images.dtype != np.uint8 or images.ndim != 4 or images.shape[-1] not in (1, 3):
        raise ValueError("thumbnails must be uint8 of shape (n, height, width, 1 or 3)")
    n, h, w, c = images.shape
    header = json.dumps({"n": n, "height": h, "width": w, "channels": c}).encode()
    return [header, zlib.compress(images.tobytes(), 6)]


def decode_thumbnails(blobs: list[bytes]) -> np.ndarray:
    try:
        header = json.loads(blobs[0].decode())
        n, h, w, c = (int(header[k]) for k in ("n", "height", "width", "channels"))
        if min(n, h, w, c) < 0:  # reshape would infer a -1 from the data's size
            raise ValueError(f"negative size in the header {header}")
        raw = zlib.decompress(blobs[1])
        return np.frombuffer(raw, dtype=np.uint8).reshape(n, h, w, c)
    except Exception as e:  # any corruption: bad JSON, zlib error, wrong size
        raise SummaryFormatError(f"unreadable thumbnails payload: {e}") from e


def thumbnails_summary(images: np.ndarray):
    return blob_summary(THUMBNAILS_TAG, encode_thumbnails(images), encode_metadata(KIND_THUMBNAILS))


def encode_activations(x: np.ndarray) -> list[bytes]:
    """Blobs of a finite ``(n, d)`` activation matrix (see the module docstring for the format and its precision).

    Example:
        >>> x = np.array([[1.0, -2.0, 1e6], [0.0, 0.0, 0.0]], dtype=np.float32)
        >>> y = decode_activations(encode_activations(x))
        >>> y.shape, y.dtype, bool(np.all(np.abs(y - x) <= 2**-11 * np.abs(x).max(axis=1, keepdims=True)))
        ((2, 3), dtype('float32'), True)
    """
    x = np.asarray(x, dtype=np.float32)
    if x.ndim != 2:
        raise ValueError(f"activations must be a 2-D matrix, got shape {x.shape}")
    if not np.isfinite(x).all():
        raise ValueError("activations must be finite")
    n, d = x.shape
    scales = np.abs(x).max(axis=1) if d else np.zeros(n, dtype=np.float32)
    scales = scales.astype("<f4")
    safe = np.where(scales > 0, scales, 1.0).astype(np.float32)
    rows = (x / safe[:, None]).astype("<f2")
    header = json.dumps({"n": n, "d": d, "encoding": ACTIVATIONS_ENCODING}).encode()
    return [header, zlib.compress(scales.tobytes(), 1), zlib.compress(rows.tobytes(), 1)]


def decode_activations(blobs: list[bytes]) -> np.ndarray:
    """The ``float32`` matrix of :func:`encode_activations` blobs; :class:`SummaryFormatError` if unreadable."""
    try:
        header = json.loads(blobs[0].decode())
        if header.get("encoding") != ACTIVATIONS_ENCODING:
            raise ValueError(f"unknown encoding {header.get('encoding')!r}")
        n, d = int(header["n"]), int(header["d"])
        if min(n, d) < 0:
            raise ValueError(f"negative size in the header {header}")
        scales = np.frombuffer(zlib.decompress(blobs[1]), dtype="<f4").reshape(n)
        rows = np.frombuffer(zlib.decompress(blobs[2]), dtype="<f2").reshape(n, d)
        return (rows.astype(np.float32) * scales[:, None]).astype(np.float32)
    except Exception as e:  # any corruption: bad JSON, zlib error, wrong size
        raise SummaryFormatError(f"unreadable activations payload: {e}") from e


def activations_summary(layer: str, blobs: list[bytes], position: int | None = None):
    """The summary of ``layer``'s stored activations at one step (blobs from :func:`encode_activations`)."""
    return blob_summary(activations_tag(layer), blobs, encode_metadata(KIND_ACTIVATIONS, layer, position))


def write_summary(writer, summary, step: int) -> None:
    """Write a ``Summary`` through a ``torch.utils.tensorboard.SummaryWriter`` at ``step``.

    ``SummaryWriter`` has no public method for a prebuilt summary; its own ``add_*`` methods go through the file
    writer exactly like this.
    """
    writer._get_file_writer().add_summary(summary, global_step=step)
