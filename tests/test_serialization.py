"""Graph payloads: malformed headers and arrays give GraphFormatError, and nothing else, ever.

Payloads reach the plugin from event files anyone can write. The hypothesis tests take real payloads, change one
header field or one array (type, dtype, shape, values), and require that decoding either gives a graph that is
whole (every statistic computes, and it encodes back to itself) or raises GraphFormatError.
"""

from __future__ import annotations

import io
import json

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from topoact_lightning import Mapper
from topoact_lightning.engine.graph import GraphFormatError, MapperGraph
from topoact_lightning.engine.serialization import FORMAT_VERSION


def _graph() -> MapperGraph:
    rng = np.random.default_rng(0)
    X = np.concatenate([rng.normal(0, 1, (80, 4)), rng.normal(5, 1, (80, 4))]).astype(np.float32)
    return (
        Mapper(n_intervals=6, overlap=0.4, min_samples=3, cover="balanced")
        .fit(X, labels=np.repeat([0, 1], 80), extras={"loss": rng.random(160)}, class_names=["a", "b"])
        .graph_
    )


GRAPH = _graph()


def _parts(g: MapperGraph = GRAPH) -> tuple[dict, dict]:
    with np.load(io.BytesIO(g.to_bytes())) as z:
        arrays = {k: z[k] for k in z.files}
    return json.loads(bytes(arrays.pop("header")).decode()), arrays


def _payload(header, arrays: dict) -> bytes:
    buf = io.BytesIO()
    np.savez_compressed(buf, header=np.frombuffer(json.dumps(header).encode(), dtype=np.uint8), **arrays)
    return buf.getvalue()


def _whole_or_refused(data: bytes) -> None:
    """Decoding gives a whole graph or GraphFormatError: any other exception fails the test."""
    try:
        g = MapperGraph.from_bytes(data)
    except GraphFormatError:
        return
    g.metrics()
    g.node_stats()
    g.class_histograms()
    g.sample_nodes()
    g.to_kmapper()
    assert MapperGraph.from_bytes(g.to_bytes()) == g


def test_real_payload_round_trips():
    header, arrays = _parts()
    assert MapperGraph.from_bytes(_payload(header, arrays)) == GRAPH


@pytest.mark.parametrize(
    "change, message",
    [
        (lambda h, a: [1, 2], "header is a JSON list"),
        (lambda h, a: 7, "header is a JSON int"),
        (lambda h, a: {**h, "n_samples": None}, "n_samples is None"),
        (lambda h, a: {**h, "n_samples": -1}, "n_samples is -1"),
        (lambda h, a: {**h, "extras": 7}, "extras must be a list"),
        (lambda h, a: {**h, "extras": ["loss", "loss"]}, "distinct names"),
        (lambda h, a: {**h, "extras": ["gone"]}, "no 'extra:gone' array"),
        (lambda h, a: {**h, "class_names": "ab"}, "class_names must be"),
        (lambda h, a: {**h, "class_names": ["a"]}, "no class name"),
        (lambda h, a: {**h, "params": [1]}, "params must be a JSON object"),
        (lambda h, a: {**h, "version": "1"}, "version '1' is not a version number"),
        (lambda h, a: {**h, "version": True}, "is not a version number"),
        (lambda h, a: {**h, "version": FORMAT_VERSION + 1}, "newer than this package reads"),
        (lambda h, a: {**h, "format": "other"}, "unknown payload format"),
    ],
)
def test_malformed_headers_are_format_errors(change, message):
    header, arrays = _parts()
    with pytest.raises(GraphFormatError, match=message):
        MapperGraph.from_bytes(_payload(change(header, arrays), arrays))


def _set(name, value):
    def change(arrays):
        arrays[name] = value(arrays[name])

    return change


@pytest.mark.parametrize(
    "change, message",
    [
        (_set("edges", lambda e: e + 1000), "edges holds values outside"),
        (_set("edges", lambda e: e[:, ::-1].copy()), "i < j"),
        (_set("edges", lambda e: e.astype(np.float32)), "'edges' is a float32 array"),
        (_set("edges", lambda e: e.ravel()), "'edges' is a int32 array of shape"),
        (_set("edge_intersection", lambda x: x[:-1]), "entries, expected"),
        (_set("edge_intersection", lambda x: x * 0), "edge_intersection holds values outside"),
        (_set("member_offsets", lambda o: o[::-1].copy()), "member_offsets must rise"),
        (_set("member_offsets", lambda o: np.concatenate([o[:2], o[1:]])), "member_offsets must rise"),
        (_set("members", lambda m: m + 10**6), "members holds values outside"),
        (_set("members", lambda m: m[::-1].copy()), "sorted and unique"),
        (_set("node_cover", lambda c: c + 10**6), "node_cover holds values outside"),
        (_set("cover_bounds", lambda b: b[..., :1].copy()), "cover_bounds has shape"),
        (_set("lens", lambda x: x[:-1]), "'lens' has 159 entries"),
        (_set("lens", lambda x: x.astype(np.int64)), "'lens' is a int64 array"),
        (_set("labels", lambda x: x - 5), "labels holds values outside"),
        (_set("labels", lambda x: np.array([str(v) for v in x])), "'labels' is a <U1 array"),
        (_set("extra:loss", lambda x: x.reshape(-1, 1)), "'extra:loss' is a float32 array of shape"),
        (lambda a: a.pop("node_cover"), "no 'node_cover' array"),
    ],
)
def test_malformed_arrays_are_format_errors(change, message):
    header, arrays = _parts()
    change(arrays)
    with pytest.raises(GraphFormatError, match=message):
        MapperGraph.from_bytes(_payload(header, arrays))


