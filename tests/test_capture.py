"""Reductions, the capture hooks, and probe building (no training)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from topoact_lightning.errors import TopoActConfigError
from topoact_lightning.monitor.capture import (
    ActivationCapture,
    BatchContext,
    CaptureError,
    default_layers,
    module_index,
    random_positions,
    reduce_output,
    resolve_reduction,
    select_output,
)
from topoact_lightning.monitor.probe import build_probe, split_batch, thumbnails


def ctx(indices, n_total=None, mask=None, layer="l", seed=0):
    indices = torch.as_tensor(indices)
    return BatchContext(indices, n_total or int(indices.max()) + 1, layer, seed, mask)


# ------------------------------------------------------------------------------------------ reductions
def test_random_position_picks_one_position_per_sample_fixed_by_index_not_batch():
    torch.manual_seed(0)
    x = torch.randn(10, 4, 5, 6)
    whole = reduce_output(x, "random_position", ctx(range(10)))
    halves = torch.cat(
        [
            reduce_output(x[:3], "random_position", ctx(range(3), 10)),
            reduce_output(x[3:], "random_position", ctx(range(3, 10), 10)),
        ]
    )
    assert torch.equal(whole, halves)
    pos = random_positions(0, "l", 10, 30)
    for i in range(10):
        assert torch.equal(whole[i], x[i].reshape(4, 30)[:, pos[i]])
    # Another layer or seed draws other positions; the same ones draw the same again.
    assert not torch.equal(random_positions(0, "m", 10, 30), pos)
    assert not torch.equal(random_positions(1, "l", 10, 30), pos)
    assert torch.equal(random_positions(0, "l", 10, 30), pos)


def test_mean_max_flatten():
    x = torch.arange(2 * 3 * 4, dtype=torch.float32).reshape(2, 3, 2, 2)
    assert torch.equal(reduce_output(x, "mean", ctx([0, 1])), x.reshape(2, 3, 4).mean(2))
    assert torch.equal(reduce_output(x, "max", ctx([0, 1])), x.reshape(2, 3, 4).amax(2))
    assert reduce_output(x, "flatten", ctx([0, 1])).shape == (2, 12)


def test_tokens_respect_the_padding_mask():
    x = torch.arange(2 * 4 * 3, dtype=torch.float32).reshape(2, 4, 3)
    mask = torch.tensor([[1, 1, 0, 0], [1, 1, 1, 1]], dtype=torch.bool)
    c = ctx([0, 1], mask=mask)
    assert torch.equal(reduce_output(x, "first_token", c), x[:, 0])
    assert torch.allclose(reduce_output(x, "mean_tokens", c)[0], x[0, :2].mean(0))
    assert torch.allclose(reduce_output(x, "mean_tokens", c)[1], x[1].mean(0))


@given(lengths=st.lists(st.integers(1, 9), min_size=1, max_size=12), seed=st.integers(0, 5))
@settings(max_examples=50, deadline=None)
def test_random_token_is_always_a_real_token_and_stable(lengths, seed):
    n, width = len(lengths), 9
    mask = torch.tensor([[j < k for j in range(width)] for k in lengths])
    x = torch.arange(n * width, dtype=torch.float32).reshape(n, width, 1)  # value = position id
    out = reduce_output(x, "random_token", ctx(range(n), mask=mask, seed=seed))[:, 0]
    pos = out - torch.arange(n) * width
    assert bool(((pos >= 0) & (pos < torch.tensor(lengths))).all())
    again = reduce_output(x, "random_token", ctx(range(n), mask=mask, seed=seed))[:, 0]
    assert torch.equal(out, again)


def test_auto_reduction_by_shape_and_module():
    assert resolve_reduction("auto", nn.Linear(2, 2), 2) == "flatten"
    assert resolve_reduction("auto", nn.Conv2d(1, 1, 1), 4) == "random_position"
    assert resolve_reduction("auto", nn.Conv1d(1, 1, 1), 3) == "random_position"
    assert resolve_reduction("auto", nn.TransformerEncoderLayer(8, 2), 3) == "random_token"


def test_callable_reduction_and_errors():
    x = torch.randn(3, 4, 5)
    assert reduce_output(x, lambda t: t[:, :, 0], ctx([0, 1, 2])).shape == (3, 4)
    with pytest.raises(CaptureError, match="must return a \\(batch, units\\)"):
        reduce_output(x, lambda t: t, ctx([0, 1, 2]))
    with pytest.raises(CaptureError, match="not batch-first"):
        reduce_output(x, "mean", ctx([0, 1]))
    with pytest.raises(CaptureError, match="use 'flatten'"):
        reduce_output(torch.randn(3, 4), "random_position", ctx([0, 1, 2]))
    with pytest.raises(CaptureError, match="token mask has shape"):
        reduce_output(x, "mean_tokens", ctx([0, 1, 2], mask=torch.ones(3, 7, dtype=torch.bool)))
    with pytest.raises(CaptureError, match="no real token"):
        reduce_output(x, "random_token", ctx([0, 1, 2], mask=torch.zeros(3, 4, dtype=torch.bool)))


def test_selectors():
    a, b = torch.ones(2, 3), torch.zeros(2, 3)
    assert select_output((a, b), None, "l") is a
    assert select_output((a, b), 1, "l") is b
    assert select_output({"last_hidden_state": a, "pooler": b}, None, "l") is a
    assert select_output({"x": a, "y": b}, "y", "l") is b
    assert select_output((a, b), lambda o: o[1], "l") is b
    with pytest.raises(CaptureError, match="select="):
        select_output((a, b), 5, "l")
    with pytest.raises(CaptureError, match="not a tensor"):
        select_output(((a,),), None, "l")


# ------------------------------------------------------------------------------------------ hooks
class _Shared(nn.Module):
    def __init__(self):
        super().__init__()
        self.block = nn.Linear(4, 4)
        self.head = nn.Linear(4, 2)
        self.unused = nn.Linear(4, 4)

    def forward(self, x):
        return self.head(self.block(self.block(x)))  # weight sharing: block runs twice


def test_capture_keeps_the_first_call_and_removes_its_hooks():
    m = _Shared()
    mods = {"block": m.block, "head": m.head, "unused": m.unused}
    cap = ActivationCapture(mods, {}, {}, seed=0)
    x = torch.randn(6, 4)
    with cap:
        for start in (0, 3):
            cap.begin_batch(BatchContext(torch.arange(start, start + 3), 6, "", 0))
            m(x[start : start + 3])
    assert all(not mod._forward_hooks for mod in m.modules())
    out = cap.collect()
    assert torch.allclose(out["block"], m.block(x))
    assert torch.allclose(out["head"], m(x))
    assert cap.silent_layers() == ["unused"]


def test_capture_reports_errors_and_removes_hooks_even_then():
    m = _Shared()
    cap = ActivationCapture({"head": m.head}, {"head": "random_position"}, {}, seed=0)
    with pytest.raises(RuntimeError, match="interrupted"), cap:  # noqa: PT012 (the hooks must outlive a failing forward)
        cap.begin_batch(BatchContext(torch.arange(3), 3, "", 0))
        m(torch.randn(3, 4))
        raise RuntimeError("interrupted")
    assert not m.head._forward_hooks
    with pytest.raises(CaptureError, match="use 'flatten'"):
        cap.collect()


def test_module_index_accepts_plain_names_for_compiled_submodules():
    m = nn.Module()
    m.net = torch.compile(nn.Sequential(nn.Linear(2, 3), nn.ReLU(), nn.Linear(3, 2)))
    index = module_index(m)
    assert index["net.0"][0] == "net._orig_mod.0"
    assert index["net._orig_mod.0"][1] is index["net.0"][1]
    assert default_layers(m) == ["net.0"]


# ------------------------------------------------------------------------------------------ probes
def test_probe_from_pair_tensor_dataset_and_loader_agree():
    x, y = torch.randn(50, 3), torch.randint(0, 4, (50,))
    a = build_probe((x, y), batch_size=16)
    b = build_probe(TensorDataset(x, y), batch_size=16)
    c = build_probe(DataLoader(TensorDataset(x, y), batch_size=7), batch_size=16)
    for p in (a, b, c):
        assert p.n == 50 and p.sizes == [16, 16, 16, 2] and p.starts == [0, 16, 32, 48]
        assert torch.equal(torch.cat(p.batches), x) and p.labels.tolist() == y.tolist()
    d = build_probe(x, batch_size=64)
    assert d.labels is None and d.sizes == [50]


def test_probe_label_errors_name_the_fix():
    x = torch.randn(10, 3)
    with pytest.raises(TopoActConfigError, match="labels have shape \\(9,\\) but the inputs hold 10"):
        build_probe((x, torch.zeros(9, dtype=torch.long)))
    with pytest.raises(TopoActConfigError, match="integer class ids or strings"):
        build_probe((x, torch.rand(10)))
    with pytest.raises(TopoActConfigError, match="class_names"):
        build_probe((x, torch.arange(10)), class_names=["a", "b"])
    with pytest.raises(TopoActConfigError, match="probe must be"):
        build_probe("digits")


def test_split_batch_rules():
    t = torch.zeros(2)
    assert split_batch(t) == (t, None)
    x, y = split_batch({"input_ids": t, "attention_mask": t, "labels": t})
    assert set(x) == {"input_ids", "attention_mask"} and y is t


def test_thumbnails_scale_and_shrink():
    x = torch.linspace(-1, 1, 4 * 3 * 64 * 64).reshape(4, 3, 64, 64)
    img = thumbnails(build_probe(x, batch_size=3), max_size=32)
    assert img.shape == (4, 32, 32, 3) and img.dtype == np.uint8
    assert img.min() <= 1 and img.max() >= 254
    assert thumbnails(build_probe(torch.randn(4, 5, 8, 8))) is None  # not 1 or 3 channels
    assert thumbnails(build_probe(torch.randn(4, 10))) is None
