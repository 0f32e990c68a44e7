"""Both Lightning namespaces, mixed precision on CPU, and torch.compile'd submodules."""

from __future__ import annotations

import warnings

import lightning.pytorch as L
import numpy as np
import pytest
import pytorch_lightning as PL
import torch
from _training import DIGITS_LAYERS, DigitsCNN, probe_pair, read_run, train_digits

from topoact_lightning import TopoActMonitor


def _fit(*args, **kwargs):
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*(num_workers|log_every_n_steps|LeafSpec|precision).*")
        return train_digits(*args, **kwargs)


def _check_run(run_dir, layers=DIGITS_LAYERS, steps=(0, 1)):
    run = read_run(run_dir)
    for layer in layers:
        assert run["tensor_steps"][f"topoact_graph/{layer}"] == list(steps)
        g = run["graphs"][layer][steps[-1]]
        assert g.n_nodes > 0 and np.isfinite(g.lens).all()
    return run


@pytest.mark.slow
def test_pytorch_lightning_trainer_and_logger(tmp_path):
    monitor = TopoActMonitor(layers=DIGITS_LAYERS, probe=probe_pair())
    trainer = _fit(tmp_path, [monitor], epochs=1, namespace=PL)
    assert isinstance(trainer, PL.Trainer) and isinstance(trainer.logger, PL.loggers.TensorBoardLogger)
    run = _check_run(tmp_path / "run")
    assert "topoact/fc1/purity" in run["scalars"]


@pytest.mark.slow
@pytest.mark.parametrize("precision", ["bf16-mixed", "16-mixed"])
def test_mixed_precision(tmp_path, precision):
    monitor = TopoActMonitor(layers=DIGITS_LAYERS, probe=probe_pair())
    _fit(tmp_path, [monitor], epochs=1, precision=precision)
    run = _check_run(tmp_path / "run")
    # Activations arrive as float32 from the autocast forward; extras too.
    assert run["graphs"]["fc1"][1].extras["loss"].dtype == np.float32


class _CompiledFeatures(DigitsCNN):
    def __init__(self):
        super().__init__()
        # aot_eager goes through Dynamo and AOTAutograd like the default backend, without a C++ build.
        self.features = torch.compile(self.features, backend="aot_eager")


@pytest.mark.slow
def test_compiled_submodule_with_plain_layer_names(tmp_path):
    model = _CompiledFeatures()
    assert "features._orig_mod.3" in dict(model.named_modules())
    monitor = TopoActMonitor(layers=["features.3", "fc1"], probe=probe_pair(), thumbnails=False)
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        _fit(tmp_path, [monitor], epochs=2, model=model)
    assert not [w for w in record if "TopoActMonitor" in str(w.message)]
    _check_run(tmp_path / "run", steps=(0, 1, 2))
    assert all(not m._forward_hooks for m in model.modules())


class SeqClassifier(L.LightningModule):
    """Padded token sequences: an LSTM (tuple output) and a Transformer layer, classified by the mean token."""

    def __init__(self, vocab: int = 20, dim: int = 16) -> None:
        super().__init__()
        self.embed = torch.nn.Embedding(vocab, dim, padding_idx=0)
        self.lstm = torch.nn.LSTM(dim, dim, batch_first=True)
        self.encoder = torch.nn.TransformerEncoderLayer(dim, 2, 32, batch_first=True, dropout=0.0)
        self.head = torch.nn.Linear(dim, 3)

    def forward(self, tokens):
        pad = tokens == 0
        h, _ = self.lstm(self.embed(tokens))
        h = self.encoder(h, src_key_padding_mask=pad)
        keep = (~pad).unsqueeze(-1).float()
        return self.head((h * keep).sum(1) / keep.sum(1))

    def training_step(self, batch, batch_idx):
        x, y = batch
        return torch.nn.functional.cross_entropy(self(x), y)

    def configure_optimizers(self):
        return torch.optim.Adam(self.parameters(), lr=0.01)


def _sequences(n: int = 240, length: int = 12, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    y = torch.randint(0, 3, (n,), generator=g)
    lengths = torch.randint(3, length + 1, (n,), generator=g)
    x = torch.randint(1, 20, (n, length), generator=g)
    x[:, 0] = 1 + y  # the class is in the first token
    x[torch.arange(length).expand(n, -1) >= lengths.unsqueeze(1)] = 0
    return x, y


@pytest.mark.slow
def test_sequence_model_with_padding_tuple_outputs_and_token_reductions(tmp_path):
    from torch.utils.data import DataLoader, TensorDataset

    x, y = _sequences()
    monitor = TopoActMonitor(
        layers=["lstm", "encoder"],
        probe=(x, y),
        token_mask=0,  # the padding id
        reduction={"lstm": "random_token", "encoder": "mean_tokens"},
    )
    L.seed_everything(0, verbose=False)
    trainer = L.Trainer(
        max_epochs=2,
        accelerator="cpu",
        logger=L.loggers.TensorBoardLogger(str(tmp_path), name="", version="run"),
        callbacks=[monitor],
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
    )
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*(num_workers|log_every_n_steps|LeafSpec|nested).*")
        trainer.fit(SeqClassifier(), DataLoader(TensorDataset(x, y), batch_size=32, shuffle=True))
    run = _check_run(tmp_path / "run", layers=["lstm", "encoder"], steps=(0, 1, 2))
    assert "topoact_thumbnails" not in run["tensor_steps"]  # token ids are not images
    assert set(run["graphs"]["encoder"][2].extras) == {"prediction", "correct", "loss"}


def test_a_mask_that_does_not_fit_the_layer_fails_before_training(tmp_path):
    from torch.utils.data import DataLoader, TensorDataset

    from topoact_lightning import TopoActConfigError

    x, y = _sequences(64)
    monitor = TopoActMonitor(
        layers=["encoder"], probe=(x, y), reduction="mean_tokens", token_mask=torch.ones(64, 5)
    )
    trainer = L.Trainer(
        max_epochs=1,
        logger=L.loggers.TensorBoardLogger(str(tmp_path), name="", version="run"),
        callbacks=[monitor],
        enable_checkpointing=False,
        enable_progress_bar=False,
    )
    model = SeqClassifier()
    with pytest.raises(TopoActConfigError, match="token mask has shape \\(64, 5\\)|token mask has shape"):
        trainer.fit(model, DataLoader(TensorDataset(x, y), batch_size=32))
    assert model.global_step == 0
