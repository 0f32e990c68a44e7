"""The optimisation behind feature images: the objective, its two phases, and the attempts kept.

:func:`optimise_images` runs Adam on a batch of :class:`~topoact_lightning.monitor.image_space.FourierImages`, one
per direction and attempt, in two phases:

1. **The recipe** (the first ``1 - polish`` of the steps): Lucid's Activation Atlas objective
   :func:`direction_objective`, through random transformations
   (:class:`~topoact_lightning.monitor.image_transforms.Robustness`). The product with the dot rewards a strong
   activation, so the image becomes a vivid, robust pattern rather than a faint one; it also drives pixels into the
   sigmoid's flat tails and leaves the cosine short of what the image could reach (0.8 to 0.99 on the digits).
2. **The polish** (the last ``polish`` of the steps): the cosine alone, without transformations, at the exact
   position the graph looked at. The images are first re-expressed with their pixels pulled just off the
   sigmoid's tails (:meth:`~topoact_lightning.monitor.image_space.FourierImages.reset_to`), so gradients reach
   them again, and Adam restarts (the objective's scale changed). It stays in the Fourier basis, so it changes
   the picture smoothly; on the digits it lifts the cosine above 0.99 while the strokes stay.

Each direction is rendered ``attempts`` times from different random starts in the same batch and the attempt
with the highest final cosine is kept, as Lucid does: a start whose ReLUs switch off units the direction needs
cannot switch them back on (no gradient flows through a ReLU at zero), and another start usually avoids that.

Example:
    >>> import torch
    >>> from torch import nn
    >>> from topoact_lightning.monitor.feature_target import LayerTap, LayerTarget
    >>> from topoact_lightning.monitor.image_space import ImageSpace
    >>> from topoact_lightning.monitor.image_transforms import Robustness
    >>> torch.manual_seed(0)  # doctest: +ELLIPSIS
    <torch._C.Generator object at ...>
    >>> model = nn.Sequential(nn.Flatten(), nn.Linear(16, 3)).eval().requires_grad_(False)
    >>> directions = model(torch.rand(3, 1, 4, 4))  # outputs the model can reach
    >>> recipe = Recipe(steps=40, lr=0.05, cosine_power=2.0, polish=0.5, attempts=2, robustness=Robustness())
    >>> with LayerTap(model[1]) as tap:
    ...     x, cos = optimise_images(model, tap, LayerTarget("1", "flatten", None, 3),
    ...                              ImageSpace.from_shape((1, 4, 4)), directions, recipe, seed=0)
    >>> tuple(x.shape), bool((cos > 0.99).all())
    ((3, 1, 4, 4), True)
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from topoact_lightning.monitor.feature_target import LayerTap, LayerTarget
from topoact_lightning.monitor.image_space import FourierImages, ImageSpace
from topoact_lightning.monitor.image_transforms import Robustness

#: Lucid's floor on the cosine: below it the objective still rewards moving towards the direction.
COSINE_FLOOR = 0.1


@dataclass(frozen=True)
class Recipe:
    """The optimisation's settings (see :func:`~topoact_lightning.monitor.feature_images.render_feature_images`)."""

    steps: int
    lr: float
    cosine_power: float
    polish: float
    attempts: int
    robustness: Robustness


def direction_objective(
    activations: torch.Tensor, directions: torch.Tensor, cosine_power: float = 2.0
) -> torch.Tensor:
    """Lucid's Activation Atlas objective per row: ``dot * max(cos, 0.1) ** cosine_power``.

    ``dot`` is the projection of each activation on its (unit) direction.

    Example:
        >>> a = torch.tensor([[2.0, 0.0], [1.0, 1.0], [-1.0, 0.0]])
        >>> d = torch.tensor([[1.0, 0.0], [1.0, 0.0], [1.0, 0.0]])
        >>> [round(v, 3) for v in direction_objective(a, d).tolist()]
        [2.0, 0.5, -0.01]
    """
    unit = directions / directions.norm(dim=1, keepdim=True).clamp_min(1e-12)
    dot = (activations * unit).sum(dim=1)
    cos = dot / (activations.norm(dim=1) + 1e-6)
    return dot * cos.clamp_min(COSINE_FLOOR) ** cosine_power


def _cosine(activations: torch.Tensor, directions: torch.Tensor) -> torch.Tensor:
    return nn.functional.cosine_similarity(activations, directions, dim=1, eps=1e-12)


def optimise_images(
    model: nn.Module,
    tap: LayerTap,
    target: LayerTarget,
    space: ImageSpace,
    directions: torch.Tensor,
    recipe: Recipe,
    seed: int,
    device: torch.device | str = "cpu",
    dtype: torch.dtype = torch.float32,
) -> tuple[torch.Tensor, torch.Tensor]:
    """One image per direction: the best attempt's image (model units, float32 on the CPU) and its cosine.

    ``model`` must be frozen and in eval mode, with gradients enabled (the caller's job). Rows are independent:
    a direction whose optimisation turns NaN poisons only its own images, and gets a NaN cosine.
    """
    n = len(directions)
    generator = torch.Generator().manual_seed(seed)
    images = FourierImages(n * recipe.attempts, space, generator).to(device)
    directions = directions.to(device).repeat(recipe.attempts, 1)
    n_polish = round(recipe.steps * recipe.polish)

    optimiser = torch.optim.Adam(images.parameters(), lr=recipe.lr)
    for _ in range(recipe.steps - n_polish):
        optimiser.zero_grad(set_to_none=True)
        x = recipe.robustness(space.to_model(images()), generator).to(dtype)
        acts = target.vectors(tap.run(model, x)).float()
        (-direction_objective(acts, directions, recipe.cosine_power).sum()).backward()
        optimiser.step()

    if n_polish:
        images.reset_to(images().detach())
        optimiser = torch.optim.Adam(images.parameters(), lr=recipe.lr)
    for _ in range(n_polish):
        optimiser.zero_grad(set_to_none=True)
        acts = target.vectors(tap.run(model, space.to_model(images()).to(dtype))).float()
        (-_cosine(acts, directions).sum()).backward()
        optimiser.step()

    with torch.no_grad():
        x = space.to_model(images()).to(dtype)
        cosine = _cosine(target.vectors(tap.run(model, x)).float(), directions).cpu()
    x = x.float().cpu().reshape(recipe.attempts, n, *x.shape[1:])
    cosine = cosine.reshape(recipe.attempts, n)
    best = torch.nan_to_num(cosine, nan=-2.0).argmax(dim=0)
    columns = torch.arange(n)
    return x[best, columns], cosine[best, columns]
