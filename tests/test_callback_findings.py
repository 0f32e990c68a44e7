"""Findings in real fits: each fault kind injected into one layer of a small model is found in that layer only,
with one warning; findings reach the annotations blob and the Text tab, and survive a resume without repeats."""

from __future__ import annotations

import warnings

import lightning.pytorch as L
import pytest
import torch
from _training import read_run, tb_logger
from lightning.pytorch.callbacks import ModelCheckpoint
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from topoact_lightning import TopoActMonitor
from topoact_lightning.monitor.findings import FindingThresholds

LAYERS = ["act1", "act2"]


class Small(L.LightningModule):
    """``Linear(8, 32) -> ReLU -> Linear(32, 32) -> act2 -> Linear(32, 3)``; the fault goes into ``fc2``/``act2``
    (as in tests/test_findings.py, where the detectors see the same models without a Trainer)."""

    def __init__(self, fault: str | None = None, lr: float = 0.1):
        super().__init__()
        torch.manual_seed(0)
        self.lr = lr
        self.fc1, self.act1 = nn.Linear(8, 32), nn.ReLU()
        self.fc2, self.act2 = nn.Linear(32, 32), nn.ReLU()
        self.out = nn.Linear(32, 3)
        with torch.no_grad():
            if fault == "dead":
                self.fc2.bias.fill_(-10.0)
            elif fault == "constant":  # the case issue 15 names: zero weights, bias 1, ReLU
                self.fc2.weight.zero_()
                self.fc2.bias.fill_(1.0)
            elif fault == "collapsed":
                self.fc2.weight.copy_(torch.randn(32, 1) @ torch.randn(1, 32))  # rank 1
                self.fc2.bias.zero_()
                self.act2 = nn.Identity()
            elif fault == "saturated":
                self.fc2.weight.mul_(100.0)
                self.act2 = nn.Tanh()
            elif fault == "not_learning":
                self.fc1.requires_grad_(False)  # a frozen first layer: the rest still learns

    def forward(self, x):
        return self.out(self.act2(self.fc2(self.act1(self.fc1(x)))))

    def training_step(self, batch, batch_idx):
        x, y = batch
        loss = nn.functional.cross_entropy(self(x), y)
        self.log("train_loss", loss)
        return loss

    def configure_optimizers(self):
        return torch.optim.SGD([p for p in self.parameters() if p.requires_grad], lr=self.lr)


class Grow(L.Callback):
    """The ``exploding`` fault: ``fc2``'s weights grow 12x at each epoch end, before the monitor's probe pass."""

    def on_train_epoch_end(self, trainer, pl_module):
        with torch.no_grad():
            pl_module.fc2.weight.mul_(12.0)
            pl_module.fc2.bias.mul_(12.0)


def data():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(256, 8, generator=g)
    y = (x[:, 0] > 0).long() + (x[:, 1] > 0).long()
    return x, y


def fit(tmp_path, model, epochs, callbacks=(), monitor=None, ckpt_path=None, run="run", **trainer_kwargs):
    x, y = data()
    monitor = monitor or TopoActMonitor(layers=LAYERS, probe=(x[:200], y[:200]), thumbnails=False)
    trainer = L.Trainer(
        max_epochs=epochs,
        accelerator="cpu",
        devices=1,
        logger=tb_logger(tmp_path, run),
        callbacks=[*callbacks, monitor],
        enable_checkpointing=any(isinstance(c, ModelCheckpoint) for c in callbacks),
        enable_progress_bar=False,
        enable_model_summary=False,
        num_sanity_val_steps=0,
        **trainer_kwargs,
    )
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        trainer.fit(model, DataLoader(TensorDataset(x, y), batch_size=32, shuffle=False), ckpt_path=ckpt_path)
    alerts = [str(w.message) for w in caught if str(w.message).startswith("TopoActMonitor: layer")]
    return monitor, alerts


