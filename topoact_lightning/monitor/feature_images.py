"""Feature images: what a Mapper node "sees", as an image optimised to point the layer along the node's mean.

TopoAct shows, for every node of a layer's graph, an image optimised so that the layer's activation points in the
direction of the node's mean activation vector. :func:`render_feature_images` draws them the way Lucid's Activation
Atlas renders averaged activations:

- **objective**: ``dot * max(cos, 0.1) ** 2`` per image, with ``dot`` the activation's projection on the direction
  and ``cos`` their cosine similarity, where the graph's reduction looked
  (:mod:`~topoact_lightning.monitor.feature_target`: the centre position for ``"random_position"``, all positions
  for ``"mean"``, the whole vector of a ``Linear`` layer);
- **parameterisation**: a decorrelated Fourier basis, squashed into the probe's value range
  (:mod:`~topoact_lightning.monitor.image_space`);
- **transformation robustness**: jitter, and for images of 16 pixels and more small scales and rotations
  (:mod:`~topoact_lightning.monitor.image_transforms`);
- **Adam** at ``lr=0.05`` for :data:`DEFAULT_STEPS` steps, all of a layer's directions as one batch, the last half
  of the steps polishing the cosine alone, three attempts per direction keeping the best
  (:mod:`~topoact_lightning.monitor.feature_optimisation` says why).

The images are rendered at the model's own input size, on the model's device and in its dtype, seeded and
deterministic on the CPU. The model is left as it was: its training flags and the parameters' ``requires_grad`` are restored, its parameters never change, and the
hook is removed, even on error. A feature image is an *optimised input*, not a data sample: it shows what excites
the direction, exaggerated, not what typical members of the node look like.

Example:
    >>> import torch
    >>> from torch import nn
    >>> torch.manual_seed(0)  # doctest: +ELLIPSIS
    <torch._C.Generator object at ...>
    >>> model = nn.Sequential(nn.Conv2d(1, 8, 3, padding=1), nn.ReLU(), nn.Conv2d(8, 8, 3, padding=1))
    >>> probe = torch.rand(16, 1, 8, 8)
    >>> with torch.no_grad():  # three probe samples' activations at the centre, as directions
    ...     directions = model(probe[:3])[:, :, 4, 4]
    >>> result = render_feature_images(model, "2", directions, probe=probe, steps=64)
    >>> result.images.shape, result.images.dtype, result.failed.tolist()
    ((3, 8, 8, 1), dtype('uint8'), [False, False, False])
    >>> bool((result.cosine > 0.95).all())
    True
"""

from __future__ import annotations

import contextlib
import warnings
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np
import torch
from lightning_utilities.core.rank_zero import rank_zero_only, rank_zero_warn
from torch import nn

from topoact_lightning.errors import TopoActConfigError
from topoact_lightning.monitor.capture import Reduction, Selector, find_module
from topoact_lightning.monitor.feature_optimisation import Recipe, optimise_images
from topoact_lightning.monitor.feature_target import (
    FeatureImagesUnavailable,
    LayerTap,
    LayerTarget,
    resolve_target,
    unavailable,
)
from topoact_lightning.monitor.image_space import ImageSpace
from topoact_lightning.monitor.image_transforms import Robustness

__all__ = [
    "DEFAULT_STEPS",
    "FeatureImages",
    "FeatureImagesUnavailable",
    "LayerTarget",
    "check_feature_images",
    "image_space",
    "render_feature_images",
]

#: Optimisation steps per batch of images when none are given.
DEFAULT_STEPS = 256


