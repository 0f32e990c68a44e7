"""The probe: a fixed set of samples whose activations are captured at every logged epoch.

:func:`build_probe` turns what the user gave (tensors, a dataset, a data loader, or a number of samples to draw
from the validation data) into a :class:`Probe`: input batches kept on the CPU in a fixed order, and labels.
Batches are cut once, so every epoch and every process runs the same samples in the same batches.

How a batch is split into inputs and labels: a tensor is inputs only; a tuple or list is ``(inputs, labels, ...)``;
a mapping is its entries, minus a ``label``/``labels``/``y``/``target``/``targets`` entry holding the labels.

Labels (:func:`encode_labels`) become class indices ``0..k-1`` (``-1``: unknown) with a name per class. Small
non-negative integer ids (below :data:`DENSE_LIMIT`) are class indices as they are; other ids (sparse or large, up
to uint64) are mapped to dense indices in sorted order, and their original ids become the class names; strings
become class names. So histograms are sized by the classes present, never by the largest id.

Example:
    >>> import torch
    >>> p = build_probe((torch.zeros(5, 3), torch.tensor([0, 1, 0, 1, 1])), batch_size=2)
    >>> p.n, [len(b) for b in p.batches], p.labels.tolist()
    (5, [2, 2, 1], [0, 1, 0, 1, 1])
    >>> p = build_probe((torch.zeros(3, 2), ["cat", "dog", "cat"]))
    >>> p.labels.tolist(), p.class_names
    ([0, 1, 0], ['cat', 'dog'])
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, IterableDataset, Subset

from topoact_lightning.errors import TopoActConfigError

LABEL_KEYS = ("label", "labels", "y", "target", "targets")
PROBE_HELP = (
    "probe must be a tensor of inputs, a pair (inputs, labels), a Dataset, a DataLoader, or an int (the number of "
    "samples to draw from the validation data)"
)

# The probe pass runs without gradients, so its batch size only trades per-call overhead against cache misses. On
# the CPU small batches win: each layer's output stays in cache (measured in BENCHMARKS.md). An accelerator wants
# fewer, larger launches.
CPU_BATCH_SIZE = 64
#: Integer labels below this are class indices as given; a probe with a larger id gets dense indices instead.
DENSE_LIMIT = 1024
ACCELERATOR_BATCH_SIZE = 256


def default_batch_size(device: torch.device | str) -> int:
    """The probe batch size used when none is given: 64 on the CPU, 256 on an accelerator.

    Example:
        >>> default_batch_size("cpu"), default_batch_size("cuda:0")
        (64, 256)
    """
    return CPU_BATCH_SIZE if torch.device(device).type == "cpu" else ACCELERATOR_BATCH_SIZE


@dataclass
class Probe:
    """Fixed probe batches (CPU), the probe position of each batch's first sample, and labels (``-1`` unknown)."""

    batches: list[Any]
    starts: list[int]
    sizes: list[int]
    labels: np.ndarray | None = None
    class_names: list[str] | None = None
    source: str = ""
    #: Each sample's class as the model's output indexes classes (``-1``: unknown), for ``correct`` and ``loss``:
    #: ``labels`` itself unless ids were mapped to dense indices; None when labels are strings without
    #: ``class_names`` or ids beyond int64.
    targets: np.ndarray | None = None

    def __post_init__(self) -> None:
        if self.targets is None:
            self.targets = self.labels

    @property
    def n(self) -> int:
        return int(sum(self.sizes))


def batch_len(x: Any) -> int:
    if isinstance(x, torch.Tensor):
        if x.ndim == 0:
            raise TopoActConfigError("a probe input is a scalar tensor; inputs need a batch dimension")
        return int(x.shape[0])
    if isinstance(x, Mapping):
        for v in x.values():
            if isinstance(v, torch.Tensor) and v.ndim > 0:
                return int(v.shape[0])
    if isinstance(x, (tuple, list)) and x:
        return batch_len(x[0])
    raise TopoActConfigError(f"cannot tell the number of samples in a probe batch of type {type(x).__name__}")


def split_batch(batch: Any) -> tuple[Any, Any]:
    """``(inputs, labels or None)`` of one batch, by the rules in the module docstring."""
    if isinstance(batch, torch.Tensor):
        return batch, None
    if isinstance(batch, Mapping):
        key = next((k for k in LABEL_KEYS if k in batch), None)
        if key is None:
            return batch, None
        return {k: v for k, v in batch.items() if k != key}, batch[key]
    if isinstance(batch, (tuple, list)):
        if len(batch) == 0:
            raise TopoActConfigError("a probe batch is empty")
        return batch[0], (batch[1] if len(batch) > 1 else None)
    return batch, None


