"""Capturing layer activations during one probe forward pass, reduced to one vector per sample.

A layer's output is first *selected* (a tuple or dict output gives one tensor) and then *reduced* to shape
``(batch, units)`` inside the forward hook, so that only a small matrix leaves the hook:

==================  ==========================================================================================
``"random_position"`` conv maps ``(N, C, *spatial)``: the ``C`` values at one spatial position per sample, drawn
                    once from a seeded generator (TopoAct's sampling), hence the same position every epoch
``"mean"``, ``"max"`` conv maps: global average / max pooling over the spatial positions
``"first_token"``   sequences ``(N, L, D)``: the first (``[CLS]``) token
``"mean_tokens"``   sequences: the mean over the non-padding tokens
``"random_token"``  sequences: one non-padding token per sample, drawn once from a seeded generator
``"flatten"``       any shape: ``output.reshape(N, -1)``
``"auto"``          2-D outputs as they are; 4-D and 5-D outputs, and 3-D outputs of 1-d convolution, pooling and
                    batch-norm layers, ``"random_position"``; other 3-D outputs ``"random_token"``
a callable          ``f(output) -> (N, D)`` tensor
==================  ==========================================================================================

The padding mask of sequences is ``True`` for real tokens; see :class:`BatchContext`.

Example:
    >>> import torch
    >>> ctx = BatchContext(indices=torch.arange(2), n_total=2, layer="conv", seed=0)
    >>> reduce_output(torch.ones(2, 8, 5, 5), "mean", ctx).shape
    torch.Size([2, 8])
"""

from __future__ import annotations

import functools
import zlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from topoact_lightning.errors import TopoActConfigError

Reduction = str | Callable[[torch.Tensor], torch.Tensor]
Selector = int | str | Callable[[Any], torch.Tensor] | None

REDUCTIONS = (
    "auto",
    "random_position",
    "mean",
    "max",
    "first_token",
    "mean_tokens",
    "random_token",
    "flatten",
)

# Layers whose 3-D output is channels-first (N, C, L) rather than a sequence (N, L, D).
_CHANNELS_FIRST_1D = (
    nn.Conv1d,
    nn.ConvTranspose1d,
    nn.MaxPool1d,
    nn.AvgPool1d,
    nn.AdaptiveAvgPool1d,
    nn.AdaptiveMaxPool1d,
    nn.BatchNorm1d,
    nn.InstanceNorm1d,
)


class CaptureError(RuntimeError):
    """A layer's output could not be captured (wrong selector, reduction or mask for its shape)."""


@dataclass
class BatchContext:
    """What a reduction needs to know about the current probe batch.

    ``indices``: the probe positions of the batch's samples (random draws are indexed by them, so they do not
    depend on batching or on the rank). ``token_mask``: ``(batch, length)`` booleans, ``True`` for real tokens.
    """

    indices: torch.Tensor
    n_total: int
    layer: str
    seed: int
    token_mask: torch.Tensor | None = None


def _layer_seed(seed: int, layer: str, salt: str) -> int:
    return (int(seed) * 1_000_003 + zlib.crc32(f"{salt}:{layer}".encode())) % (2**63 - 1)


# Every probe batch of every logged epoch asks for the same draw: make it once (callers only index it).
@functools.lru_cache(maxsize=64)
def random_positions(seed: int, layer: str, n_total: int, n_positions: int) -> torch.Tensor:
    """One position in ``range(n_positions)`` per probe sample; a pure function of its arguments."""
    g = torch.Generator().manual_seed(_layer_seed(seed, layer, f"pos{n_positions}"))
    return torch.randint(n_positions, (n_total,), generator=g)


@functools.lru_cache(maxsize=64)
def random_fractions(seed: int, layer: str, n_total: int) -> torch.Tensor:
    """One number in ``[0, 1)`` per probe sample, used to pick one of each sample's real tokens."""
    g = torch.Generator().manual_seed(_layer_seed(seed, layer, "token"))
    return torch.rand(n_total, generator=g, dtype=torch.float64)


