"""Probe labels may be any ids or strings: they become dense class indices with names, and bad ones fail clearly."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from topoact_lightning import TopoActConfigError
from topoact_lightning.monitor.building import GraphJob, build_graph
from topoact_lightning.monitor.probe import DENSE_LIMIT, build_probe, encode_labels


def _probe(labels, **kwargs):
    x = torch.randn(len(labels), 4, generator=torch.Generator().manual_seed(0))
    return build_probe((x, labels), batch_size=4, **kwargs)


@pytest.mark.parametrize(
    ("labels", "ids"),
    [
        (torch.tensor([10**7, 3, 10**7, 3, 5]), ["3", "5", "10000000"]),
        (torch.tensor([10**9, -1, 10**9, 2, 2]), ["2", "1000000000"]),
        (np.array([2**64 - 1, 0, 2**64 - 1, 7, 0], dtype=np.uint64), ["0", "7", str(2**64 - 1)]),
    ],
    ids=["1e7", "1e9-and-unknown", "uint64-max"],
)
def test_large_or_sparse_ids_become_dense_indices_named_by_the_ids(labels, ids):
    p = _probe(labels)
    assert p.class_names == ids
    original = np.asarray(labels).tolist()
    for code, label in zip(p.labels.tolist(), original, strict=True):
        # Each sample keeps its class (-1 stays unknown), now as an index into the names.
        assert (code == -1 and label == -1) or ids[code] == str(label)


def test_uint64_max_is_a_class_not_unknown():
    p = _probe(np.array([2**64 - 1] * 3 + [1, 1], dtype=np.uint64))
    assert -1 not in p.labels.tolist() and p.targets is None  # beyond any model's class index


def test_small_ids_stay_class_indices_without_names():
    p = _probe(torch.tensor([0, 9, 3, -1]))
    assert p.labels.tolist() == [0, 9, 3, -1] and p.class_names is None
    assert p.targets is p.labels


def test_string_labels_become_class_names():
    p = _probe(["dog", "cat", "dog", "bird"])
    assert p.class_names == ["bird", "cat", "dog"] and p.labels.tolist() == [2, 1, 2, 0]
    assert p.targets is None  # the model's index of "dog" is unknown: no correct/loss
    named = _probe(["dog", "cat"], class_names=["cat", "dog"])
    assert named.labels.tolist() == [1, 0] and named.targets.tolist() == [1, 0]


@pytest.mark.parametrize(
    ("labels", "kwargs", "match"),
    [
        (
            torch.tensor([0, -2, 1]),
            {},
            r"a probe label is -2; class ids must be >= 0, with -1 for an unknown",
        ),
        (
            torch.tensor([0, 1, 5]),
            {"class_names": ["a", "b"]},
            r"label is 5 but only 2 class_names.*leave class_names out",
        ),
        (["cat", "eel"], {"class_names": ["cat", "dog"]}, r"\['eel'\] are not among class_names"),
        (torch.tensor([0.5, 1.0]), {}, r"integer class ids or strings"),
    ],
)
def test_bad_labels_are_config_errors_naming_the_fix(labels, kwargs, match):
    with pytest.raises(TopoActConfigError, match=match):
        _probe(labels, **kwargs)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.integers(min_value=-1, max_value=2**62), min_size=1, max_size=40))
def test_encoding_is_a_dense_bijection_of_the_classes_present(labels):
    raw = np.array(labels, dtype=np.int64)
    codes, names = encode_labels(raw, None, "probe")
    known = raw != -1
    assert np.array_equal(codes == -1, ~known)
    present = np.unique(raw[known])
    if names is None:  # small ids: kept as they are
        assert raw[known].max(initial=0) < DENSE_LIMIT and np.array_equal(codes, raw)
    else:
        assert names == [str(i) for i in present]  # one name per class present, none more
        assert np.array_equal(np.array([int(names[c]) for c in codes[known]]), raw[known])


def test_a_graph_of_a_probe_labelled_1e7_is_sized_by_the_classes_present():
    """The engine sizes class histograms by len(class_names): 3 classes, not 10**7 + 1."""
    labels = torch.tensor([10**7, 4, 9] * 100)
    p = _probe(labels)
    rng = np.random.default_rng(0)
    x = (rng.normal(size=(3, 5))[np.arange(300) % 3] * 5 + rng.normal(size=(300, 5))).astype(np.float32)
    job = GraphJob(0, "fc1", x, p.labels, p.class_names, {}, {"n_intervals": 6})
    r = build_graph(job)
    assert r.error is None
    from topoact_lightning import MapperGraph

    g = MapperGraph.from_bytes(r.graph_bytes)
    assert g.class_names == ["4", "9", "10000000"] and int(g.labels.max()) == 2
    assert 0 < r.scalars["purity"] <= 1