_JSON = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**70), 2**70) | st.floats() | st.text(max_size=5),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3),
    max_leaves=6,
)
_FIELDS = ["format", "version", "n_samples", "class_names", "extras", "params", "unknown"]


@given(field=st.sampled_from(_FIELDS), value=_JSON, drop=st.booleans())
@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_any_header_change_gives_a_whole_graph_or_a_format_error(field, value, drop):
    header, arrays = _parts()
    if drop:
        header.pop(field, None)
    else:
        header[field] = value
    _whole_or_refused(_payload(header, arrays))


_ARRAY_VALUES = st.one_of(
    st.integers(-(2**40), 2**40),
    st.sampled_from([0, 1, -1, 159, 160, 2**31 - 1, -(2**31)]),
    st.floats(allow_nan=True, allow_infinity=True),
)


@st.composite
def _array_change(draw):
    """A real payload with one array changed: a value, its dtype, its shape, or the array dropped or added."""
    header, arrays = _parts()
    name = draw(st.sampled_from(sorted(arrays) + ["labels-less", "new"]))
    if name == "labels-less":
        arrays.pop("labels")
        return header, arrays
    if name == "new":
        arrays[draw(st.sampled_from(["extra:x", "members2", "labels"]))] = np.zeros(draw(st.integers(0, 200)))
        return header, arrays
    a = arrays[name]
    how = draw(st.sampled_from(["value", "dtype", "shape", "empty", "drop"]))
    if how == "value" and a.size:
        a = (
            a.astype(np.float64)
            if isinstance(draw(_ARRAY_VALUES), float) and a.dtype.kind == "f"
            else a.copy()
        )
        v = draw(_ARRAY_VALUES)
        flat = a.reshape(-1)
        pos = draw(st.integers(0, flat.size - 1))
        try:
            with np.errstate(all="ignore"):  # a value beyond the dtype's range is the point here
                flat[pos] = v
        except (OverflowError, ValueError):
            a = flat.astype(np.float64).reshape(a.shape)
            a.reshape(-1)[pos] = v
    elif how == "dtype":
        a = a.astype(
            draw(st.sampled_from([np.int8, np.uint64, np.float16, np.float64, np.bool_, np.complex64]))
        )
    elif how == "shape":
        a = a.reshape(-1) if a.ndim > 1 else a.reshape(-1, 1)
    elif how == "empty":
        a = a[:0]
    elif how == "drop":
        arrays.pop(name)
        return header, arrays
    arrays[name] = a
    return header, arrays


@given(change=_array_change())
@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_any_array_change_gives_a_whole_graph_or_a_format_error(change):
    header, arrays = change
    _whole_or_refused(_payload(header, arrays))


@given(data=st.binary(max_size=200), cut=st.integers(0, len(GRAPH.to_bytes()) - 1))
@settings(max_examples=100, deadline=None)
def test_truncated_or_random_bytes_are_format_errors(data, cut):
    with pytest.raises(GraphFormatError):
        MapperGraph.from_bytes(data)
    with pytest.raises(GraphFormatError):
        MapperGraph.from_bytes(GRAPH.to_bytes()[:cut])


def test_graph_without_nodes_or_labels_round_trips():
    g = MapperGraph(
        n_samples=3, members=[], node_cover=[], cover_bounds=np.zeros((2, 1, 2)), lens=np.zeros(3)
    )
    assert MapperGraph.from_bytes(g.to_bytes()) == g


def test_large_class_ids_round_trip_beyond_int32():
    labels = np.array([0, 2**40, -1, 7])
    g = MapperGraph(
        n_samples=4,
        members=[np.arange(4)],
        node_cover=[0],
        cover_bounds=np.zeros((1, 1, 2)),
        lens=np.zeros(4),
        labels=labels,
    )
    back = MapperGraph.from_bytes(g.to_bytes())
    assert back == g and back.labels.tolist() == labels.tolist()