def _labels_array(y: Any, n: int, where: str) -> np.ndarray:
    """One batch's labels as a 1-D numpy array of integers (any width, signed or not) or strings."""
    a = y.detach().cpu().numpy() if isinstance(y, torch.Tensor) else np.asarray(y)
    if a.ndim != 1 or a.shape[0] != n:
        raise TopoActConfigError(
            f"{where}: labels have shape {tuple(a.shape)} but the inputs hold {n} samples; labels must be one "
            "class id or name per sample (shape (n,)), or pass the inputs alone"
        )
    if a.dtype.kind in "iu":
        return a
    if a.dtype.kind in "US" or (a.dtype == object and all(isinstance(v, str) for v in a)):
        return a.astype(str)
    if a.dtype.kind == "f" and np.isfinite(a).all() and np.all(a == np.round(a)):
        return a.astype(np.int64)
    raise TopoActConfigError(
        f"{where}: labels must be integer class ids or strings, got dtype {a.dtype}; pass probe=(inputs, "
        "labels.long()), or probe=inputs alone"
    )


def encode_labels(
    raw: np.ndarray, class_names: Sequence[str] | None, where: str
) -> tuple[np.ndarray, list | None]:
    """Class indices (``-1``: unknown) and class names for the probe's labels (see the module docstring).

    Example:
        >>> codes, names = encode_labels(np.array([10**9, 7, 10**9, -1]), None, "probe")
        >>> codes.tolist(), names
        ([1, 0, 1, -1], ['7', '1000000000'])
        >>> encode_labels(np.array([0, 3]), ["a", "b"], "probe")
        Traceback (most recent call last):
        ...
        topoact_lightning.errors.TopoActConfigError: probe: a probe label is 3 but only 2 class_names were given; give a name for every class, or leave class_names out to use the ids as names
    """
    names = list(class_names) if class_names is not None else None
    if raw.dtype.kind == "U":
        return _encode_strings(raw, names, where)
    if raw.dtype.kind == "i" and raw.size and raw.min() < -1:
        raise TopoActConfigError(
            f"{where}: a probe label is {int(raw.min())}; class ids must be >= 0, with -1 for an unknown label"
        )
    known = raw != -1 if raw.dtype.kind == "i" else np.ones(raw.shape, dtype=bool)
    if names is not None:
        if known.any() and raw[known].max() >= len(names):
            raise TopoActConfigError(
                f"{where}: a probe label is {int(raw[known].max())} but only {len(names)} class_names were given; "
                "give a name for every class, or leave class_names out to use the ids as names"
            )
        return raw.astype(np.int64), names
    if not known.any() or raw[known].max() < DENSE_LIMIT:
        return raw.astype(np.int64), None
    ids, inverse = np.unique(raw[known], return_inverse=True)
    codes = np.full(raw.shape, -1, dtype=np.int64)
    codes[known] = inverse
    return codes, [str(int(i)) for i in ids]


def _encode_strings(raw: np.ndarray, names: list | None, where: str) -> tuple[np.ndarray, list]:
    if names is None:
        ids, inverse = np.unique(raw, return_inverse=True)
        return inverse.astype(np.int64), [str(i) for i in ids]
    index = {str(name): k for k, name in enumerate(names)}
    unknown = sorted({v for v in raw.tolist() if v not in index})
    if unknown:
        raise TopoActConfigError(
            f"{where}: probe labels {unknown[:5]} are not among class_names={names[:10]}; give every class a name, "
            "or leave class_names out to use the labels as names"
        )
    return np.array([index[v] for v in raw.tolist()], dtype=np.int64), names


def _chunk(x: Any, start: int, stop: int) -> Any:
    if isinstance(x, torch.Tensor):
        return x[start:stop]
    if isinstance(x, Mapping):
        return {
            k: (_chunk(v, start, stop) if isinstance(v, torch.Tensor) and v.ndim > 0 else v)
            for k, v in x.items()
        }
    if isinstance(x, (tuple, list)):
        return type(x)(_chunk(v, start, stop) for v in x)
    return x


