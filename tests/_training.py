"""A small, real training run shared by the tests: a CNN on scikit-learn's 8x8 digits.

Everything is defined at module level so that DDP's spawn start method can pickle it. ``DigitsCNN`` is a
``lightning.pytorch`` module and ``DigitsCNNPL`` the same network for ``pytorch_lightning`` Trainers.

Example (what the ``trained_logdir`` fixture does)::

    logdir = Path(tmp)
    train_digits(logdir, callbacks=[TopoActMonitor(layers=DIGITS_LAYERS, probe=probe_pair())])
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import lightning.pytorch as L
import pytorch_lightning as PL
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

DIGITS_LAYERS = ["features.3", "fc1"]
DIGITS_CLASSES = [str(d) for d in range(10)]
N_VAL = 300


def digits_tensors() -> tuple[torch.Tensor, torch.Tensor]:
    """All 1,797 digits as ``(N, 1, 8, 8)`` float images in [0, 1] and their labels, in a fixed shuffled order."""
    from sklearn.datasets import load_digits

    d = load_digits()
    x = torch.tensor(d.images, dtype=torch.float32).unsqueeze(1) / 16.0
    y = torch.tensor(d.target, dtype=torch.long)
    perm = torch.randperm(len(x), generator=torch.Generator().manual_seed(0))
    return x[perm], y[perm]


def digits_split(n_val: int = N_VAL) -> tuple[TensorDataset, TensorDataset]:
    x, y = digits_tensors()
    return TensorDataset(x[n_val:], y[n_val:]), TensorDataset(x[:n_val], y[:n_val])


def probe_pair(n_val: int = N_VAL) -> tuple[torch.Tensor, torch.Tensor]:
    """The validation digits as a probe ``(x, y)``."""
    x, y = digits_tensors()
    return x[:n_val], y[:n_val]


class _DigitsMixin:
    """The digits CNN shared by the tests and the benchmarks (not the demo's: ``examples/digits_cnn.py``).

    ``image_size=8``: the original 8x8 digits (tests; small and fast): two convolutions and one pooling, so the
    convolution map watched as ``features.3`` is 8x8. ``image_size=16``: digits upscaled to 16x16
    (``benchmarks/bench_callback.py``; a heavier training): a third convolution and a second pooling. Either way
    the map reaching ``fc1`` is ``2 * width`` channels of 4x4.
    """

    def _build(
        self,
        lr: float = 0.01,
        width: int = 8,
        hidden: int = 32,
        image_size: int = 8,
        optimizer: str = "adam",
    ) -> None:
        if image_size not in (8, 16):
            raise ValueError("image_size must be 8 (the digits as they are) or 16 (upscaled)")
        self.lr, self.optimizer = lr, optimizer
        if image_size == 8:
            layers = [nn.Conv2d(1, width, 3, padding=1), nn.ReLU(), nn.Conv2d(width, 2 * width, 3, padding=1)]
        else:
            layers = [
                nn.Conv2d(1, width, 3, padding=1),
                nn.ReLU(),
                nn.Conv2d(width, width, 3, padding=1),
                nn.ReLU(),
                nn.MaxPool2d(2),
                nn.Conv2d(width, 2 * width, 3, padding=1),
            ]
        self.features = nn.Sequential(*layers, nn.ReLU(), nn.MaxPool2d(2))
        self.fc1 = nn.Linear(2 * width * 16, hidden)
        self.fc2 = nn.Linear(hidden, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.features(x).flatten(1)
        return self.fc2(torch.relu(self.fc1(h)))

    def training_step(self, batch: Any, batch_idx: int) -> torch.Tensor:
        x, y = batch
        loss = nn.functional.cross_entropy(self(x), y)
        self.log("train_loss", loss)
        return loss

    def validation_step(self, batch: Any, batch_idx: int) -> None:
        x, y = batch
        self.log("val_acc", (self(x).argmax(1) == y).float().mean())

    def configure_optimizers(self):
        if self.optimizer == "sgd":
            return torch.optim.SGD(self.parameters(), lr=self.lr, momentum=0.9)
        return torch.optim.Adam(self.parameters(), lr=self.lr)


class DigitsCNN(_DigitsMixin, L.LightningModule):
    def __init__(self, lr: float = 0.01, width: int = 8, **kwargs: Any) -> None:
        super().__init__()
        self._build(lr, width, **kwargs)


class DigitsCNNPL(_DigitsMixin, PL.LightningModule):
    def __init__(self, lr: float = 0.01, width: int = 8, **kwargs: Any) -> None:
        super().__init__()
        self._build(lr, width, **kwargs)


def loaders(batch_size: int = 64) -> tuple[DataLoader, DataLoader]:
    train, val = digits_split()
    return (
        DataLoader(train, batch_size=batch_size, shuffle=True, generator=torch.Generator().manual_seed(0)),
        DataLoader(val, batch_size=256),
    )


def tb_logger(logdir: Path, run: str = "run", pl_namespace: Any = L):
    """A TensorBoard logger writing straight into ``logdir/run``."""
    return pl_namespace.loggers.TensorBoardLogger(save_dir=str(logdir), name="", version=run)


def train_digits(
    logdir: Path,
    callbacks: list[Any],
    epochs: int = 3,
    run: str = "run",
    seed: int = 0,
    namespace: Any = L,
    model: Any = None,
    ckpt_path: str | None = None,
    **trainer_kwargs: Any,
):
    """Fit :class:`DigitsCNN` for ``epochs`` on CPU, logging to ``logdir/run``; returns the trainer."""
    namespace.seed_everything(seed, workers=True)
    if model is None:
        model = DigitsCNN() if namespace is L else DigitsCNNPL()
    train, val = loaders()
    kwargs = {
        "max_epochs": epochs,
        "accelerator": "cpu",
        "devices": 1,
        "logger": tb_logger(logdir, run, namespace),
        "callbacks": callbacks,
        "enable_checkpointing": False,
        "enable_progress_bar": False,
        "enable_model_summary": False,
        "num_sanity_val_steps": 0,
    }
    kwargs.update(trainer_kwargs)
    trainer = namespace.Trainer(**kwargs)
    trainer.fit(model, train, val, ckpt_path=ckpt_path)
    return trainer


def read_run(run_dir: Path) -> dict[str, Any]:
    """What TensorBoard's own reader finds in one run: ``{"graphs": {layer: {step: MapperGraph}}, "annotations":
    {layer: {step: dict}},
    "thumbnails": {step: array}, "scalars": {tag: {step: value}}}``, keeping every step (size guidance 0).

    The monitor writes its ``topoact/<layer>/*`` scalars at Lightning's global steps; ``scalars`` keys them by the
    epoch step of the graph they belong to (the n-th scalar of a layer goes with its n-th graph), while
    ``scalar_steps`` keeps the steps as written.
    """
    from tensorboard.backend.event_processing import event_accumulator as ea

    from topoact_lightning.engine.graph import MapperGraph
    from topoact_lightning.logformat.summary import (
        GRAPH_TAG_PREFIX,
        PLUGIN_NAME,
        THUMBNAILS_TAG,
        decode_annotations,
        decode_metadata,
        decode_thumbnails,
    )

    acc = ea.EventAccumulator(str(run_dir), size_guidance={ea.TENSORS: 0, ea.SCALARS: 0})
    acc.Reload()
    tags = acc.Tags()
    graphs: dict[str, dict[int, Any]] = {}
    annotations: dict[str, dict[int, Any]] = {}
    thumbs: dict[int, Any] = {}
    steps_seen: dict[str, list[int]] = {}
    metadata = {}
    for tag in tags["tensors"]:
        meta = acc.SummaryMetadata(tag)
        if meta.plugin_data.plugin_name == PLUGIN_NAME:
            metadata[tag] = decode_metadata(meta.plugin_data.content)
        events = acc.Tensors(tag)
        steps_seen[tag] = [e.step for e in events]
        for e in events:
            blobs = list(e.tensor_proto.string_val)
            if tag.startswith(GRAPH_TAG_PREFIX):
                graphs.setdefault(tag[len(GRAPH_TAG_PREFIX) :], {})[e.step] = MapperGraph.from_bytes(blobs[0])
                if len(blobs) > 1:
                    annotations.setdefault(tag[len(GRAPH_TAG_PREFIX) :], {})[e.step] = decode_annotations(
                        blobs[1]
                    )
            elif tag == THUMBNAILS_TAG:
                thumbs[e.step] = decode_thumbnails(blobs)
    scalars = {tag: {e.step: e.value for e in acc.Scalars(tag)} for tag in tags["scalars"]}
    scalar_steps = {tag: [e.step for e in acc.Scalars(tag)] for tag in tags["scalars"]}
    for tag in list(scalars):
        layer = tag[len("topoact/") :].rsplit("/", 1)[0] if tag.startswith("topoact/") else None
        anchor = scalar_steps.get(f"topoact/{layer}/nodes", [])
        graph_steps = sorted(graphs.get(layer, {})) if layer is not None else []
        if graph_steps and len(anchor) == len(graph_steps):
            # "nodes" is written with every graph: its steps map the logger's steps to the graphs' epochs.
            to_epoch = dict(zip(anchor, graph_steps, strict=True))
            scalars[tag] = {to_epoch[step]: v for step, v in scalars[tag].items()}
    return {
        "graphs": graphs,
        "annotations": annotations,
        "thumbnails": thumbs,
        "scalars": scalars,
        "tensor_steps": steps_seen,
        "scalar_steps": scalar_steps,
        "metadata": metadata,
    }
