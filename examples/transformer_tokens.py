"""A small transformer encoder on a generated sequence task, with Mapper graphs of its token representations.

The BERT case of TopoAct: an encoder layer's output is one vector per token, so it has to be reduced to one vector
per sequence before Mapper sees it. This example logs both encoder layers, reduced two ways:

- ``encoder.layers.0``: ``"mean_tokens"``, the mean over the sequence's real tokens (padding excluded, via
  ``token_mask=PAD``);
- ``encoder.layers.1``: ``"first_token"``, the ``[CLS]`` token that the classifier reads.

The task: each sequence (a ``[CLS]`` token, then 8 to 24 random tokens, then padding) contains one of four
two-token motifs, and the class says which one. Fillers never form a motif by chance, so the model must find the
motif by position, not by counting tokens.

    python examples/transformer_tokens.py --logdir runs/transformer
    tensorboard --logdir runs/transformer
"""

from __future__ import annotations

import argparse
import time
import warnings

import lightning.pytorch as pl
import numpy as np
import torch
from lightning.pytorch.loggers import TensorBoardLogger
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

PAD, CLS = 0, 1
VOCAB = 16  # token ids 2..15 are content
MOTIFS = [(2, 3), (3, 2), (4, 5), (5, 4)]  # the same tokens in both orders: the order carries the class
CLASS_NAMES = [f"{a}-{b}" for a, b in MOTIFS]
MIN_LEN, MAX_LEN = 8, 24
REDUCTIONS = {"encoder.layers.0": "mean_tokens", "encoder.layers.1": "first_token"}

warnings.filterwarnings("ignore", ".*does not have many workers.*")


def _count_motifs(seq: np.ndarray) -> int:
    pairs = list(zip(seq[:-1].tolist(), seq[1:].tolist(), strict=True))
    return sum(p in MOTIFS for p in pairs)


def make_sequences(n: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """``n`` padded token sequences of shape ``(n, 1 + MAX_LEN)`` and their classes (the motif each holds)."""
    rng = np.random.default_rng(seed)
    x = np.full((n, 1 + MAX_LEN), PAD, dtype=np.int64)
    y = rng.integers(0, len(MOTIFS), size=n)
    for i in range(n):
        length = int(rng.integers(MIN_LEN, MAX_LEN + 1))
        while True:  # redraw until the inserted motif is the only one in the sequence
            filler = rng.integers(2, VOCAB, size=length - 2)
            at = int(rng.integers(0, length - 1))
            seq = np.concatenate([filler[:at], MOTIFS[y[i]], filler[at:]])
            if _count_motifs(seq) == 1:
                break
        x[i, 0] = CLS
        x[i, 1 : 1 + length] = seq
    return torch.from_numpy(x), torch.from_numpy(y)


class TokenClassifier(pl.LightningModule):
    """Token and position embeddings, a 2-layer ``nn.TransformerEncoder``, a linear classifier on ``[CLS]``."""

    def __init__(self, d_model: int = 32, nhead: int = 4, num_layers: int = 2, lr: float = 2e-3):
        super().__init__()
        self.save_hyperparameters()
        self.tokens = nn.Embedding(VOCAB, d_model, padding_idx=PAD)
        self.positions = nn.Embedding(1 + MAX_LEN, d_model)
        layer = nn.TransformerEncoderLayer(
            d_model, nhead, dim_feedforward=2 * d_model, dropout=0.0, batch_first=True
        )
        self.encoder = nn.TransformerEncoder(layer, num_layers, enable_nested_tensor=False)
        self.classifier = nn.Linear(d_model, len(MOTIFS))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.tokens(x) + self.positions(torch.arange(x.shape[1], device=x.device))
        h = self.encoder(h, src_key_padding_mask=x == PAD)
        return self.classifier(h[:, 0])

    def _step(self, batch, stage: str) -> torch.Tensor:
        x, y = batch
        logits = self(x)
        loss = nn.functional.cross_entropy(logits, y)
        self.log(f"{stage}_loss", loss, prog_bar=stage == "val", on_epoch=True, on_step=False)
        self.log(
            f"{stage}_acc",
            (logits.argmax(1) == y).float().mean(),
            prog_bar=stage == "val",
            on_epoch=True,
            on_step=False,
        )
        return loss

    def training_step(self, batch, batch_idx):
        return self._step(batch, "train")

    def validation_step(self, batch, batch_idx):
        self._step(batch, "val")

    def configure_optimizers(self):
        return torch.optim.Adam(self.parameters(), lr=self.hparams.lr)


def make_monitor(probe_x: torch.Tensor, probe_y: torch.Tensor):
    from topoact_lightning import TopoActMonitor

    return TopoActMonitor(
        layers=list(REDUCTIONS),
        probe=(probe_x, probe_y),
        class_names=CLASS_NAMES,
        reduction=REDUCTIONS,
        token_mask=PAD,  # padding tokens are left out of "mean_tokens"
        thumbnails=False,  # token ids are not images
    )


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--logdir", default="runs/transformer_tokens", help="TensorBoard log directory (default: %(default)s)"
    )
    parser.add_argument(
        "--epochs", type=int, default=None, help="training epochs (default: 20; 2 with --quick)"
    )
    parser.add_argument("--quick", action="store_true", help="a tiny run (2 epochs, small probe) for tests")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    if args.epochs is None:
        args.epochs = 2 if args.quick else 20
    if args.epochs < 1:
        parser.error("--epochs must be at least 1")
    return args


def main(argv: list[str] | None = None) -> dict[str, float]:
    args = parse_args(argv)
    start = time.perf_counter()
    pl.seed_everything(args.seed, verbose=False)
    torch.set_num_threads(1)  # a model this small runs slower when threads synchronise on every tiny op
    x_train, y_train = make_sequences(600 if args.quick else 3000, args.seed)
    x_val, y_val = make_sequences(200 if args.quick else 500, args.seed + 1)
    probe = (x_val[:120], y_val[:120]) if args.quick else (x_val, y_val)
    model = TokenClassifier()
    trainer = pl.Trainer(
        accelerator="cpu",
        devices=1,
        max_epochs=args.epochs,
        logger=TensorBoardLogger(args.logdir, name="transformer_tokens"),
        callbacks=[make_monitor(*probe)],
        enable_checkpointing=False,
        enable_progress_bar=not args.quick,
        enable_model_summary=False,
        log_every_n_steps=10,
    )
    val_loader = DataLoader(TensorDataset(x_val, y_val), batch_size=256)
    trainer.fit(model, DataLoader(TensorDataset(x_train, y_train), batch_size=64, shuffle=True), val_loader)
    (result,) = trainer.validate(model, val_loader, verbose=False)
    print(
        f"validation accuracy {result['val_acc']:.3f} after {args.epochs} epochs "
        f"({time.perf_counter() - start:.0f} s); logs in {args.logdir}"
    )
    return result


if __name__ == "__main__":
    main()