def _from_batches(batches: Sequence[Any], where: str) -> tuple[list[Any], list[int], np.ndarray | None]:
    xs, sizes, labels = [], [], []
    has_labels = None
    for batch in batches:
        x, y = split_batch(batch)
        n = batch_len(x)
        if has_labels is None:
            has_labels = y is not None
        elif has_labels != (y is not None):
            raise TopoActConfigError(f"{where}: some probe batches have labels and others do not")
        if y is not None:
            labels.append(_labels_array(y, n, where))
        xs.append(_to_cpu(x))
        sizes.append(n)
    if not xs:
        raise TopoActConfigError(f"{where}: the probe is empty")
    return xs, sizes, (_concat_labels(labels, where) if has_labels else None)


def _concat_labels(parts: list[np.ndarray], where: str) -> np.ndarray:
    kinds = {p.dtype.kind for p in parts}
    if len(kinds) > 1 and "U" in kinds:
        raise TopoActConfigError(f"{where}: some probe labels are strings and others numbers; use one kind")
    if kinds == {"i", "u"}:  # signed and unsigned batches: keep every id exact
        if all(p.max(initial=0) <= np.iinfo(np.int64).max for p in parts if p.dtype.kind == "u"):
            return np.concatenate([p.astype(np.int64) for p in parts])
        if any(p.min(initial=0) < 0 for p in parts if p.dtype.kind == "i"):
            raise TopoActConfigError(f"{where}: probe labels mix negative ids with ids above 2**63")
        return np.concatenate([p.astype(np.uint64) for p in parts])
    return np.concatenate(parts)


def _to_cpu(x: Any) -> Any:
    if isinstance(x, torch.Tensor):
        return x.detach().cpu()
    if isinstance(x, Mapping):
        return {k: _to_cpu(v) for k, v in x.items()}
    if isinstance(x, (tuple, list)):
        return type(x)(_to_cpu(v) for v in x)
    return x


def _rebatch(xs: list[Any], sizes: list[int], batch_size: int) -> tuple[list[Any], list[int]]:
    """Cut tensor inputs into batches of ``batch_size`` (other inputs keep their own batches)."""
    if not all(isinstance(x, torch.Tensor) for x in xs):
        return xs, sizes
    full = torch.cat(xs) if len(xs) > 1 else xs[0]
    n = full.shape[0]
    out = [full[i : i + batch_size] for i in range(0, n, batch_size)]
    return out, [len(b) for b in out]


def _dataset_classes(dataset: Any) -> list[str] | None:
    while isinstance(dataset, Subset):
        dataset = dataset.dataset
    classes = getattr(dataset, "classes", None)
    if isinstance(classes, (list, tuple)) and classes and all(isinstance(c, str) for c in classes):
        return list(classes)
    return None


def _draw(loader: DataLoader, n: int, seed: int, batch_size: int) -> tuple[list[Any], list[str] | None]:
    dataset = loader.dataset
    classes = _dataset_classes(dataset)
    collate = loader.collate_fn
    if not isinstance(dataset, IterableDataset) and hasattr(dataset, "__len__"):
        total = len(dataset)
        if n > total:
            raise TopoActConfigError(
                f"probe={n} asks for more samples than the validation data holds ({total}); use probe<={total}"
            )
        g = torch.Generator().manual_seed(seed)
        idx = torch.randperm(total, generator=g)[:n].sort().values.tolist()
        sub = DataLoader(Subset(dataset, idx), batch_size=batch_size, shuffle=False, collate_fn=collate)
        return list(sub), classes
    # An iterable dataset cannot be indexed: take its first n samples, which a fixed iterable yields each time.
    batches, got = [], 0
    for batch in loader:
        x, _ = split_batch(batch)
        k = batch_len(x)
        take = min(k, n - got)
        batches.append(_chunk(batch, 0, take) if take < k else batch)
        got += take
        if got >= n:
            break
    if got < n:
        raise TopoActConfigError(f"probe={n} asks for more samples than the validation data yields ({got})")
    return batches, classes


def validation_loader(trainer: Any) -> DataLoader | None:
    """The validation loader the trainer will use, without running the validation loop; ``None`` if none."""
    sources = []
    try:
        sources.append(trainer.fit_loop.epoch_loop.val_loop._data_source)
    except AttributeError:
        pass
    for source in sources:
        try:
            if source.is_defined():
                loaders = source.dataloader()
            else:
                continue
        except Exception:
            continue
        if isinstance(loaders, DataLoader):
            return loaders
        if isinstance(loaders, (list, tuple)) and loaders and isinstance(loaders[0], DataLoader):
            return loaders[0]
        if isinstance(loaders, Mapping) and loaders:
            first = next(iter(loaders.values()))
            if isinstance(first, DataLoader):
                return first
    return None