@pytest.mark.slow
@pytest.mark.parametrize(
    ("fault", "epochs", "layer", "lr", "extra"),
    [
        ("dead", 1, "act2", 0.1, ()),
        ("constant", 1, "act2", 0.1, ()),
        ("collapsed", 1, "act2", 0.1, ()),
        ("saturated", 1, "act2", 0.1, ()),
        ("not_learning", 2, "act1", 0.5, ()),
        ("exploding", 3, "act2", 0.1, (Grow(),)),
    ],
)
def test_each_fault_kind_is_found_in_its_layer_only(tmp_path, fault, epochs, layer, lr, extra):
    model = Small(fault if fault != "exploding" else None, lr=lr)
    # Clipped gradients: the growing fc2 would otherwise blow up fc1's updates too (then act1 explodes as well).
    clip = {"gradient_clip_val": 0.1} if fault == "exploding" else {}
    monitor, alerts = fit(tmp_path, model, epochs, callbacks=extra, **clip)
    faults = [(f.layer, f.kind) for f in monitor.findings if f.is_fault]
    assert faults == [(layer, fault)], monitor.findings
    # One warning, naming the layer, the kind, the epoch and the usual fix.
    (finding,) = [f for f in monitor.findings if f.is_fault]
    assert len(alerts) == 1, alerts
    assert alerts[0].startswith(
        f"TopoActMonitor: layer {layer!r} is {fault.replace('_', ' ')} at epoch {finding.step}"
    )
    assert f"Usual fix: {finding.fix}" in alerts[0]
    # The annotations blob of that step carries the finding (and its message as the problem), once.
    notes = read_run(tmp_path / "run")["annotations"]
    at_step = [f for f in notes[layer][finding.step]["findings"] if f["fault"]]
    assert [(f["kind"], f["message"]) for f in at_step] == [(fault, finding.message)]
    assert notes[layer][finding.step]["problem"] == finding.message
    later = [f for s, n in notes[layer].items() if s != finding.step for f in n["findings"] if f["fault"]]
    assert later == []
    other = next(n for n in LAYERS if n != layer)
    assert all(n["problem"] is None for n in notes[other].values())


@pytest.mark.slow
def test_the_issue_case_zero_weights_bias_one_relu_is_constant_not_dead(tmp_path):
    monitor, alerts = fit(tmp_path, Small("constant"), 1)
    assert [f.kind for f in monitor.findings if f.is_fault] == ["constant"]
    assert "never fire" not in " ".join(alerts) and "one non-zero value" in alerts[0]


@pytest.mark.slow
def test_findings_go_to_the_text_tab(tmp_path):
    from tensorboard.backend.event_processing import event_accumulator as ea

    fit(tmp_path, Small("dead"), 1)
    acc = ea.EventAccumulator(str(tmp_path / "run"), size_guidance={ea.TENSORS: 0})
    acc.Reload()
    text = acc.Tensors("topoact_findings/act2/text_summary")
    first = text[0].tensor_proto.string_val[0].decode()
    assert text[0].step == 0 and "| 0 | act2 | dead |" in first


@pytest.mark.slow
def test_the_thresholds_parameter_and_its_old_names(tmp_path):
    # dead_threshold maps onto FindingThresholds.dead_share: half the units dead is not found at 0.6.
    model = Small()
    with torch.no_grad():
        model.fc2.bias[:16] = -10.0
    monitor, _ = fit(tmp_path, model, 1, monitor=_monitor(dead_threshold=0.6), run="a")
    assert [f.kind for f in monitor.findings if f.is_fault] == []
    model = Small()
    with torch.no_grad():
        model.fc2.bias[:16] = -10.0
    monitor, _ = fit(
        tmp_path, model, 1, monitor=_monitor(findings=FindingThresholds(dead_share=0.4)), run="b"
    )
    assert [(f.layer, f.kind) for f in monitor.findings if f.is_fault] == [("act2", "dead")]


def test_thresholds_given_twice_fail_in_init():
    from topoact_lightning.errors import TopoActConfigError

    with pytest.raises(TopoActConfigError, match="give the thresholds once"):
        _monitor(dead_threshold=0.3, findings=FindingThresholds())
    with pytest.raises(TopoActConfigError, match="findings must be a FindingThresholds"):
        _monitor(findings={"dead_share": 0.3})


def _monitor(**kwargs):
    x, y = data()
    return TopoActMonitor(layers=LAYERS, probe=(x[:200], y[:200]), thumbnails=False, **kwargs)


@pytest.mark.slow
def test_findings_survive_a_resume_without_repeats_or_losses(tmp_path):
    ckpt = ModelCheckpoint(dirpath=tmp_path / "ckpt", save_last=True, save_on_train_epoch_end=True)
    first, alerts = fit(tmp_path, Small("dead"), 2, callbacks=(ckpt,))
    # The dead act2 stops the gradient to fc1: act1 and act2 stop changing while the output layer's bias learns.
    faults = [(f.layer, f.kind, f.step) for f in first.findings if f.is_fault]
    assert faults == [("act2", "dead", 0), ("act1", "not_learning", 2), ("act2", "not_learning", 2)]
    assert len(alerts) == 3
    resumed, alerts = fit(
        tmp_path, Small("dead"), 4, monitor=_monitor(), ckpt_path=str(tmp_path / "ckpt" / "last.ckpt")
    )
    assert alerts == []  # the dead layer was reported before the checkpoint: not again
    before = [f.to_dict() for f in first.findings]
    after = [f.to_dict() for f in resumed.findings]
    assert after[: len(before)] == before  # none lost
    keys = [f.key for f in resumed.findings]
    assert len(keys) == len(set(keys))  # none repeated
    assert [f for f in resumed.findings if f.is_fault] == [f for f in first.findings if f.is_fault]
    assert max(f.step for f in resumed.findings) == 4  # the resumed fit goes on finding (class findings)