@dataclass
class FeatureImages:
    """One layer's rendered feature images, one per direction, in the order given.

    Attributes:
        layer: the layer's name.
        images: ``uint8`` images ``(n, H, W, C)`` for display (black where :attr:`failed`).
        inputs: the images in the model's input units ``(n, C, H, W)``, float32 on the CPU (NaN where failed).
        cosine: the cosine similarity between each image's activation (reduced as the graph was) and its
            direction (NaN where failed).
        failed: ``True`` where no image was made (a NaN or zero direction, a non-finite optimisation, or an image
            that does not point the layer towards its direction at all); a warning said so.
        reduction: the reduction the images were optimised for (``"auto"`` resolved).
        steps, seed: the optimisation's step count and seed.
    """

    layer: str
    images: np.ndarray
    inputs: torch.Tensor
    cosine: np.ndarray
    failed: np.ndarray
    reduction: Reduction
    steps: int
    seed: int

    def __len__(self) -> int:
        return len(self.failed)


def image_space(
    probe: torch.Tensor | Sequence[torch.Tensor] | None = None,
    input_shape: Sequence[int] | None = None,
    value_range: tuple[float | Sequence[float], float | Sequence[float]] = (0.0, 1.0),
) -> ImageSpace:
    """The model's image space from probe inputs (shape, range and colours), else from ``input_shape``.

    Raises :class:`FeatureImagesUnavailable` when the inputs are not float images ``(n, C, H, W)`` with 1 or 3
    channels.

    Example:
        >>> image_space(input_shape=(1, 8, 8)).shape
        (1, 8, 8)
        >>> image_space(torch.zeros(4, 20))
        Traceback (most recent call last):
        ...
        topoact_lightning.monitor.feature_target.FeatureImagesUnavailable: feature images are unavailable for this model: ...
    """
    if probe is not None:
        batches = [probe] if isinstance(probe, torch.Tensor) else list(probe)
        shapes = {tuple(b.shape[1:]) if isinstance(b, torch.Tensor) else None for b in batches}
        first = batches[0] if batches else None
        if (
            not batches
            or None in shapes
            or len(shapes) > 1
            or first.ndim != 4
            or not first.is_floating_point()
        ):
            what = (
                f"{first.dtype} tensors of shape {tuple(first.shape)}"
                if isinstance(first, torch.Tensor)
                else type(first).__name__
            )
            raise unavailable(None, f"its inputs are {what}, not float images (n, C, H, W) of one size")
        shape = next(iter(shapes))
    elif input_shape is not None:
        shape = tuple(int(v) for v in input_shape)
        if len(shape) != 3:
            raise TopoActConfigError(f"input_shape must be (C, H, W), got {shape}")
    else:
        raise TopoActConfigError(
            "feature images need the input images: pass probe=... or input_shape=(C, H, W)"
        )
    if shape[0] not in (1, 3):
        raise unavailable(
            None, f"its images have {shape[0]} channels; feature images are drawn in grey or RGB"
        )
    return ImageSpace.from_inputs(batches) if probe is not None else ImageSpace.from_shape(shape, value_range)


def _directions(directions: torch.Tensor | np.ndarray | Sequence[Sequence[float]]) -> torch.Tensor:
    if isinstance(directions, torch.Tensor):  # on any device: the optimisation moves it to the model's
        d = directions.detach().to("cpu", torch.float32)
    else:
        d = torch.as_tensor(np.asarray(directions, dtype=np.float32))
    if d.ndim == 1:
        d = d[None, :]
    if d.ndim != 2 or d.shape[0] == 0:
        raise TopoActConfigError(f"directions must be (n, units) with n >= 1, got shape {tuple(d.shape)}")
    return d


def _warn(message: str) -> None:
    # Lightning sets the process's rank when it is imported; a notebook that renders without it has one process.
    if getattr(rank_zero_only, "rank", None) is None:
        warnings.warn(message, UserWarning, stacklevel=3)
    else:
        rank_zero_warn(message)


def _model_device(model: nn.Module) -> tuple[torch.device, torch.dtype]:
    for t in (*model.parameters(), *model.buffers()):
        if t.is_floating_point():
            return t.device, t.dtype
    return torch.device("cpu"), torch.float32