def build_probe(
    spec: Any,
    batch_size: int = 256,
    seed: int = 0,
    trainer: Any = None,
    class_names: Sequence[str] | None = None,
) -> Probe:
    """Materialise a probe spec into fixed CPU batches (see the module docstring)."""
    where = "TopoActMonitor(probe=...)"
    classes = None
    if isinstance(spec, bool):
        raise TopoActConfigError(f"{PROBE_HELP}; got {spec!r}")
    if isinstance(spec, int):
        if spec < 2:
            raise TopoActConfigError(
                f"{where}: probe={spec} is too small; draw at least a few hundred samples"
            )
        loader = validation_loader(trainer) if trainer is not None else None
        if loader is None:
            raise TopoActConfigError(
                f"probe={spec} draws samples from the validation data, but this fit has none; pass "
                "val_dataloaders to fit() (or a datamodule with val_dataloader), or give the probe as tensors"
            )
        raw, classes = _draw(loader, spec, seed, batch_size)
        source = f"{spec} samples drawn from the validation data (seed {seed})"
    elif isinstance(spec, np.ndarray) or isinstance(spec, torch.Tensor):
        raw = [torch.as_tensor(spec)]
        source = "tensor"
    elif isinstance(spec, tuple) and len(spec) == 2 and not isinstance(spec[0], (int, str)):
        x, y = spec
        x = torch.as_tensor(x) if isinstance(x, np.ndarray) else x
        if y is not None:
            _labels_array(y, batch_len(x), where)
        raw = [(x, y) if y is not None else x]
        source = "tensors"
    elif isinstance(spec, DataLoader):
        raw = list(spec)
        classes = _dataset_classes(spec.dataset)
        source = "data loader"
    elif isinstance(spec, Dataset):
        raw = list(DataLoader(spec, batch_size=batch_size, shuffle=False))
        classes = _dataset_classes(spec)
        source = "dataset"
    else:
        raise TopoActConfigError(f"{PROBE_HELP}; got {type(spec).__name__}")
    xs, sizes, labels = _from_batches(raw, where)
    xs, sizes = _rebatch(xs, sizes, batch_size)
    starts = [int(s) for s in np.concatenate([[0], np.cumsum(sizes)[:-1]])]
    names = list(class_names) if class_names is not None else classes
    targets = None
    if labels is not None:
        raw = labels
        labels, names = encode_labels(raw, names, where)
        targets = labels
        if raw.dtype.kind in "iu" and names is not None and class_names is None and classes is None:
            # Ids mapped to dense indices: the model's classes are the original ids (when they fit in int64).
            fits = raw.dtype.kind == "i" or raw.max(initial=0) <= np.iinfo(np.int64).max
            targets = raw.astype(np.int64) if fits else None
        elif raw.dtype.kind == "U" and class_names is None and classes is None:
            targets = None  # the model's index of a class named by a string is not known
    probe = Probe(batches=xs, starts=starts, sizes=sizes, labels=labels, class_names=names, source=source)
    probe.targets = targets
    return probe


def thumbnails(probe: Probe, max_size: int = 32) -> np.ndarray | None:
    """``uint8`` images ``(n, h, w, c)`` of the probe when its inputs are image tensors ``(N, C, H, W)``, C in 1/3.

    Values are scaled with one min/max over the whole probe (normalised inputs become viewable again) and the
    images are shrunk so that their longer side is at most ``max_size``.
    """
    batches = probe.batches
    if not all(isinstance(b, torch.Tensor) and b.ndim == 4 and b.shape[1] in (1, 3) for b in batches):
        return None
    if batches[0].shape[2] < 4 or batches[0].shape[3] < 4:
        return None
    # Batch by batch: a float copy of a whole probe of large images would not fit in memory.
    lo = min(float(torch.nan_to_num(b.float()).amin()) for b in batches)
    hi = max(float(torch.nan_to_num(b.float()).amax()) for b in batches)
    span = hi - lo if hi > lo else 1.0
    out = []
    for b in batches:
        x = (torch.nan_to_num(b.float()) - lo) / span
        h, w = x.shape[2], x.shape[3]
        scale = min(1.0, max_size / max(h, w))
        if scale < 1.0:
            size = (max(1, round(h * scale)), max(1, round(w * scale)))
            x = torch.nn.functional.interpolate(
                x, size=size, mode="bilinear", antialias=True, align_corners=False
            )
        out.append((x.clamp(0, 1) * 255).round().to(torch.uint8).permute(0, 2, 3, 1).contiguous())
    return torch.cat(out).numpy()
