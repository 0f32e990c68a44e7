"""The lossless, versioned byte encoding of a Mapper graph, and a decoder that trusts nothing it reads.

A payload is a compressed ``.npz``: a JSON header (``format``, ``version``, ``n_samples``, ``class_names``,
``extras``, ``params``) stored as a ``uint8`` array, beside the graph's arrays. Payloads reach the TensorBoard
plugin from event files anyone can write, so :func:`decode` checks every header field's type and every array's
dtype, shape and index range, and raises :class:`GraphFormatError` (never another exception) for anything
malformed. :meth:`MapperGraph.to_bytes <topoact_lightning.engine.graph.MapperGraph.to_bytes>` and
:meth:`~topoact_lightning.engine.graph.MapperGraph.from_bytes` are the public API.

Example:
    >>> import numpy as np
    >>> fields = dict(n_samples=2, members=[np.array([0, 1])], node_cover=np.array([0]),
    ...               cover_bounds=np.zeros((1, 1, 2)), lens=np.zeros(2, dtype=np.float32), labels=None,
    ...               class_names=None, extras={}, params={}, edges=np.zeros((0, 2), dtype=np.int64),
    ...               edge_intersection=np.zeros(0, dtype=np.int64))
    >>> decode(encode(**fields))["members"][0].tolist()
    [0, 1]
    >>> decode(encode(**fields)[:100])
    Traceback (most recent call last):
    ...
    topoact_lightning.engine.serialization.GraphFormatError: not a serialized Mapper graph: ...
"""

from __future__ import annotations

import io
import json
import numbers
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

#: Identifies the serialized payload; bump :data:`FORMAT_VERSION` on any incompatible change.
FORMAT_NAME = "topoact-mapper-graph"
FORMAT_VERSION = 1

_INT32 = np.iinfo(np.int32)


class GraphFormatError(ValueError):
    """A serialized graph is corrupt, of another format, or of a newer version than this package reads."""


def encode(
    *,
    n_samples: int,
    members: Sequence[np.ndarray],
    node_cover: np.ndarray,
    cover_bounds: np.ndarray,
    lens: np.ndarray,
    labels: np.ndarray | None,
    class_names: Sequence[str] | None,
    extras: Mapping[str, np.ndarray],
    params: Mapping[str, Any],
    edges: np.ndarray,
    edge_intersection: np.ndarray,
) -> bytes:
    """The payload of a graph's fields (as :class:`~topoact_lightning.engine.graph.MapperGraph` holds them)."""
    sizes = np.fromiter((len(m) for m in members), dtype=np.int64, count=len(members))
    arrays: dict[str, np.ndarray] = {
        "member_offsets": np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64),
        "members": (np.concatenate(members) if len(members) else np.zeros(0)).astype(np.int32),
        "node_cover": np.asarray(node_cover).astype(np.int32),
        "cover_bounds": np.asarray(cover_bounds),
        "edges": np.asarray(edges).astype(np.int32),
        "edge_intersection": np.asarray(edge_intersection).astype(np.int32),
        "lens": np.asarray(lens),
    }
    if labels is not None:
        # int32 unless an id does not fit: sparse or large class ids are allowed.
        fits = not len(labels) or (labels.min() >= _INT32.min and labels.max() <= _INT32.max)
        arrays["labels"] = labels.astype(np.int32 if fits else np.int64)
    for k, v in extras.items():
        arrays[f"extra:{k}"] = v
    header = {
        "format": FORMAT_NAME,
        "version": FORMAT_VERSION,
        "n_samples": int(n_samples),
        "class_names": None if class_names is None else list(class_names),
        "extras": list(extras),
        "params": dict(params),
    }
    arrays["header"] = np.frombuffer(json.dumps(header).encode(), dtype=np.uint8)
    buf = io.BytesIO()
    np.savez_compressed(buf, **arrays)
    return buf.getvalue()


