"""A small CNN on scikit-learn's digits, with Mapper graphs of three layers logged every epoch.

The main demo: it trains in about a minute on a laptop CPU, needs no download, and logs the untrained network
(step 0) and every epoch after it, so the TopoAct tab shows the classes separating in activation space.

    python examples/digits_cnn.py --logdir runs/demo
    tensorboard --logdir runs/demo          # then open the TOPOACT tab

Layers logged: ``block1`` and ``block2`` (convolution + ReLU; one random spatial position per probe image, as in
TopoAct) and ``hidden`` (the dense layer before the classifier).
"""

from __future__ import annotations

import argparse
import time
import warnings
from typing import Any

import lightning.pytorch as pl
import numpy as np
import torch
from lightning.pytorch.loggers import TensorBoardLogger
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

CLASS_NAMES = [str(d) for d in range(10)]
LAYERS = ["block1", "block2", "hidden"]

# The data sit in memory as tensors; worker processes would only add start-up time.
warnings.filterwarnings("ignore", ".*does not have many workers.*")


def digits_data(seed: int = 0) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """Digits as ``(n, 1, 8, 8)`` float images in ``[0, 1]``: a stratified 75/25 split into train and validation."""
    digits = load_digits()
    x = (digits.images / 16.0).astype(np.float32)[:, None]
    y = digits.target.astype(np.int64)
    x_train, x_val, y_train, y_val = train_test_split(x, y, test_size=0.25, stratify=y, random_state=seed)
    return tuple(torch.from_numpy(a) for a in (x_train, y_train, x_val, y_val))


class DigitsCNN(pl.LightningModule):
    """Two convolution blocks, max pooling to 4x4, a hidden dense layer and a linear classifier.

    The biases of the three ReLU layers start at ``bias_init`` (zero, a common choice for ReLUs; PyTorch's default
    draws them at random, which leaves more hidden units dead on this small data set).
    """

    def __init__(self, width: int = 16, hidden: int = 64, lr: float = 0.05, bias_init: float = 0.0):
        super().__init__()
        self.save_hyperparameters()
        self.block1 = nn.Sequential(nn.Conv2d(1, width, 3, padding=1), nn.ReLU())
        self.block2 = nn.Sequential(nn.Conv2d(width, 2 * width, 3, padding=1), nn.ReLU())
        self.pool = nn.Sequential(nn.MaxPool2d(2), nn.Flatten())
        self.hidden = nn.Sequential(nn.Linear(2 * width * 4 * 4, hidden), nn.ReLU())
        self.classifier = nn.Linear(hidden, len(CLASS_NAMES))
        with torch.no_grad():
            for layer in (self.block1[0], self.block2[0], self.hidden[0]):
                layer.bias.fill_(bias_init)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.hidden(self.pool(self.block2(self.block1(x)))))

    def _step(self, batch, stage: str) -> torch.Tensor:
        x, y = batch
        logits = self(x)
        loss = nn.functional.cross_entropy(logits, y)
        acc = (logits.argmax(1) == y).float().mean()
        self.log(f"{stage}_loss", loss, prog_bar=stage == "val", on_epoch=True, on_step=False)
        self.log(f"{stage}_acc", acc, prog_bar=stage == "val", on_epoch=True, on_step=False)
        return loss

    def training_step(self, batch, batch_idx):
        return self._step(batch, "train")

    def validation_step(self, batch, batch_idx):
        self._step(batch, "val")

    def configure_optimizers(self):
        # Plain SGD with momentum: Adam's first large steps leave about 40% of the hidden ReLUs dead on this small
        # data set, SGD about 20%, which keeps the healthy run clear of the monitor's 50% warning threshold.
        return torch.optim.SGD(self.parameters(), lr=self.hparams.lr, momentum=0.9)


def make_monitor(probe_x: torch.Tensor, probe_y: torch.Tensor):
    from topoact_lightning import TopoActMonitor

    return TopoActMonitor(
        layers=LAYERS,
        probe=(probe_x, probe_y),
        class_names=CLASS_NAMES,
        # 450 probe digits: 15 half-overlapping intervals keep about 30 points per interval, enough for DBSCAN's
        # min_samples=5, and put about 90% of the probe in some node (the default 20 x 30% covers about 60%).
        mapper_params={"n_intervals": 15, "overlap": 0.5},
    )


def train(
    logdir: str,
    run: str,
    epochs: int,
    probe_size: int | None = None,
    seed: int = 0,
    progress: bool = True,
    model: DigitsCNN | None = None,
    monitor: Any = None,
) -> tuple[DigitsCNN, dict[str, float]]:
    """Train ``model`` (a new :class:`DigitsCNN` by default) into ``logdir/run``, watched by ``monitor`` (by
    default :func:`make_monitor` on the first ``probe_size`` validation digits); return the model with its final
    validation metrics."""
    pl.seed_everything(seed, verbose=False)
    torch.set_num_threads(1)  # a model this small runs slower when threads synchronise on every tiny op
    x_train, y_train, x_val, y_val = digits_data(seed)
    probe_x, probe_y = x_val[:probe_size], y_val[:probe_size]
    if model is None:
        model = DigitsCNN()
    trainer = pl.Trainer(
        accelerator="cpu",
        devices=1,
        max_epochs=epochs,
        logger=TensorBoardLogger(logdir, name=run),
        callbacks=[monitor if monitor is not None else make_monitor(probe_x, probe_y)],
        enable_checkpointing=False,
        enable_progress_bar=progress,
        enable_model_summary=False,
        log_every_n_steps=10,
    )
    train_loader = DataLoader(TensorDataset(x_train, y_train), batch_size=64, shuffle=True)
    val_loader = DataLoader(TensorDataset(x_val, y_val), batch_size=256)
    trainer.fit(model, train_loader, val_loader)
    (result,) = trainer.validate(model, val_loader, verbose=False)
    return model, result


def parse_args(
    argv: list[str] | None = None, name: str = "digits_cnn", epochs: int = 15, doc: str | None = None
) -> argparse.Namespace:
    """The options every digits example shares; ``doc`` is the calling script's docstring (for ``--help``)."""
    parser = argparse.ArgumentParser(description=(doc or __doc__).split("\n\n")[0])
    parser.add_argument(
        "--logdir", default=f"runs/{name}", help="TensorBoard log directory (default: %(default)s)"
    )
    parser.add_argument(
        "--epochs", type=int, default=None, help=f"training epochs (default: {epochs}; 2 with --quick)"
    )
    parser.add_argument("--quick", action="store_true", help="a tiny run (2 epochs, small probe) for tests")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    if args.epochs is None:
        args.epochs = 2 if args.quick else epochs
    if args.epochs < 1:
        parser.error("--epochs must be at least 1")
    return args


def main(argv: list[str] | None = None) -> dict[str, float]:
    args = parse_args(argv)
    start = time.perf_counter()
    _, result = train(
        args.logdir,
        "digits_cnn",
        args.epochs,
        probe_size=120 if args.quick else None,
        seed=args.seed,
        progress=not args.quick,
    )
    print(
        f"validation accuracy {result['val_acc']:.3f} after {args.epochs} epochs "
        f"({time.perf_counter() - start:.0f} s); logs in {args.logdir}"
    )
    print(f"view them: tensorboard --logdir {args.logdir}   (open the TOPOACT tab)")
    return result


if __name__ == "__main__":
    main()
