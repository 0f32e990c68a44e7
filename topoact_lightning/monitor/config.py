"""The monitor's configuration: every constructor check, and the per-layer settings resolved once per fit.

:class:`MonitorConfig` holds what the user passed to :class:`~topoact_lightning.TopoActMonitor` and checks it
(:meth:`MonitorConfig.validate`), so that parameters that cannot work fail before training. Parameters that may
differ between layers (``reduction``, ``select``, ``mapper_params``) are given once for all layers or as
``{layer: value}``; :meth:`MonitorConfig.for_layers` resolves them into one :class:`LayerConfig` per watched layer.

Example:
    >>> cfg = MonitorConfig(layers=["fc1", "fc2"], reduction={"fc1": "mean"}, mapper_params={"n_intervals": 8})
    >>> cfg.validate()
    >>> layers = cfg.for_layers(["fc1", "fc2"])
    >>> layers["fc1"].reduction, layers["fc2"].reduction, layers["fc2"].mapper_params
    ('mean', 'auto', {'n_intervals': 8})
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch

from topoact_lightning.errors import TopoActConfigError
from topoact_lightning.monitor.capture import check_reduction
from topoact_lightning.monitor.findings import FindingThresholds
from topoact_lightning.monitor.schedule import Schedule

WORKERS = ("process", "thread")
SCALAR_STEPS = ("global_step", "epoch")


#: ``store_activations=True``: wide enough for a few thousand probe samples of a layer thousands of units wide.
DEFAULT_ACTIVATION_BUDGET = 16 * 2**20


@dataclass(frozen=True)
class LayerConfig:
    """What one watched layer uses: how its output becomes one vector per sample, and the Mapper parameters."""

    reduction: Any = "auto"
    select: Any = None
    mapper_params: dict[str, Any] = field(default_factory=dict)

    @property
    def min_samples(self) -> int:
        """The smallest cluster DBSCAN keeps: a probe needs at least this many samples for any node."""
        value = self.mapper_params.get("min_samples", 5)
        return int(value) if isinstance(value, int) and not isinstance(value, bool) else 1


def mapper_parameter_names() -> list[str]:
    from topoact_lightning.engine.mapper import Mapper

    return [p for p in inspect.signature(Mapper).parameters if p != "self"]


def check_mapper_params(params: Mapping[str, Any], where: str) -> None:
    """Raise :class:`TopoActConfigError` naming ``where`` unless ``params`` can build a Mapper.

    Per-dimension lists that cannot fit the lens fail here (the engine's check), rather than skipping every graph
    during training.

    Example:
        >>> check_mapper_params({"n_intervals": [3, 4]}, "mapper_params")
        Traceback (most recent call last):
        ...
        topoact_lightning.errors.TopoActConfigError: mapper_params: n_intervals has 2 values for a 1-dimensional lens: give one value, or 1 (or use a 2-dimensional lens such as lens='pca2')
    """
    from topoact_lightning.engine.mapper import Mapper

    if not isinstance(params, Mapping):
        raise TopoActConfigError(f"{where} must be a dict of Mapper parameters")
    try:
        mapper = Mapper(**dict(params))
    except TypeError as e:
        raise TopoActConfigError(
            f"{where}: {e}; Mapper accepts {', '.join(mapper_parameter_names())}"
        ) from None
    try:
        mapper.check_params()
    except TopoActConfigError as e:
        raise TopoActConfigError(f"{where}: {e}") from None


def split_per_layer(value: Any, layers: Sequence[str] | None, name: str) -> tuple[Any, dict[str, Any]]:
    """Split a parameter given for all layers or as ``{layer: value}`` into ``(default, {layer: value})``.

    A mapping is per layer; with known ``layers`` its keys must be among them (the error names the others).

    Example:
        >>> split_per_layer("mean", ["a"], "reduction"), split_per_layer({"a": "max"}, ["a"], "reduction")
        (('mean', {}), (None, {'a': 'max'}))
    """
    if not isinstance(value, Mapping):
        return value, {}
    _check_layer_keys(value, layers, name)
    return None, dict(value)


def _check_layer_keys(value: Mapping[str, Any], layers: Sequence[str] | None, name: str) -> None:
    if layers is None:
        return
    unknown = [k for k in value if k not in layers]
    if unknown:
        raise TopoActConfigError(
            f"{name} names layers {unknown} that are not in layers={list(layers)}; give one value for all "
            "layers or a dict {layer: value} over the watched layers"
        )


def is_per_layer_mapper_params(params: Mapping[str, Any], layers: Sequence[str] | None) -> bool:
    """Whether ``mapper_params`` is ``{layer: {...}}`` rather than one set of Mapper parameters.

    No Mapper parameter takes a dict, so any dict value (or any key naming a watched layer) means per layer.
    """
    if not params:
        return False
    if layers is not None and any(k in layers for k in params):
        return True
    return any(isinstance(v, Mapping) for v in params.values())


@dataclass
class MonitorConfig:
    """Everything :class:`~topoact_lightning.TopoActMonitor` was given, checked by :meth:`validate`.

    The fields are the monitor's constructor parameters (see its docstring for their meaning).
    """

    layers: list[str] | None = None
    probe: Any = 1000
    class_names: list[str] | None = None
    schedule: Schedule = field(default_factory=lambda: Schedule.from_spec(1, untrained=True))
    reduction: Any = "auto"
    select: Any = None
    token_mask: Any = None
    mapper_params: dict[str, Any] = field(default_factory=dict)
    forward: Callable[..., Any] | None = None
    logits: Any = "auto"
    thumbnails: bool = True
    probe_batch_size: int | None = None
    seed: int = 0
    max_pending: int = 2
    dead_threshold: float = 0.5
    collapse_dims: float = 1.5
    findings: FindingThresholds | None = None
    worker_niceness: int = 10
    worker: str = "process"
    scalar_step: str = "global_step"
    max_unwritten: int = 16
    state_key: str | None = None
    store_activations: bool | int = True

    @property
    def activation_budget(self) -> int:
        """Bytes the stored activation matrix may take per layer and step (0: not stored)."""
        if self.store_activations is True:
            return DEFAULT_ACTIVATION_BUDGET
        return int(self.store_activations or 0)

    def validate(self) -> None:
        """Raise :class:`TopoActConfigError` (naming the parameter and the fix) for anything that cannot work."""
        self._check_layers()
        self._check_probe()
        self._check_choices()
        self._check_callables()
        self._check_per_layer()

    def _check_layers(self) -> None:
        if self.layers is None:
            return
        if not self.layers or not all(isinstance(n, str) and n for n in self.layers):
            raise TopoActConfigError(
                "layers must be a non-empty list of module names, or None for the default"
            )
        if len(set(self.layers)) != len(self.layers):
            raise TopoActConfigError(f"layers has duplicates: {self.layers}")

    def _check_probe(self) -> None:
        if self.probe is None:
            raise TopoActConfigError(
                "probe is required: (inputs, labels), inputs, a Dataset, a DataLoader or an int"
            )
        if isinstance(self.probe, bool) or (isinstance(self.probe, int) and self.probe < 2):
            raise TopoActConfigError(
                f"probe={self.probe!r}: give the number of samples to draw, e.g. probe=1000"
            )
        if isinstance(self.probe, int):
            need = max(self.for_layer(layer).min_samples for layer in (self.layers or [""]))
            if self.probe < need:
                raise TopoActConfigError(
                    f"probe={self.probe} is smaller than min_samples={need}, so no graph could have a node; draw "
                    "at least a few hundred samples"
                )
        size = self.probe_batch_size
        if size is not None and (not isinstance(size, int) or isinstance(size, bool) or size < 1):
            raise TopoActConfigError("probe_batch_size must be a positive int, or None for the default")

    def _check_choices(self) -> None:
        if self.scalar_step not in SCALAR_STEPS:
            raise TopoActConfigError(
                'scalar_step must be "global_step" (line up with Lightning\'s own metrics in the Scalars tab) or '
                '"epoch" (the number of epochs completed, as in the TopoAct tab)'
            )
        if self.worker not in WORKERS:
            raise TopoActConfigError('worker must be "process" (a child Python process) or "thread"')
        for name in ("max_pending", "max_unwritten"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise TopoActConfigError(f"{name} must be a positive int")
        budget = self.store_activations
        if not isinstance(budget, (bool, int)) or (not isinstance(budget, bool) and budget < 0):
            raise TopoActConfigError(
                "store_activations must be True (up to 16 MiB per layer and step), False, or a byte budget >= 0"
            )
        if not 0 < float(self.dead_threshold) <= 1:
            raise TopoActConfigError("dead_threshold must be in (0, 1]")
        if self.findings is not None and not isinstance(self.findings, FindingThresholds):
            raise TopoActConfigError(
                "findings must be a FindingThresholds, e.g. findings=FindingThresholds(dead_share=0.3)"
            )
        if self.findings is not None and (self.dead_threshold != 0.5 or self.collapse_dims != 1.5):
            raise TopoActConfigError(
                "give the thresholds once: findings=FindingThresholds(dead_share=..., collapse_dims=...) replaces "
                "dead_threshold and collapse_dims"
            )
        self.finding_thresholds()  # FindingThresholds checks its own fields
        if self.state_key is not None and (not isinstance(self.state_key, str) or not self.state_key):
            raise TopoActConfigError(
                "state_key must be a non-empty string naming this monitor in checkpoints (or None for the default)"
            )

    def finding_thresholds(self) -> FindingThresholds:
        """The findings' thresholds: ``findings``, or the defaults with ``dead_threshold`` as ``dead_share`` and
        ``collapse_dims`` as ``collapse_dims``.

        Example:
            >>> MonitorConfig(dead_threshold=0.3).finding_thresholds().dead_share
            0.3
        """
        if self.findings is not None:
            return self.findings
        return FindingThresholds(
            dead_share=float(self.dead_threshold), collapse_dims=float(self.collapse_dims)
        )

    def _check_callables(self) -> None:
        if self.logits is not None and self.logits != "auto" and not callable(self.logits):
            raise TopoActConfigError(
                'logits must be "auto", None or a callable f(output) -> (batch, classes)'
            )
        if self.forward is not None and not callable(self.forward):
            raise TopoActConfigError("forward must be a callable f(module, inputs)")
        mask = self.token_mask
        if mask is not None and not (
            callable(mask)
            or isinstance(mask, torch.Tensor)
            or (isinstance(mask, int) and not isinstance(mask, bool))
        ):
            raise TopoActConfigError(
                "token_mask must be a padding id, a callable or a (n_probe, length) tensor"
            )

    def _check_per_layer(self) -> None:
        default, per_layer = split_per_layer(self.reduction, self.layers, "reduction")
        for layer, r in per_layer.items():
            check_reduction(r, f"reduction[{layer!r}]")
        if default is not None:
            check_reduction(default, "reduction")
        split_per_layer(self.select, self.layers, "select")
        params = self.mapper_params
        if not isinstance(params, Mapping):
            raise TopoActConfigError("mapper_params must be a dict of Mapper parameters, or {layer: {...}}")
        if not is_per_layer_mapper_params(params, self.layers):
            check_mapper_params(params, "mapper_params")
            return
        if self.layers is not None:
            _check_layer_keys(params, self.layers, "mapper_params")
        for layer, layer_params in params.items():
            check_mapper_params(layer_params, f"mapper_params[{layer!r}]")

    def for_layer(self, layer: str, layers: Sequence[str] | None = None) -> LayerConfig:
        """The settings of one layer (``layers``: the watched layers, when known)."""
        layers = self.layers if layers is None else layers
        return LayerConfig(
            reduction=_pick(self.reduction, layer, layers, "reduction", "auto"),
            select=_pick(self.select, layer, layers, "select", None),
            mapper_params=self._mapper_params_for(layer, layers),
        )

    def for_layers(self, layers: Sequence[str]) -> dict[str, LayerConfig]:
        """:class:`LayerConfig` per watched layer, checked again now that the layers are known."""
        if is_per_layer_mapper_params(self.mapper_params, layers):
            _check_layer_keys(self.mapper_params, layers, "mapper_params")
        resolved = {layer: self.for_layer(layer, layers) for layer in layers}
        for layer, cfg in resolved.items():
            check_mapper_params(cfg.mapper_params, f"mapper_params for layer {layer!r}")
        return resolved

    def _mapper_params_for(self, layer: str, layers: Sequence[str] | None) -> dict[str, Any]:
        if is_per_layer_mapper_params(self.mapper_params, layers):
            return dict(self.mapper_params.get(layer, {}))
        return dict(self.mapper_params)


def _pick(value: Any, layer: str, layers: Sequence[str] | None, name: str, fallback: Any) -> Any:
    default, per_layer = split_per_layer(value, layers, name)
    if per_layer:
        return per_layer.get(layer, fallback)
    return fallback if default is None else default
