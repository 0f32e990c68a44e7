"""Finding records, the usual fixes of the fault kinds, the thresholds, and the Text-tab table.

The kinds themselves belong to the log format (:mod:`topoact_lightning.logformat.findings`): the viewer reads them too.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field, fields
from typing import Any

import numpy as np

from topoact_lightning.errors import TopoActConfigError
from topoact_lightning.logformat.findings import FAULT_KINDS, KINDS

#: The usual fix for each fault kind, for warnings and the README.
FIXES = {
    "dead": "start the biases at 0 or slightly above, use He initialisation, lower the learning rate, or use a "
    "leaky activation (LeakyReLU, GELU)",
    "constant": "check the layer's weights (zero or otherwise degenerate initialisation, weights frozen at a "
    "constant) and that its input varies; re-initialise the weights",
    "collapsed": "check the initialisation and normalisation of this layer and the layers before it, lower the "
    "learning rate, and look for a too narrow bottleneck or a loss that rewards collapse",
    "saturated": "normalise the layer's input (BatchNorm, LayerNorm), scale its initial weights down, or lower "
    "the learning rate",
    "not_learning": "check that the layer's parameters require grad and are in the optimizer, and that gradient "
    "reaches it (no detach(), no dead or frozen layer after it)",
    "exploding": "lower the learning rate, clip gradients, add normalisation, or scale down residual branches",
}

# The sketch behind activation fingerprints: a fixed seed, so that two processes fingerprint alike.


# ------------------------------------------------------------------------------------------------------ records
@dataclass(frozen=True)
class Finding:
    """One finding about one layer at one logged step.

    Every field is plain Python (``details`` is made JSON-ready: numpy values become Python numbers, tuples
    lists, NaN ``None``), so a list of findings can live in a Lightning checkpoint's callback state and in a
    TensorBoard text summary.

    Attributes
    ----------
    step : int
        The logged step (the epoch count, as the monitor logs graphs) at which it was found.
    layer : str
        The watched layer's name.
    kind : str
        One of :data:`FAULT_KINDS` or :data:`CLASS_KINDS`.
    message : str
        One sentence for people, without the layer name (``f"layer {layer!r} {message}"`` reads well).
    details : dict
        Figures and ids behind the message, for the plugin (``"nodes"`` and ``"samples"`` hold node and
        probe sample ids where they apply).

    Examples
    --------
    >>> f = Finding(2, "fc", "dead", "90% of its units never fire", {"share": np.float64(0.9), "units": np.arange(3)})
    >>> f.is_fault, f.details
    (True, {'share': 0.9, 'units': [0, 1, 2]})
    >>> Finding.from_dict(f.to_dict()) == f
    True
    """

    step: int
    layer: str
    kind: str
    message: str
    details: dict[str, Any] = field(default_factory=dict, hash=False)

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"unknown finding kind {self.kind!r}; use one of {', '.join(KINDS)}")
        object.__setattr__(self, "step", int(self.step))
        object.__setattr__(self, "layer", str(self.layer))
        object.__setattr__(self, "message", str(self.message))
        object.__setattr__(self, "details", _plain(dict(self.details)))

    @property
    def is_fault(self) -> bool:
        return self.kind in FAULT_KINDS

    @property
    def fix(self) -> str | None:
        """The usual fix of a fault kind (``None`` for class findings)."""
        return FIXES.get(self.kind)

    @property
    def key(self) -> tuple[Any, ...]:
        """What makes a finding a repeat: a fault kind is reported once per layer, ``separation`` once per layer
        and class, ``confusion`` once per step, layer and pair, ``suspect_labels`` once per step and layer."""
        if self.is_fault:
            return (self.layer, self.kind)
        if self.kind == "separation":
            return (self.layer, self.kind, self.details.get("class"))
        if self.kind == "confusion":
            return (self.layer, self.kind, self.step, tuple(self.details.get("classes", ())))
        return (self.layer, self.kind, self.step)

    def to_dict(self) -> dict[str, Any]:
        return {
            "step": self.step,
            "layer": self.layer,
            "kind": self.kind,
            "message": self.message,
            "details": json.loads(json.dumps(self.details)),
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Finding:
        return cls(
            int(d["step"]), str(d["layer"]), str(d["kind"]), str(d["message"]), dict(d.get("details", {}))
        )


@dataclass(frozen=True)
class FindingThresholds:
    """Every threshold of the detectors, with its default (shares are fractions in ``(0, 1]``).

    Attributes
    ----------
    unit_rtol : float
        A unit is *flat* (dead or constant) when its values span at most ``unit_rtol`` times the largest absolute
        activation of the layer; *dead* when also its largest absolute value is that small. Relative, so
        that rescaling a layer changes nothing. Default 1e-6.
    dead_share : float
        Share of dead units from which ``dead`` is reported. Default 0.5 (the monitor's warning threshold;
        healthy ReLU layers often have 10-30% units that never fire on a probe).
    constant_share : float
        Share of non-zero constant units from which ``constant`` is reported. Default 0.5.
    collapse_dims : float
        ``collapsed`` when the samples use fewer effective directions than this (Roy & Vetterli's effective
        rank of the centred activations, :func:`topoact_lightning.monitor.diagnostics.effective_dims`).
        Default 1.5: about one direction.
    collapse_spread : float
        ``collapsed`` (to a point) when the samples' RMS distance to their mean is below this share of their
        RMS norm. Default 1e-3.
    saturation_atol : float
        A value is at a bound when within this of it (tanh is within 0.02 of 1 beyond 2.3). Default 0.02.
    saturated_samples : float
        A unit is saturated when at a bound for at least this share of the probe. Default 0.9.
    saturated_share : float
        Share of saturated units from which ``saturated`` is reported. Default 0.5.
    still_rtol : float
        The activations are *still* between two logged steps when their fingerprints differ by less than this,
        relative to their size. A frozen layer gives exactly 0. Default 1e-5.
    still_graph_distance : float
        ... and the graph distance to the previous step (when known) is at most this. Default 0.05.
    still_steps : int
        ``not_learning`` needs this many consecutive still step-to-step changes. Default 2.
    loss_rtol : float
        ... while the training loss over those steps moved by at least this share of its largest value.
        Default 0.02.
    exploding_factor : float
        ``exploding`` when the activation norm grew by this factor or more. Default 1000 (three orders of
        magnitude: a healthy network initialised small can grow its activations tenfold or more in one epoch, and
        a run that truly diverges soon goes far beyond, or to NaN).
    exploding_window : int
        ... compared with the smallest norm of this many previous logged steps. Default 3.
    confusion_node_share : float
        A class is *present* in a node when it holds at least this share of the node's labelled members; a node
        where two classes are present mixes them. Default 0.1.
    confusion_min_share : float
        A pair of classes is reported when at least this share of their samples sit in nodes mixing them.
        Default 0.1.
    confusion_top : int
        At most this many pairs are reported per layer and step, the most confused first. Default 5.
    separation_purity : float
        A node belongs to class ``c``'s region when ``c`` makes up at least this share of its labelled members.
        Default 0.9.
    separation_coverage : float
        A class is separated when one connected region of its nodes holds at least this share of its samples.
        Default 0.5.
    suspect_purity : float
        A node is pure in a class when that class makes up at least this share of its labelled members.
        Default 0.9.
    suspect_min_node_size : int
        ... and it has at least this many labelled members (a node of two says little). Default 5.
    max_ids : int
        Lists of node or sample ids in ``details`` are cut to this length (counts stay whole). Default 50.

    Examples
    --------
    >>> FindingThresholds(dead_share=0.8).dead_share
    0.8
    >>> FindingThresholds(dead_share=2.0)
    Traceback (most recent call last):
    ...
    topoact_lightning.errors.TopoActConfigError: FindingThresholds: dead_share must lie in (0, 1], got 2.0
    """

    unit_rtol: float = 1e-6
    dead_share: float = 0.5
    constant_share: float = 0.5
    collapse_dims: float = 1.5
    collapse_spread: float = 1e-3
    saturation_atol: float = 0.02
    saturated_samples: float = 0.9
    saturated_share: float = 0.5
    still_rtol: float = 1e-5
    still_graph_distance: float = 0.05
    still_steps: int = 2
    loss_rtol: float = 0.02
    exploding_factor: float = 1000.0
    exploding_window: int = 3
    confusion_node_share: float = 0.1
    confusion_min_share: float = 0.1
    confusion_top: int = 5
    separation_purity: float = 0.9
    separation_coverage: float = 0.5
    suspect_purity: float = 0.9
    suspect_min_node_size: int = 5
    max_ids: int = 50

    _SHARES = (
        "dead_share", "constant_share", "saturated_samples", "saturated_share", "confusion_node_share",
        "confusion_min_share", "separation_purity", "separation_coverage", "suspect_purity",
    )  # fmt: skip
    _COUNTS = ("still_steps", "exploding_window", "confusion_top", "suspect_min_node_size", "max_ids")

    def __post_init__(self) -> None:
        # Misconfiguration fails when the monitor is built, not epochs later in the graph process.
        for f in fields(self):
            v = getattr(self, f.name)
            if f.name in self._COUNTS:
                if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                    raise TopoActConfigError(
                        f"FindingThresholds: {f.name} must be an integer >= 1, got {v!r}"
                    )
            elif isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v) or v < 0:
                raise TopoActConfigError(
                    f"FindingThresholds: {f.name} must be a finite number >= 0, got {v!r}"
                )
            elif f.name in self._SHARES and not 0 < v <= 1:
                raise TopoActConfigError(f"FindingThresholds: {f.name} must lie in (0, 1], got {v!r}")
        if self.exploding_factor <= 1:
            raise TopoActConfigError(
                f"FindingThresholds: exploding_factor must be above 1, got {self.exploding_factor!r}"
            )

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def findings_markdown(findings: Iterable[Finding]) -> str:
    """A Markdown table of findings (step, layer, kind, message), for TensorBoard's Text tab.

    Examples
    --------
    >>> print(findings_markdown([Finding(1, "fc", "dead", "60% of its units never fire")]))
    | step | layer | kind | finding |
    |---:|---|---|---|
    | 1 | fc | dead | 60% of its units never fire |
    """
    rows = ["| step | layer | kind | finding |", "|---:|---|---|---|"]
    for f in findings:
        cells = [str(f.step), f.layer, f.kind, f.message]
        # A pipe would end the cell early, a newline the row.
        rows.append("| " + " | ".join(c.replace("|", "\\|").replace("\n", " ") for c in cells) + " |")
    return "\n".join(rows)


def _optional_float(v: Any) -> float | None:
    if v is None:
        return None
    v = float(v)
    return v if math.isfinite(v) else None


def _plain(v: Any) -> Any:
    """``v`` with numpy values as Python ones, tuples as lists and non-finite floats as ``None`` (JSON-ready)."""
    if isinstance(v, Mapping):
        return {str(k): _plain(x) for k, x in v.items()}
    if isinstance(v, np.ndarray):
        return _plain(v.tolist())
    if isinstance(v, (list, tuple)):
        return [_plain(x) for x in v]
    if isinstance(v, np.generic):
        v = v.item()
    if isinstance(v, float) and not math.isfinite(v):
        return None
    if v is None or isinstance(v, (bool, int, float, str)):
        return v
    raise TypeError(f"finding details must be plain data, got {type(v).__name__}")