def _as_tensor(output: Any, layer: str) -> torch.Tensor:
    if not isinstance(output, torch.Tensor):
        raise CaptureError(
            f"layer {layer!r} returned {type(output).__name__}, not a tensor; pass select={{{layer!r}: 0}} "
            "(an index), a key, or a callable that picks the tensor"
        )
    return output


def select_output(output: Any, selector: Selector, layer: str) -> torch.Tensor:
    """The tensor to reduce: the output itself, or one element of a tuple/list/dict output.

    ``None`` picks a tensor as is, the first element of a tuple or list (``nn.LSTM``, ``nn.MultiheadAttention``)
    and the first value of a mapping (``last_hidden_state`` of Hugging Face outputs).
    """
    if callable(selector):
        return _as_tensor(selector(output), layer)
    if selector is None:
        if isinstance(output, torch.Tensor):
            return output
        if isinstance(output, (tuple, list)) and output:
            return _as_tensor(output[0], layer)
        if isinstance(output, Mapping) and output:
            return _as_tensor(next(iter(output.values())), layer)
        return _as_tensor(output, layer)
    try:
        return _as_tensor(output[selector], layer)
    except (KeyError, IndexError, TypeError) as e:
        raise CaptureError(
            f"select={selector!r} does not apply to the output of layer {layer!r}: {e!r}"
        ) from e


def resolve_reduction(reduction: Reduction, module: nn.Module | None, ndim: int) -> Reduction:
    """Turn ``"auto"`` into a concrete reduction for an output of ``ndim`` dimensions."""
    if reduction != "auto":
        return reduction
    if ndim <= 2:
        return "flatten"
    if ndim == 3 and not isinstance(module, _CHANNELS_FIRST_1D):
        return "random_token"
    return "random_position"


def _token_mask(x: torch.Tensor, ctx: BatchContext) -> torch.Tensor:
    n, length = x.shape[0], x.shape[1]
    if ctx.token_mask is None:
        return torch.ones(n, length, dtype=torch.bool, device=x.device)
    mask = ctx.token_mask.to(x.device).bool()
    if tuple(mask.shape) != (n, length):
        raise CaptureError(
            f"the token mask has shape {tuple(mask.shape)} but layer {ctx.layer!r} gives {n} sequences of "
            f"length {length}; token_mask must be (batch, length) for the layers reduced over tokens"
        )
    return mask


def reduce_output(x: torch.Tensor, reduction: Reduction, ctx: BatchContext, module: nn.Module | None = None):
    """Reduce one layer output ``x`` (batch first) to ``(batch, units)``."""
    if x.ndim == 0:
        raise CaptureError(f"layer {ctx.layer!r} returned a scalar; it has no per-sample activations")
    n = x.shape[0]
    if n != len(ctx.indices):
        raise CaptureError(
            f"layer {ctx.layer!r} returned {n} rows for a batch of {len(ctx.indices)} samples; its output is "
            "not batch-first (use a callable reduction that puts the batch first)"
        )
    reduction = resolve_reduction(reduction, module, x.ndim)
    if callable(reduction):
        out = reduction(x)
        if not isinstance(out, torch.Tensor) or out.ndim != 2 or out.shape[0] != n:
            raise CaptureError(f"the reduction for layer {ctx.layer!r} must return a (batch, units) tensor")
        return out
    if reduction == "flatten":
        return x.reshape(n, -1)
    if x.ndim < 3:
        raise CaptureError(
            f"reduction {reduction!r} needs a map or a sequence, but layer {ctx.layer!r} gives shape "
            f"{tuple(x.shape)}; use 'flatten'"
        )
    if reduction in ("random_position", "mean", "max"):
        return _reduce_map(x, reduction, ctx)
    if reduction in ("first_token", "mean_tokens", "random_token"):
        return _reduce_tokens(x, reduction, ctx)
    raise CaptureError(
        f"unknown reduction {reduction!r}; choose one of {', '.join(REDUCTIONS)} or a callable"
    )


