"""Where feature images live: the model's input images, and the Fourier parameterisation that draws them.

:class:`ImageSpace` holds what a rendered image must share with the model's real inputs: its shape
``(channels, height, width)``, each channel's value range in the model's input units (so a normalised CIFAR model
sees normalised pixels, a digits model pixels in ``[0, 1]``), and the colour correlation used to decorrelate the
parameterisation. :meth:`ImageSpace.from_inputs` reads all three from probe images.

:class:`FourierImages` is a batch of images parameterised as Lucid does (Olah et al., *Feature Visualization*,
Distill 2017): a spectrum per image and channel, scaled by ``1 / frequency`` so that every frequency is equally
easy to change (plain pixels let the optimiser paint high-frequency noise first), turned into pixels by an
inverse FFT, then mixed by the square root of the colour correlation (so the optimiser moves along decorrelated
colour axes) and squashed by a sigmoid into ``[0, 1]``. :meth:`ImageSpace.to_model` maps those unit pixels into
the model's value range.

Example:
    >>> import torch
    >>> space = ImageSpace.from_inputs(torch.rand(20, 3, 8, 8) * 2 - 1)
    >>> space.shape, all(-1 <= lo < hi <= 1 for lo, hi in zip(space.low, space.high))
    ((3, 8, 8), True)
    >>> images = FourierImages(4, space, generator=torch.Generator().manual_seed(0))
    >>> x = space.to_model(images())
    >>> tuple(x.shape), bool((x >= -1).all() and (x <= 1).all())
    ((4, 3, 8, 8), True)
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import nn

#: Lucid's square root of ImageNet's colour correlation (RGB), the default for 3-channel models without a probe.
IMAGENET_COLOUR_SQRT = np.array(
    [[0.26, 0.09, 0.02], [0.27, 0.00, -0.05], [0.27, -0.09, 0.03]],
    dtype=np.float64,
)

# A share of the mean colour variance added to the covariance before its square root: a grey probe (three equal
# channels) would otherwise leave the parameterisation no way to leave grey at all.
_COLOUR_RIDGE = 0.01


def colour_sqrt(covariance: np.ndarray) -> np.ndarray:
    """The symmetric square root of a colour covariance, scaled so that its largest column has norm 1.

    Lucid normalises its ImageNet matrix the same way: unit-scale parameters then give unit-scale pixels before
    the sigmoid, whatever the data's contrast.

    Example:
        >>> colour_sqrt(np.eye(3) * 4.0).round(3).tolist()
        [[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]]
    """
    cov = np.asarray(covariance, dtype=np.float64)
    cov = (cov + cov.T) / 2 + _COLOUR_RIDGE * max(float(np.trace(cov)) / len(cov), 1e-12) * np.eye(len(cov))
    vals, vecs = np.linalg.eigh(cov)
    root = (vecs * np.sqrt(np.clip(vals, 0.0, None))) @ vecs.T
    return root / np.linalg.norm(root, axis=0).max()


@dataclass(frozen=True)
class ImageSpace:
    """The model's input images: shape, each channel's value range (model units), colour correlation.

    Args:
        channels, height, width: the input shape of one image (``channels`` is 1 or 3).
        low, high: each channel's smallest and largest value in the model's input units.
        colour: ``(channels, channels)`` square root of the colour correlation of unit pixels, normalised by
            :func:`colour_sqrt` (identity for one channel).
    """

    channels: int
    height: int
    width: int
    low: tuple[float, ...]
    high: tuple[float, ...]
    colour: np.ndarray = field(repr=False, compare=False)

    @property
    def shape(self) -> tuple[int, int, int]:
        return (self.channels, self.height, self.width)

    @classmethod
    def from_shape(
        cls,
        shape: Sequence[int],
        value_range: tuple[float | Sequence[float], float | Sequence[float]] = (0.0, 1.0),
    ) -> ImageSpace:
        """An image space from an input shape ``(C, H, W)`` and a value range (one pair, or one value per channel).

        Without a probe the colours are decorrelated with ImageNet's statistics (Lucid's matrix) for 3 channels.
        """
        c, h, w = (int(v) for v in shape)
        low = np.broadcast_to(np.asarray(value_range[0], dtype=np.float64), (c,))
        high = np.broadcast_to(np.asarray(value_range[1], dtype=np.float64), (c,))
        colour = (
            IMAGENET_COLOUR_SQRT / np.linalg.norm(IMAGENET_COLOUR_SQRT, axis=0).max() if c == 3 else np.eye(c)
        )
        return cls(c, h, w, tuple(map(float, low)), tuple(map(float, high)), colour)

    @classmethod
    def from_inputs(cls, inputs: torch.Tensor | Sequence[torch.Tensor]) -> ImageSpace:
        """The image space of probe images ``(N, C, H, W)`` (one tensor or a list of batches).

        Each channel's range is its minimum and maximum over the probe; the colour correlation is the covariance
        of the probe's pixels scaled into that range (accumulated batch by batch, in float64).
        """
        batches = [inputs] if isinstance(inputs, torch.Tensor) else list(inputs)
        c, h, w = batches[0].shape[1:]
        low = torch.stack([b.detach().double().amin(dim=(0, 2, 3)).cpu() for b in batches]).amin(0)
        high = torch.stack([b.detach().double().amax(dim=(0, 2, 3)).cpu() for b in batches]).amax(0)
        span = torch.where(high > low, high - low, torch.ones_like(high))
        total, outer, count = torch.zeros(c, dtype=torch.float64), torch.zeros(c, c, dtype=torch.float64), 0
        for b in batches:
            unit = (b.detach().double().cpu() - low[:, None, None]) / span[:, None, None]
            pixels = unit.permute(0, 2, 3, 1).reshape(-1, c)
            total += pixels.sum(0)
            outer += pixels.T @ pixels
            count += len(pixels)
        mean = total / count
        cov = (outer / count - torch.outer(mean, mean)).numpy()
        high = torch.where(high > low, high, low + 1)  # a constant channel still gets a range to move in
        return cls(int(c), int(h), int(w), tuple(low.tolist()), tuple(high.tolist()), colour_sqrt(cov))

    def to_model(self, unit: torch.Tensor) -> torch.Tensor:
        """Unit pixels ``(n, C, H, W)`` in ``[0, 1]`` -> the model's input units."""
        low = unit.new_tensor(self.low)[:, None, None]
        high = unit.new_tensor(self.high)[:, None, None]
        return low + (high - low) * unit

    def to_unit(self, x: torch.Tensor) -> torch.Tensor:
        """The inverse of :meth:`to_model`."""
        low = x.new_tensor(self.low)[:, None, None]
        high = x.new_tensor(self.high)[:, None, None]
        return (x - low) / (high - low)