def decode(data: bytes) -> dict[str, Any]:
    """The fields of a payload, checked: keyword arguments for ``MapperGraph``. Raises :class:`GraphFormatError`."""
    try:
        with np.load(io.BytesIO(data), allow_pickle=False) as z:
            arrays = {k: z[k] for k in z.files}
        raw = arrays.pop("header")
        if raw.dtype != np.uint8 or raw.ndim != 1:
            raise ValueError(f"the header is a {raw.dtype} array of shape {raw.shape}, not JSON bytes")
        header = json.loads(raw.tobytes().decode())
    except Exception as e:  # zipfile, zlib, json and numpy raise many kinds for corrupt input
        raise GraphFormatError(f"not a serialized Mapper graph: {e}") from e
    h = _check_header(header)
    n = h["n_samples"]
    offsets, flat = _members(arrays, n)
    n_nodes = len(offsets) - 1
    bounds = _array(arrays, "cover_bounds", "f8", 3)
    if bounds.shape[2] != 2:
        raise GraphFormatError(f"corrupt Mapper graph payload: cover_bounds has shape {bounds.shape}")
    node_cover = _array(arrays, "node_cover", "iu", 1, length=n_nodes)
    _in_range(node_cover, 0, len(bounds), "node_cover")
    edges, inter = _edges(arrays, n_nodes, n)
    lens = _array(arrays, "lens", "f4", None, length=n)
    if lens.ndim not in (1, 2) or (1 if lens.ndim == 1 else lens.shape[1]) != bounds.shape[1]:
        raise GraphFormatError(f"corrupt Mapper graph payload: lens has shape {lens.shape}")
    labels = None
    if "labels" in arrays:
        labels = _array(arrays, "labels", "iu", 1, length=n).astype(np.int64)
        _in_range(labels, -1, np.iinfo(np.int64).max, "labels")
        if h["class_names"] is not None and len(labels) and labels.max() >= len(h["class_names"]):
            raise GraphFormatError("corrupt Mapper graph payload: a label has no class name")
    extras = {k: _array(arrays, f"extra:{k}", "f4", 1, length=n) for k in h["extras"]}
    return {
        "n_samples": n,
        "members": np.split(flat, offsets[1:-1]) if n_nodes else [],
        "node_cover": node_cover,
        "cover_bounds": bounds,
        "lens": lens,
        "labels": labels,
        "class_names": h["class_names"],
        "extras": extras,
        "params": h["params"],
        "edges": edges,
        "edge_intersection": inter,
    }


def _members(arrays: Mapping[str, np.ndarray], n: int) -> tuple[np.ndarray, np.ndarray]:
    """``(offsets, flat)`` int64: node ``k``'s members are ``flat[offsets[k]:offsets[k + 1]]``, checked."""
    offsets = _array(arrays, "member_offsets", "iu", 1)
    flat = _array(arrays, "members", "iu", 1)
    if len(offsets) < 1 or offsets[0] != 0 or offsets[-1] != len(flat) or np.any(np.diff(offsets) < 1):
        raise GraphFormatError(
            "corrupt Mapper graph payload: member_offsets must rise from 0 to the number of memberships, "
            "by at least 1 per node"
        )
    _in_range(flat, 0, n, "members")
    offsets, flat = offsets.astype(np.int64), flat.astype(np.int64)
    # Within a node members are stored sorted and unique; anything else was not written by encode().
    if len(flat) > 1:
        starts = np.zeros(len(flat) - 1, dtype=bool)
        starts[offsets[1:-1] - 1] = True  # the step into a node's first member may go down
        if np.any((np.diff(flat) <= 0) & ~starts):
            raise GraphFormatError("corrupt Mapper graph payload: a node's members are not sorted and unique")
    return offsets, flat