def _reduce_map(x: torch.Tensor, reduction: str, ctx: BatchContext) -> torch.Tensor:
    """``"random_position"``, ``"mean"`` or ``"max"`` of a channels-first map ``(N, C, *positions)``."""
    n = x.shape[0]
    flat = x.reshape(n, x.shape[1], -1)  # (N, C, positions)
    if reduction == "mean":
        return flat.mean(dim=2)
    if reduction == "max":
        return flat.amax(dim=2)
    pos = random_positions(ctx.seed, ctx.layer, ctx.n_total, flat.shape[2])
    pos = pos.to(x.device)[ctx.indices.to(x.device)]
    return flat[torch.arange(n, device=x.device), :, pos]


def _reduce_tokens(x: torch.Tensor, reduction: str, ctx: BatchContext) -> torch.Tensor:
    """``"first_token"``, ``"mean_tokens"`` or ``"random_token"`` of a sequence ``(N, L, *features)``."""
    n = x.shape[0]
    seq = x.reshape(n, x.shape[1], -1)  # (N, L, D)
    if reduction == "first_token":
        return seq[:, 0]
    mask = _token_mask(seq, ctx)
    counts = mask.sum(dim=1)
    if bool((counts == 0).any()):
        raise CaptureError(f"a probe sample has no real token at layer {ctx.layer!r} (all padding)")
    if reduction == "mean_tokens":
        m = mask.to(seq.dtype).unsqueeze(-1)
        return (seq * m).sum(dim=1) / counts.to(seq.dtype).unsqueeze(-1)
    # The k-th real token of each sequence, k drawn once per sample from a seeded generator.
    frac = random_fractions(ctx.seed, ctx.layer, ctx.n_total)[ctx.indices.cpu()]
    k = torch.clamp((frac * counts.cpu().double()).long(), max=counts.cpu() - 1).to(x.device)
    order = torch.cumsum(mask.long(), dim=1) - 1  # rank of each real token
    hit = mask & (order == k.unsqueeze(1))
    pos = hit.long().argmax(dim=1)
    return seq[torch.arange(n, device=x.device), pos]


def check_reduction(reduction: Any, where: str) -> None:
    """Raise :class:`TopoActConfigError` unless ``reduction`` is a known name or a callable."""
    if callable(reduction) or reduction in REDUCTIONS:
        return
    raise TopoActConfigError(
        f"{where}: unknown reduction {reduction!r}; choose one of {', '.join(REDUCTIONS)} or a callable "
        "f(output) -> (batch, units) tensor"
    )


class ActivationCapture:
    """Forward hooks on named modules that keep the reduced activations of one probe pass.

    Use as a context manager: hooks exist only inside the ``with`` block and are removed even on error.
    Set :attr:`context` before each forward; after the pass, :meth:`collect` returns one ``(n, units)``
    float32 tensor per layer, in the order the batches were run.
    """

    def __init__(
        self,
        modules: Mapping[str, nn.Module],
        reductions: Mapping[str, Reduction],
        selectors: Mapping[str, Selector],
        seed: int,
    ) -> None:
        self.modules = dict(modules)
        self.reductions = dict(reductions)
        self.selectors = dict(selectors)
        self.seed = seed
        self.context: BatchContext | None = None
        self._chunks: dict[str, list[torch.Tensor]] = {name: [] for name in self.modules}
        self._fired: dict[str, int] = dict.fromkeys(self.modules, 0)
        self._handles: list[Any] = []
        self._batch_id = 0
        self._last_batch: dict[str, int] = {}
        self.error: Exception | None = None

    def _hook(self, layer: str) -> Callable:
        def hook(module: nn.Module, args: Any, output: Any) -> None:
            ctx = self.context
            if ctx is None or self.error is not None:
                return
            self._fired[layer] += 1
            if self._last_batch.get(layer) == self._batch_id:
                # A module called twice in one forward (weight sharing): keep its first call only.
                return
            self._last_batch[layer] = self._batch_id
            try:
                x = select_output(output, self.selectors.get(layer), layer)
                local = BatchContext(ctx.indices, ctx.n_total, layer, self.seed, ctx.token_mask)
                r = reduce_output(x.detach(), self.reductions.get(layer, "auto"), local, module)
                # One small copy: a view would keep the whole activation map alive.
                self._chunks[layer].append(r.detach().to(dtype=torch.float32, copy=True))
            except Exception as e:  # reported after the forward, where it can name the layer and the fix
                self.error = e

        return hook

    def begin_batch(self, context: BatchContext) -> None:
        self.context = context
        self._batch_id += 1

    def __enter__(self) -> ActivationCapture:
        for name, module in self.modules.items():
            self._handles.append(module.register_forward_hook(self._hook(name)))
        return self

    def __exit__(self, *exc: Any) -> None:
        for h in self._handles:
            h.remove()
        self._handles.clear()
        self.context = None

    def silent_layers(self) -> list[str]:
        return [name for name, count in self._fired.items() if count == 0]

    def collect(self) -> dict[str, torch.Tensor]:
        if self.error is not None:
            raise self.error
        out = {}
        for name, chunks in self._chunks.items():
            if not chunks:
                continue
            widths = {c.shape[1] for c in chunks}
            if len(widths) > 1:
                raise CaptureError(
                    f"layer {name!r} gave vectors of different lengths {sorted(widths)} across batches; "
                    "pad the probe to one length or use a reduction that does not depend on it"
                )
            out[name] = torch.cat(chunks)
        return out