def spectrum_scale(height: int, width: int, decay_power: float = 1.0) -> torch.Tensor:
    """``(height, width // 2 + 1)`` weights of the real FFT's frequencies: ``1 / max(f, 1 / max(h, w)) ** decay``.

    Example:
        >>> spectrum_scale(4, 4).shape
        torch.Size([4, 3])
    """
    fy = torch.fft.fftfreq(height, dtype=torch.float64)[:, None]
    fx = torch.fft.rfftfreq(width, dtype=torch.float64)[None, :]
    freqs = torch.sqrt(fx**2 + fy**2)
    scale = 1.0 / torch.clamp(freqs, min=1.0 / max(height, width)) ** decay_power
    return (scale * np.sqrt(height * width)).float()


class FourierImages(nn.Module):
    """``n`` images in a decorrelated Fourier basis; calling it gives unit pixels ``(n, C, H, W)`` in ``[0, 1]``.

    Args:
        n: number of images.
        space: the image space (shape and colour correlation).
        generator: the CPU generator of the initial spectrum (small normal values, so every image starts grey).
        sd: standard deviation of the initial spectrum.
        decay_power: how fast the spectrum's weight falls with frequency (1: every frequency equally easy).
    """

    def __init__(
        self,
        n: int,
        space: ImageSpace,
        generator: torch.Generator,
        sd: float = 0.01,
        decay_power: float = 1.0,
    ) -> None:
        super().__init__()
        c, h, w = space.shape
        self.size = (h, w)
        init = torch.randn(n, c, h, w // 2 + 1, 2, generator=generator) * sd
        self.spectrum = nn.Parameter(init)
        self.register_buffer("scale", spectrum_scale(h, w, decay_power)[None, None, :, :, None])
        self.register_buffer("colour", torch.as_tensor(space.colour, dtype=torch.float32))

    def forward(self) -> torch.Tensor:
        spectrum = torch.view_as_complex((self.spectrum * self.scale).contiguous())
        # Lucid divides by 4 so that the initial pixels sit well inside the sigmoid's linear part.
        pixels = torch.fft.irfftn(spectrum, s=self.size, dim=(2, 3), norm="ortho") / 4.0
        mixed = torch.einsum("dc,nchw->ndhw", self.colour, pixels)
        return torch.sigmoid(mixed)

    @torch.no_grad()
    def reset_to(self, unit: torch.Tensor, margin: float = 0.02) -> None:
        """Set the spectrum so that the images become ``unit`` pixels squeezed into ``[margin, 1 - margin]``.

        An optimisation that drove pixels deep into the sigmoid's flat tails can barely move them back; this
        keeps the picture and restores the gradients (the parameterisation is invertible).
        """
        squeezed = margin + (1 - 2 * margin) * unit.clamp(0, 1)
        pixels = torch.einsum("dc,nchw->ndhw", torch.linalg.inv(self.colour), torch.logit(squeezed)) * 4.0
        spectrum = torch.fft.rfftn(pixels, dim=(2, 3), norm="ortho")
        self.spectrum.copy_(torch.view_as_real(spectrum) / self.scale)