@contextlib.contextmanager
def _frozen(model: nn.Module) -> Iterator[None]:
    """``model`` in eval mode with frozen parameters and gradients on; everything restored on exit."""
    modes = [(m, m.training) for m in model.modules()]
    flags = [(p, p.requires_grad) for p in model.parameters()]
    try:
        model.eval()
        for p, _ in flags:
            p.requires_grad_(False)
        # The callback may render from a hook that runs under no_grad or inference mode.
        with torch.inference_mode(False), torch.enable_grad():
            yield
    finally:
        for m, training in modes:
            m.training = training
        for p, requires_grad in flags:
            p.requires_grad_(requires_grad)


def _dry_run(
    model: nn.Module, layer: str, tap: LayerTap, space: ImageSpace, reduction: Reduction, select: Selector
) -> LayerTarget:
    device, dtype = _model_device(model)
    grey = space.to_model(torch.full((1, *space.shape), 0.5)).to(device, dtype)
    return resolve_target(model, layer, tap, grey, reduction, select)


def check_feature_images(
    model: nn.Module,
    layer: str,
    *,
    probe: torch.Tensor | Sequence[torch.Tensor] | None = None,
    input_shape: Sequence[int] | None = None,
    value_range: tuple[float | Sequence[float], float | Sequence[float]] = (0.0, 1.0),
    reduction: Reduction = "auto",
    select: Selector = None,
) -> LayerTarget:
    """What feature images of ``layer`` would be optimised for, or :class:`FeatureImagesUnavailable` saying why not.

    One forward pass on a grey image (arguments as for :func:`render_feature_images`); the model is left as it
    was. Use it before training to choose the layers that get feature images.

    Example:
        >>> from torch import nn
        >>> model = nn.Sequential(nn.Conv2d(1, 4, 3), nn.Flatten(), nn.Linear(144, 2))
        >>> target = check_feature_images(model, "0", input_shape=(1, 8, 8))
        >>> target.reduction, target.width
        ('random_position', 4)
        >>> check_feature_images(model, "2", input_shape=(1, 8, 8)).reduction
        'flatten'
    """
    space = image_space(probe, input_shape, value_range)
    module = find_module(model, layer, owner="feature images")
    with _frozen(model), LayerTap(module) as tap:
        return _dry_run(model, layer, tap, space, reduction, select)