def _edges(arrays: Mapping[str, np.ndarray], n_nodes: int, n: int) -> tuple[np.ndarray, np.ndarray]:
    """``(edges, edge_intersection)``, checked: pairs ``i < j`` of nodes, each sharing 1 to ``n`` samples."""
    edges = _array(arrays, "edges", "iu", 2)
    if edges.shape[1] != 2:
        raise GraphFormatError(f"corrupt Mapper graph payload: edges has shape {edges.shape}")
    _in_range(edges, 0, n_nodes, "edges")
    if np.any(edges[:, 0] >= edges[:, 1]):
        raise GraphFormatError("corrupt Mapper graph payload: an edge is not (i, j) with i < j")
    inter = _array(arrays, "edge_intersection", "iu", 1, length=len(edges))
    _in_range(inter, 1, max(n, 1) + 1, "edge_intersection")
    return edges, inter


def _check_header(header: Any) -> dict[str, Any]:
    if not isinstance(header, dict):
        raise GraphFormatError(f"not a serialized Mapper graph: the header is a JSON {type(header).__name__}")
    if header.get("format") != FORMAT_NAME:
        raise GraphFormatError(f"unknown payload format {_short(header.get('format'))}")
    version = header.get("version")
    if not _is_int(version) or version < 1:
        raise GraphFormatError(
            f"graph format version {_short(version)} is not a version number (an integer >= 1)"
        )
    if version > FORMAT_VERSION:
        raise GraphFormatError(
            f"graph format version {version} is newer than this package reads ({FORMAT_VERSION}); "
            "upgrade topoact-lightning"
        )
    n = header.get("n_samples")
    if not _is_int(n) or n < 0:
        raise GraphFormatError(f"corrupt Mapper graph payload: n_samples is {_short(n)}, not a count")
    names = header.get("class_names")
    if names is not None and (not isinstance(names, list) or not all(isinstance(c, str) for c in names)):
        raise GraphFormatError("corrupt Mapper graph payload: class_names must be null or a list of strings")
    extras = header.get("extras", [])
    if (
        not isinstance(extras, list)
        or not all(isinstance(k, str) for k in extras)
        or len(set(extras)) < len(extras)
    ):
        raise GraphFormatError("corrupt Mapper graph payload: extras must be a list of distinct names")
    params = header.get("params")
    if params is None:
        params = {}
    if not isinstance(params, dict):
        raise GraphFormatError("corrupt Mapper graph payload: params must be a JSON object")
    return {"n_samples": int(n), "class_names": names, "extras": extras, "params": params}


def _array(
    arrays: Mapping[str, np.ndarray], name: str, kinds: str, ndim: int | None, *, length=None
) -> np.ndarray:
    """``arrays[name]``, checked for its dtype (``"iu"``: any integers; ``"f4"``, ``"f8"``: that float type, as
    encode() writes it), dimensions and length."""
    if name not in arrays:
        raise GraphFormatError(f"corrupt Mapper graph payload: no {name!r} array")
    a = arrays[name]
    dtype_ok = a.dtype.kind in kinds if kinds == "iu" else a.dtype == np.dtype(kinds)
    if not dtype_ok or (ndim is not None and a.ndim != ndim) or a.ndim == 0:
        raise GraphFormatError(
            f"corrupt Mapper graph payload: {name!r} is a {a.dtype} array of shape {a.shape}"
        )
    if length is not None and len(a) != length:
        raise GraphFormatError(
            f"corrupt Mapper graph payload: {name!r} has {len(a)} entries, expected {length}"
        )
    if a.dtype.kind == "u" and a.size and a.max() > np.iinfo(np.int64).max:
        raise GraphFormatError(f"corrupt Mapper graph payload: {name!r} holds values beyond int64")
    return a


def _in_range(a: np.ndarray, low: int, high: int, name: str) -> None:
    """Every value of ``a`` in ``[low, high)``."""
    if a.size and (a.min() < low or a.max() >= high):
        raise GraphFormatError(
            f"corrupt Mapper graph payload: {name} holds values outside [{low}, {high}): "
            f"{int(a.min())} to {int(a.max())}"
        )


def _is_int(v: Any) -> bool:
    return isinstance(v, numbers.Integral) and not isinstance(v, bool)


def _short(v: Any) -> str:
    text = repr(v)
    return text if len(text) <= 60 else text[:57] + "..."
