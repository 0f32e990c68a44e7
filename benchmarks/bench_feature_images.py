"""Feature images: the time to render a layer's nodes, beside one training epoch of the same model.

Two image models, each rendering a batch of ``--nodes`` directions (node means: the mean activation of a random
group of probe samples, as a Mapper node's mean is) at a convolution and at a linear layer, with the default
recipe of :func:`~topoact_lightning.monitor.feature_images.render_feature_images` (``--steps``, ``--attempts``):

- ``digits``: the tests' digits CNN (``tests/_training.py``, 8x8, 1 channel), layers ``features.2`` and ``fc1``;
  the reference epoch is its training set (1,497 digits, batches of 64).
- ``rgb32``: a CIFAR-sized CNN (32x32, 3 channels: three conv blocks of 32/64/128 channels, then 256 and 10
  units), layers ``features.10`` (the last convolution) and ``fc1``; the reference epoch is ``--rgb-samples``
  synthetic images (batches of 64).

Each model is trained for one epoch first, then rounds alternate (one training epoch, then each layer's
rendering) so that background load hits both alike. Printed per layer: the median time per layer and per image
(per node; its attempts included), and the ratio to the median training epoch. Also the load average before and
after, and torch's thread count: on a shared machine these figures need a quiet rerun (under load, torch's two
OpenMP threads wait for each other and small batches run many times slower than with ``--threads 1``).

Usage:
    .venv/bin/python benchmarks/bench_feature_images.py [--nodes 32] [--steps 256] [--attempts 3] [--rounds 3]
        [--threads 1] [--only digits|rgb32]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # tests._training: the digits CNN the tests train too
from tests._training import DigitsCNN, digits_split, probe_pair  # noqa: E402
from topoact_lightning.monitor.feature_images import DEFAULT_STEPS, render_feature_images  # noqa: E402


class RGB32CNN(nn.Module):
    """A small CIFAR-style CNN: 32x32 RGB in, 10 logits out."""

    def __init__(self) -> None:
        super().__init__()
        blocks = []
        for c_in, c_out in ((3, 32), (32, 64)):
            blocks += [nn.Conv2d(c_in, c_out, 3, padding=1), nn.ReLU(), nn.Conv2d(c_out, c_out, 3, padding=1)]
            blocks += [nn.ReLU(), nn.MaxPool2d(2)]
        blocks += [nn.Conv2d(64, 128, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2)]
        self.features = nn.Sequential(*blocks)
        self.fc1 = nn.Linear(128 * 4 * 4, 256)
        self.fc2 = nn.Linear(256, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(torch.relu(self.fc1(self.features(x).flatten(1))))


def rgb_data(n: int, seed: int = 0) -> TensorDataset:
    """Normalised 32x32 RGB images of 10 classes: smooth class templates plus noise (CIFAR's size, not its data)."""
    g = torch.Generator().manual_seed(seed)
    templates = nn.functional.interpolate(
        torch.randn(10, 3, 4, 4, generator=g), size=(32, 32), mode="bilinear"
    )
    y = torch.randint(10, (n,), generator=g)
    x = templates[y] + 0.5 * torch.randn(n, 3, 32, 32, generator=g)
    return TensorDataset((x - x.mean()) / x.std(), y)


def train_epoch(model: nn.Module, loader: DataLoader, optimiser: torch.optim.Optimizer) -> float:
    model.train()
    start = time.perf_counter()
    for x, y in loader:
        optimiser.zero_grad()
        nn.functional.cross_entropy(model(x), y).backward()
        optimiser.step()
    return time.perf_counter() - start


def node_means(
    model: nn.Module, layer: str, probe: torch.Tensor, nodes: int, reduction_centre: bool
) -> torch.Tensor:
    """``nodes`` means of random groups of 10 probe samples' activations at ``layer`` (centre position of maps)."""
    module = dict(model.named_modules())[layer]
    seen: list[torch.Tensor] = []
    handle = module.register_forward_hook(lambda m, a, out: seen.append(out))
    try:
        model.eval()
        with torch.no_grad():
            model(probe)
    finally:
        handle.remove()
    out = seen[0]
    vectors = out[:, :, out.shape[2] // 2, out.shape[3] // 2] if reduction_centre else out
    groups = torch.randint(len(vectors), (nodes, 10), generator=torch.Generator().manual_seed(0))
    return vectors[groups].mean(dim=1)


def render_time(model: nn.Module, layer: str, directions: torch.Tensor, probe: torch.Tensor, args) -> float:
    start = time.perf_counter()
    result = render_feature_images(
        model, layer, directions, probe=probe, steps=args.steps, attempts=args.attempts, seed=0
    )
    elapsed = time.perf_counter() - start
    if result.failed.any():
        print(f"  ({int(result.failed.sum())} of {len(result)} images failed at {layer})")
    return elapsed


def bench(
    name: str, model: nn.Module, loader: DataLoader, probe: torch.Tensor, layers: list[str], args
) -> None:
    optimiser = torch.optim.Adam(model.parameters(), lr=1e-3)
    train_epoch(model, loader, optimiser)  # warm up, and weights that have seen data
    directions = {layer: node_means(model, layer, probe, args.nodes, layer != "fc1") for layer in layers}
    epochs: list[float] = []
    renders: dict[str, list[float]] = {layer: [] for layer in layers}
    for _ in range(args.rounds):
        epochs.append(train_epoch(model, loader, optimiser))
        for layer in layers:
            renders[layer].append(render_time(model, layer, directions[layer], probe, args))
    epoch = statistics.median(epochs)
    shape = "x".join(map(str, probe.shape[1:]))
    print(
        f"\n{name} ({shape}), one training epoch: median {epoch:.2f} s ({', '.join(f'{e:.2f}' for e in epochs)})"
    )
    print("| layer | nodes | steps x attempts | per layer (median, rounds) | per image | layer / epoch |")
    print("|---|---:|---|---|---:|---:|")
    for layer in layers:
        t = statistics.median(renders[layer])
        rounds = ", ".join(f"{r:.2f}" for r in renders[layer])
        print(
            f"| {layer} | {args.nodes} | {args.steps} x {args.attempts} | {t:.2f} s ({rounds}) | "
            f"{t / args.nodes:.3f} s | {t / epoch:.2f}x |"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nodes", type=int, default=32)
    parser.add_argument("--steps", type=int, default=DEFAULT_STEPS)
    parser.add_argument("--attempts", type=int, default=3)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--rgb-samples", type=int, default=10_000)
    parser.add_argument("--only", choices=["digits", "rgb32"], default=None)
    parser.add_argument("--threads", type=int, default=None, help="torch.set_num_threads (default: torch's)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    print(
        f"load average before: {' '.join(f'{v:.2f}' for v in os.getloadavg())}; torch threads: "
        f"{torch.get_num_threads()}"
    )

    if args.only in (None, "digits"):
        torch.manual_seed(0)
        train, _ = digits_split()
        loader = DataLoader(train, batch_size=64, shuffle=True, generator=torch.Generator().manual_seed(0))
        bench("digits", DigitsCNN(), loader, probe_pair()[0], ["features.2", "fc1"], args)
    if args.only in (None, "rgb32"):
        torch.manual_seed(0)
        data = rgb_data(args.rgb_samples)
        loader = DataLoader(data, batch_size=64, shuffle=True, generator=torch.Generator().manual_seed(0))
        probe = rgb_data(500, seed=1).tensors[0]
        bench("rgb32", RGB32CNN(), loader, probe, ["features.10", "fc1"], args)
    print(f"\nload average after: {' '.join(f'{v:.2f}' for v in os.getloadavg())}")


if __name__ == "__main__":
    main()