def render_feature_images(
    model: nn.Module,
    layer: str,
    directions: torch.Tensor | np.ndarray | Sequence[Sequence[float]],
    *,
    probe: torch.Tensor | Sequence[torch.Tensor] | None = None,
    input_shape: Sequence[int] | None = None,
    value_range: tuple[float | Sequence[float], float | Sequence[float]] = (0.0, 1.0),
    reduction: Reduction = "auto",
    select: Selector = None,
    steps: int = DEFAULT_STEPS,
    seed: int = 0,
    lr: float = 0.05,
    cosine_power: float = 2.0,
    polish: float = 0.5,
    attempts: int = 3,
    robustness: Robustness | None = None,
) -> FeatureImages:
    """Render one feature image per direction at ``layer`` of an image model (see the module docstring).

    Args:
        model: the model; called as ``model(images)`` on float images ``(n, C, H, W)``.
        layer: a module name of ``model.named_modules()``.
        directions: ``(n, units)`` (or one ``(units,)``) vectors in the layer's reduced space, such as node means.
        probe: probe images ``(N, C, H, W)`` (a tensor or a list of batches): the input shape, each channel's
            value range and the colour correlation are read from them.
        input_shape, value_range: without a probe, the image shape ``(C, H, W)`` and the value range (one
            ``(low, high)`` pair, or one value per channel) of the model's inputs.
        reduction, select: how the graph's activations were taken from the layer, as in
            :class:`~topoact_lightning.monitor.TopoActMonitor` (``"auto"`` resolves the same way).
        steps: Adam steps.
        seed: seeds the initial images and the random transformations.
        lr: Adam's learning rate.
        cosine_power: the power of the (floored) cosine in the objective.
        polish: the share of the steps, at the end, that maximise the cosine alone without transformations.
        attempts: random starts per direction (all in the one batch); the one with the highest cosine is kept.
        robustness: the random transformations; by default :meth:`Robustness.for_size` of the input size.

    Returns:
        FeatureImages: one image per direction, its achieved cosine and whether it failed.

    Raises:
        FeatureImagesUnavailable: the model does not take images, or the layer's activations have no image
            position to optimise (tokens) or do not depend on the input.
        TopoActConfigError: an unknown layer, or directions whose width is not the layer's.
    """
    if int(steps) < 1 or int(attempts) < 1 or not 0 <= float(polish) <= 1:
        raise TopoActConfigError(
            f"feature images need steps >= 1, attempts >= 1 and polish in [0, 1]; got steps={steps}, "
            f"attempts={attempts}, polish={polish}"
        )
    dirs = _directions(directions)
    space = image_space(probe, input_shape, value_range)
    module = find_module(model, layer, owner="feature images")
    recipe = Recipe(
        steps=int(steps),
        lr=float(lr),
        cosine_power=float(cosine_power),
        polish=float(polish),
        attempts=int(attempts),
        robustness=robustness if robustness is not None else Robustness.for_size(space.height, space.width),
    )
    device, dtype = _model_device(model)
    with _frozen(model), LayerTap(module) as tap:
        target = _dry_run(model, layer, tap, space, reduction, select)
        if dirs.shape[1] != target.width:
            raise TopoActConfigError(
                f"feature images: directions have {dirs.shape[1]} values but layer {layer!r} gives "
                f"{target.width} with reduction {target.reduction!r}; pass vectors of the graph's space"
            )
        valid = torch.isfinite(dirs).all(dim=1) & (dirs.norm(dim=1) > 0)
        try:
            directions = torch.where(valid[:, None], dirs, 0.0)
            inputs, cosine = optimise_images(
                model, tap, target, space, directions, recipe, int(seed), device, dtype
            )
        except Exception as e:  # a model that fails mid-way must not take training down with it
            _warn(f"feature images for layer {layer!r} failed ({type(e).__name__}: {e}); no images")
            n = len(dirs)
            inputs, cosine = torch.full((n, *space.shape), float("nan")), torch.full((n,), float("nan"))
    return _result(layer, target, space, inputs, cosine, valid, int(steps), int(seed))


def _result(
    layer: str,
    target: LayerTarget,
    space: ImageSpace,
    inputs: torch.Tensor,
    cosine: torch.Tensor,
    valid: torch.Tensor,
    steps: int,
    seed: int,
) -> FeatureImages:
    finite = torch.isfinite(inputs).flatten(1).all(dim=1) & torch.isfinite(cosine)
    failed = ~(valid & finite & (cosine > 0))
    if bool(failed.any()):
        _warn(
            f"feature images: {int(failed.sum())} of {len(failed)} optimisations at layer {layer!r} failed "
            f"(a NaN or zero direction, NaN activations, or no image pointing the layer towards its direction); "
            f"directions {failed.nonzero().flatten().tolist()} get no image"
        )
    inputs = torch.where(failed[:, None, None, None], float("nan"), inputs)
    cosine = torch.where(failed, float("nan"), cosine)
    unit = torch.nan_to_num(space.to_unit(inputs), nan=0.0).clamp(0, 1)
    images = (unit * 255).round().to(torch.uint8).permute(0, 2, 3, 1).contiguous().numpy()
    return FeatureImages(
        layer=layer,
        images=images,
        inputs=inputs,
        cosine=cosine.double().numpy(),
        failed=failed.numpy(),
        reduction=target.reduction,
        steps=steps,
        seed=seed,
    )