def strip_compile_prefix(name: str) -> str:
    """A module name with ``torch.compile``'s ``_orig_mod`` segments removed."""
    return ".".join(part for part in name.split(".") if part != "_orig_mod")


def module_index(root: nn.Module) -> dict[str, tuple[str, nn.Module]]:
    """Every addressable name -> (real name, module); compiled submodules are reachable by their plain names."""
    index: dict[str, tuple[str, nn.Module]] = {}
    for name, module in root.named_modules():
        if not name:
            continue
        index.setdefault(name, (name, module))
        plain = strip_compile_prefix(name)
        if plain:
            index.setdefault(plain, (name, module))
    return index


def default_layers(root: nn.Module, count: int = 2) -> list[str]:
    """The default layers to watch: the last ``count`` Linear/ConvNd modules before the output layer.

    Modules are taken in registration order; the last Linear or convolution is assumed to be the output layer
    (class logits) and left out, unless it is the only one.
    """
    names = [
        strip_compile_prefix(n)
        for n, m in root.named_modules()
        if n and isinstance(m, (nn.Linear, nn.Conv1d, nn.Conv2d, nn.Conv3d, nn.LazyLinear))
    ]
    names = list(dict.fromkeys(names))
    if len(names) <= 1:
        return names
    return names[:-1][-count:]


def closest_names(name: str, candidates: Sequence[str], n: int = 5) -> list[str]:
    import difflib

    return difflib.get_close_matches(name, list(candidates), n=n, cutoff=0.3)


def find_module(
    root: nn.Module,
    name: str,
    owner: str = "TopoActMonitor",
    index: dict[str, tuple[str, nn.Module]] | None = None,
) -> nn.Module:
    """The module called ``name`` (compiled or not); an unknown name fails naming ``owner`` and close names."""
    index = module_index(root) if index is None else index
    if name not in index:
        near = closest_names(name, [n for n in index if "_orig_mod" not in n])
        hint = f"; did you mean {', '.join(map(repr, near))}?" if near else ""
        raise TopoActConfigError(
            f"{owner}: the model has no module named {name!r}{hint} (names are those of model.named_modules())"
        )
    return index[name][1]


def resolve_layers(pl_module: nn.Module, layers: list[str] | None) -> dict[str, nn.Module]:
    """The watched modules by name (the default layers when ``layers`` is None); unknown names fail with hints."""
    index = module_index(pl_module)
    names = list(layers) if layers else default_layers(pl_module)
    if not names:
        raise TopoActConfigError(
            "TopoActMonitor found no Linear or Conv layer to watch by default; pass layers=[...] with names "
            "from model.named_modules()"
        )
    modules = {name: find_module(pl_module, name, index=index) for name in names}
    if layers is None:
        from lightning_utilities.core.rank_zero import rank_zero_info

        rank_zero_info(f"TopoActMonitor: watching layers {names} (pass layers=[...] to choose)")
    return modules
