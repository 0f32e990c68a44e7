"""Transformation robustness for feature images: each optimisation step sees the images jittered, scaled, rotated.

An image that excites a direction only at one exact pixel alignment is an adversarial pattern, not a feature
(Olah et al., *Feature Visualization*, Distill 2017). Lucid therefore optimises through random small translations,
scales and rotations. Here they are one affine resampling per step, per image, at the model's own input size: the
output keeps the input's shape, so models whose later layers need exactly that size (a ``Linear`` after a
``flatten``) still run, and the border is extended (replicated) rather than filled with a colour the data never
has.

:meth:`Robustness.for_size` picks the amounts from the image size:

==============  ===========  ==============  ===========
shortest side   jitter (px)  scale           rotation
==============  ===========  ==============  ===========
below 16        1            none            none
16 to 63        ``side/16``  0.95 to 1.05    +-5 degrees
64 and more     ``side/16``  0.9 to 1.1      +-10 degrees
==============  ===========  ==============  ===========

Why tiny images get only a one-pixel jitter: at 8x8 a pixel is an eighth of the image, so a larger jitter moves a
stroke out of the receptive field it is meant to excite, and any rotation or scale change resamples every pixel
(a one-pixel stroke becomes two half-bright ones); the optimiser then fights the blur instead of finding the
feature. Integer jitter resamples nothing: each pixel lands exactly on another.

Example:
    >>> import torch
    >>> r = Robustness.for_size(8, 8)
    >>> r
    Robustness(jitter=1, scale=(1.0, 1.0), degrees=0.0)
    >>> x = torch.rand(2, 1, 8, 8)
    >>> y = r(x, torch.Generator().manual_seed(0))
    >>> y.shape == x.shape
    True
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F

_TINY = 16
_LARGE = 64


@dataclass(frozen=True)
class Robustness:
    """Random transformations applied to the images at each step.

    Args:
        jitter: the largest translation, in whole pixels, in each direction.
        scale: the smallest and largest zoom factor (drawn uniformly).
        degrees: the largest rotation, in degrees, either way (drawn uniformly).
    """

    jitter: int = 1
    scale: tuple[float, float] = (1.0, 1.0)
    degrees: float = 0.0

    @classmethod
    def for_size(cls, height: int, width: int) -> Robustness:
        """The default transformations for images of ``height x width`` (see the module's table)."""
        side = min(height, width)
        if side < _TINY:
            return cls(jitter=1)
        if side < _LARGE:
            return cls(jitter=max(1, side // 16), scale=(0.95, 1.05), degrees=5.0)
        return cls(jitter=side // 16, scale=(0.9, 1.1), degrees=10.0)

    @property
    def resamples(self) -> bool:
        """Whether a step interpolates between pixels (any scale or rotation), rather than only shifting them."""
        return self.scale != (1.0, 1.0) or self.degrees != 0.0

    def __call__(self, images: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        """``images`` ``(n, C, H, W)`` transformed, each by its own draw from the CPU ``generator``."""
        n, _, h, w = images.shape
        shift = torch.randint(-self.jitter, self.jitter + 1, (n, 2), generator=generator)
        if not self.resamples:
            return _shift(images, shift)
        lo, hi = self.scale
        zoom = lo + (hi - lo) * torch.rand(n, generator=generator, dtype=torch.float64)
        angle = (2 * torch.rand(n, generator=generator, dtype=torch.float64) - 1) * math.radians(self.degrees)
        # affine_grid maps output to input coordinates in [-1, 1]: the inverse of the zoom, and the shift in
        # half-widths (a pixel is 2 / size).
        cos, sin = torch.cos(angle) / zoom, torch.sin(angle) / zoom
        theta = torch.stack(
            [
                torch.stack([cos, -sin, -2 * shift[:, 1].double() / w], dim=1),
                torch.stack([sin, cos, -2 * shift[:, 0].double() / h], dim=1),
            ],
            dim=1,
        ).to(device=images.device, dtype=images.dtype)
        grid = F.affine_grid(theta, list(images.shape), align_corners=False)
        return F.grid_sample(images, grid, mode="bilinear", padding_mode="border", align_corners=False)


def _shift(images: torch.Tensor, shift: torch.Tensor) -> torch.Tensor:
    """Each image moved by whole pixels ``shift[i] = (dy, dx)``, the border replicated: exact, no resampling."""
    n, _, h, w = images.shape
    pad = int(shift.abs().max()) if len(shift) else 0
    if pad == 0:
        return images
    padded = F.pad(images, (pad, pad, pad, pad), mode="replicate")
    rows = (torch.arange(h)[None, :] - shift[:, :1] + pad).to(images.device)  # (n, h)
    cols = (torch.arange(w)[None, :] - shift[:, 1:] + pad).to(images.device)  # (n, w)
    batch = torch.arange(n, device=images.device)[:, None, None]
    # Advanced indexing puts the indexed dimensions first: (n, h, w, C) -> back to (n, C, h, w).
    return padded.permute(0, 2, 3, 1)[batch, rows[:, :, None], cols[:, None, :]].permute(0, 3, 1, 2)
