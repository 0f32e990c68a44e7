"""What a feature image is optimised for: one layer's output, reduced the way its Mapper graph was built.

A direction (a node's mean activation vector) lives in the space :mod:`~topoact_lightning.monitor.capture` reduced
the layer's output to. :class:`LayerTarget` reduces the output of a rendered image the same way, differentiably:

=====================  ===============================================================================
reduction              the vector compared with a direction
=====================  ===============================================================================
``"random_position"``  the channels at the map's centre position: the probe's positions were drawn at
                       random, so no one position is the graph's; a convolution sees the same at every
                       position, and the centre is the one whose receptive field lies wholly in the image
``"mean"``, ``"max"``  the mean / maximum over all positions
``"flatten"``          the whole output (for a ``Linear`` layer, its vector)
a callable             the callable applied to the output (it must let gradients through)
token reductions       unavailable: a token is not an image position
=====================  ===============================================================================

:func:`resolve_target` runs the model once on a neutral image to resolve ``"auto"`` and to check that feature
images make sense for the layer; when they do not it raises :class:`FeatureImagesUnavailable`, saying why.
:class:`LayerTap` runs the model only up to the layer (the rest of the network is not needed).

Example:
    >>> import torch
    >>> from torch import nn
    >>> model = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.ReLU(), nn.Flatten(), nn.Linear(4 * 64, 10))
    >>> with LayerTap(model[0]) as tap:
    ...     target = resolve_target(model, "0", tap, torch.zeros(1, 1, 8, 8))
    >>> target.reduction, target.width
    ('random_position', 4)
    >>> with LayerTap(model[2]) as tap:
    ...     resolve_target(model, "2", tap, torch.zeros(1, 1, 8, 8), reduction="random_token")
    Traceback (most recent call last):
    ...
    topoact_lightning.monitor.feature_target.FeatureImagesUnavailable: feature images are unavailable for layer '2': ...
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from topoact_lightning.errors import TopoActConfigError
from topoact_lightning.monitor.capture import (
    CaptureError,
    Reduction,
    Selector,
    resolve_reduction,
    select_output,
)

_MAP_REDUCTIONS = ("random_position", "mean", "max")
_TOKEN_REDUCTIONS = ("first_token", "mean_tokens", "random_token")


class FeatureImagesUnavailable(TopoActConfigError):
    """Feature images make no sense for this model or layer (not an image model, tokens, no gradient); says why."""


def unavailable(layer: str | None, why: str) -> FeatureImagesUnavailable:
    where = f"layer {layer!r}" if layer is not None else "this model"
    return FeatureImagesUnavailable(f"feature images are unavailable for {where}: {why}")


class _ReachedLayer(Exception):
    """Raised by the tap's hook once it holds the layer's output, to skip the rest of the forward pass."""


class LayerTap:
    """A forward hook on one module that keeps its output and stops the forward pass there.

    Use as a context manager (the hook is removed on exit, even on error); :meth:`run` calls the model and
    returns the module's first output of that call.
    """

    def __init__(self, module: nn.Module) -> None:
        self.module = module
        self._output: Any = None
        self._handle: Any = None

    def _hook(self, module: nn.Module, args: Any, output: Any) -> None:
        if self._output is None:  # a module called twice in one forward: its first call, as the capture does
            self._output = output
            raise _ReachedLayer

    def __enter__(self) -> LayerTap:
        self._handle = self.module.register_forward_hook(self._hook)
        return self

    def __exit__(self, *exc: Any) -> None:
        if self._handle is not None:
            self._handle.remove()
            self._handle = None

    def run(self, model: nn.Module, x: torch.Tensor) -> Any:
        """The module's output when ``model(x)`` runs, or None when the module was not called."""
        self._output = None
        with contextlib.suppress(_ReachedLayer):
            model(x)
        output, self._output = self._output, None
        return output


@dataclass(frozen=True)
class LayerTarget:
    """One layer's output reduced as its graph was: :meth:`vectors` gives ``(n, width)``, differentiably."""

    layer: str
    reduction: Reduction
    select: Selector
    width: int

    def vectors(self, output: Any) -> torch.Tensor:
        x = select_output(output, self.select, self.layer)
        n = x.shape[0]
        if callable(self.reduction):
            return self.reduction(x)
        if self.reduction == "flatten":
            return x.reshape(n, -1)
        if self.reduction == "random_position":
            centre = tuple(size // 2 for size in x.shape[2:])
            return x[(slice(None), slice(None), *centre)]
        flat = x.reshape(n, x.shape[1], -1)
        return flat.mean(dim=2) if self.reduction == "mean" else flat.amax(dim=2)


def resolve_target(
    model: nn.Module,
    layer: str,
    tap: LayerTap,
    example: torch.Tensor,
    reduction: Reduction = "auto",
    select: Selector = None,
) -> LayerTarget:
    """Run ``model`` once on ``example`` (a batch of images) to resolve the layer's reduction and check it.

    Raises :class:`FeatureImagesUnavailable` when the model does not run on the images, the layer is not called,
    its reduction picks tokens, or no gradient reaches its output from the input.
    """
    x = example.detach().clone().requires_grad_(True)
    try:
        output = tap.run(model, x)
    except Exception as e:
        raise unavailable(
            None,
            f"feature images optimise an image input of shape {tuple(example.shape[1:])}, and the model fails "
            f"on one ({type(e).__name__}: {e}); it does not take image tensors (n, C, H, W) as its input",
        ) from e
    if output is None:
        raise unavailable(layer, "the layer was not called when the model ran on an image")
    try:
        out = select_output(output, select, layer)
    except CaptureError as e:
        raise unavailable(layer, str(e)) from e
    resolved = resolve_reduction(reduction, tap.module, out.ndim)
    if not callable(resolved) and resolved in _TOKEN_REDUCTIONS:
        raise unavailable(
            layer,
            f"its output {tuple(out.shape)} is reduced over tokens ({resolved!r}); a token has no spatial position "
            "to optimise an image at (feature images need a convolution map or a vector)",
        )
    if not callable(resolved) and resolved in _MAP_REDUCTIONS and out.ndim < 3:
        raise unavailable(
            layer, f"reduction {resolved!r} needs a map (n, C, ...), but the layer gives {tuple(out.shape)}"
        )
    target = LayerTarget(layer, resolved, select, 0)
    vectors = target.vectors(output)
    if not isinstance(vectors, torch.Tensor) or vectors.ndim != 2 or vectors.shape[0] != x.shape[0]:
        raise unavailable(layer, "its reduction does not give one vector per image")
    if not vectors.requires_grad:
        raise unavailable(
            layer,
            "no gradient reaches its activations from the input image (the layer does not depend on it)",
        )
    return LayerTarget(layer, resolved, select, int(vectors.shape[1]))
