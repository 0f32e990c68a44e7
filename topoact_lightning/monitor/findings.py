"""Findings: what went wrong in which layer since when, and which classes the network confuses.

A :class:`Finding` names one observation about one layer at one logged step. Two families:

*Fault kinds* (warnings, one per layer and kind over a whole run), from a layer's ``(n_samples, n_units)``
activation matrix over the probe and, for the last two, from the layer's :class:`LayerHistory`:

================  ==================================================================================================
``dead``          at least ``dead_share`` of the units are 0 for every probe sample (ReLU units that never fire)
``constant``      at least ``constant_share`` of the units output one *non-zero* value for every probe sample (the
                  layer's input or weights carry no signal; a ReLU after zero weights and bias 1 is this, not dead)
``collapsed``     the units vary, but the samples lie on one point (spread below ``collapse_spread`` of the
                  activation norm) or along fewer than ``collapse_dims`` effective directions
``saturated``     at least ``saturated_share`` of the units sit within ``saturation_atol`` of the layer's bounds
                  (+-1, or 0 and 1, detected from the data) for at least ``saturated_samples`` of the probe
``not_learning``  the activations (and the graph, when its distance is known) did not change over ``still_steps``
                  logged steps while the training loss moved by at least ``loss_rtol``
``exploding``     the activation norm grew by ``exploding_factor`` or more within ``exploding_window`` logged
                  steps, or the activations hold NaN or infinite values
================  ==================================================================================================

*Class findings* (informational, at each logged step), from the layer's :class:`~topoact_lightning.engine.MapperGraph`:
``confusion`` (pairs of classes sharing nodes), ``separation`` (the first step at which a class has a region of
the graph of its own) and ``suspect_labels`` (probe samples that sit only in nodes pure in another class: the
data-anomaly use of the TopoAct paper). See :func:`class_confusion`, :func:`separated_classes` and
:func:`suspect_samples` for the exact definitions.

Every threshold is a field of :class:`FindingThresholds`. The detectors are small pure functions over arrays;
:class:`FindingTracker` keeps each layer's short history, runs them per logged step and tells which findings
are new, with a plain ``state_dict`` that survives a checkpoint resume without repeating a finding.

This module imports numpy and the engine only: it runs in the callback's torch-free graph process.

Example:
    >>> import numpy as np
    >>> x = np.ones((100, 8))  # a ReLU after a Linear with zero weights and bias 1: every unit fires, always at 1
    >>> [f.kind for f in fault_findings(3, "fc", x)]
    ['constant']
    >>> [f.kind for f in fault_findings(3, "fc", np.zeros((100, 8)))]  # bias -1 instead: no unit ever fires
    ['dead']
    >>> healthy = np.maximum(np.random.default_rng(0).normal(size=(100, 8)), 0)
    >>> fault_findings(3, "fc", healthy)
    []
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field, fields
from typing import TYPE_CHECKING, Any

import numpy as np

from topoact_lightning.engine.memberships import connected_components, membership_pairs
from topoact_lightning.errors import TopoActConfigError
from topoact_lightning.monitor.diagnostics import effective_dims

if TYPE_CHECKING:
    from topoact_lightning.engine.graph import MapperGraph

#: Kinds that are warnings: each is reported once per layer over a run.
FAULT_KINDS = ("dead", "constant", "collapsed", "saturated", "not_learning", "exploding")
#: Kinds that describe the classes at a logged step (not warnings).
CLASS_KINDS = ("confusion", "separation", "suspect_labels")
KINDS = FAULT_KINDS + CLASS_KINDS

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
_FINGERPRINT_SEED = 15
_FINGERPRINT_SIZE = 8


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


@dataclass(frozen=True)
class LayerHistory:
    """What one logged step of one layer contributes to the history ``not_learning`` and ``exploding`` read.

    Attributes
    ----------
    step : int
        The logged step.
    norm : float
        RMS over the probe samples of their activation vector's Euclidean norm (finite samples only; NaN if
        none).
    non_finite : float
        Share of probe samples with a NaN or infinite activation.
    fingerprint : tuple of float
        A fixed random sketch of the activation matrix (:func:`activation_fingerprint`): two steps' fingerprints
        differ about as much as their activations do, in 64 numbers whatever the layer's size.
    loss : float or None
        The training loss at this step (for instance the mean over the epoch that ended here); ``None`` when
        unknown (before training).
    graph_distance : float or None
        The distance of this step's Mapper graph to the previous logged step's
        (:func:`topoact_lightning.engine.compare_graphs`), when known.

    Examples
    --------
    >>> h = LayerHistory.from_activations(4, np.ones((10, 3)), loss=0.5)
    >>> h.norm, h.non_finite, len(h.fingerprint)
    (1.7320508075688772, 0.0, 64)
    >>> LayerHistory.from_dict(h.to_dict()) == h
    True
    """

    step: int
    norm: float
    non_finite: float
    fingerprint: tuple[float, ...]
    loss: float | None = None
    graph_distance: float | None = None

    @classmethod
    def from_activations(
        cls,
        step: int,
        activations: np.ndarray,
        loss: float | None = None,
        graph_distance: float | None = None,
    ) -> LayerHistory:
        x = _as_matrix(activations)
        finite = np.isfinite(x).all(axis=1)
        return cls(
            step=int(step),
            norm=activation_norm(x[finite]),
            non_finite=float(1.0 - finite.mean()) if len(x) else 0.0,
            fingerprint=tuple(activation_fingerprint(x).tolist()),
            loss=_optional_float(loss),
            graph_distance=_optional_float(graph_distance),
        )

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["fingerprint"] = list(self.fingerprint)
        return _plain(d)

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> LayerHistory:
        norm = d.get("norm")
        return cls(
            step=int(d["step"]),
            norm=float("nan") if norm is None else float(norm),
            non_finite=float(d.get("non_finite") or 0.0),
            fingerprint=tuple(float("nan") if v is None else float(v) for v in d.get("fingerprint", ())),
            loss=_optional_float(d.get("loss")),
            graph_distance=_optional_float(d.get("graph_distance")),
        )


# ---------------------------------------------------------------------------------------- activation detectors
def unit_states(x: np.ndarray, rtol: float = 1e-6) -> tuple[np.ndarray, np.ndarray]:
    """Boolean masks ``(dead, constant)`` over the units (columns) of ``x``.

    The tolerance is ``rtol`` times the largest absolute activation of the whole layer, so rescaling the layer
    changes nothing; a layer that is 0 everywhere is all dead. A unit is *dead* when every value is within the
    tolerance of 0, *constant* when it is not dead and its values span at most the tolerance. Samples with a
    NaN or infinite value are left out (``exploding`` reports them).

    Examples
    --------
    >>> x = np.array([[0.0, 1.0, 2.0], [0.0, 1.0, 3.0]])
    >>> [m.tolist() for m in unit_states(x)]
    [[True, False, False], [False, True, False]]
    """
    x = _finite_rows(x)
    n_units = x.shape[1]
    if len(x) == 0:
        return np.zeros(n_units, dtype=bool), np.zeros(n_units, dtype=bool)
    tol = rtol * float(np.abs(x).max(initial=0.0))
    dead = np.abs(x).max(axis=0) <= tol
    constant = ~dead & (x.max(axis=0) - x.min(axis=0) <= tol)
    return dead, constant


def spread_ratio(x: np.ndarray) -> float:
    """RMS distance of the samples to their mean over their RMS norm: 0 when all samples are one point, about 1
    for centred data (NaN with fewer than two finite samples, 0 for a layer that is 0 everywhere).

    Examples
    --------
    >>> spread_ratio(np.array([[3.0, 4.0], [3.0, 4.0]]))
    0.0
    >>> round(spread_ratio(np.array([[1.0, 0.0], [-1.0, 0.0]])), 6)
    1.0
    """
    x = _finite_rows(x)
    if len(x) < 2:
        return float("nan")
    mean_square = float(np.mean(np.sum(x * x, axis=1)))
    if mean_square == 0.0:
        return 0.0
    return float(np.sqrt(np.sum(x.var(axis=0)) / mean_square))


def saturation_bounds(x: np.ndarray, atol: float = 0.02) -> tuple[float, float] | None:
    """The bounds of a bounded activation read from the data: ``(0, 1)`` (sigmoid-like), ``(-1, 1)`` (tanh- or
    hardtanh-like), or ``None``.

    ``(0, 1)`` needs every value in ``[0, 1 + atol]`` and some above 0.5; ``(-1, 1)`` every value within ``atol``
    of ``[-1, 1]``, some negative and some of magnitude above 0.5. Reaching past the middle keeps a layer that is
    merely small (any layer scaled down) from passing for one at its bounds. A ReLU layer whose values all stay
    below 1 would still pass for a sigmoid one, with its many exact zeros at the lower bound; but a sigmoid is
    exactly 0 only below -100 while a ReLU is practically never exactly 1. So a ``[0, 1]`` layer with exact zeros
    and no exact one is taken for a ReLU layer: ``None``.

    Examples
    --------
    >>> saturation_bounds(np.tanh(np.array([[-5.0, 0.1], [4.0, 3.0]])))
    (-1.0, 1.0)
    >>> saturation_bounds(np.array([[0.0, 0.3], [0.9, 0.0]])) is None  # ReLU-like
    True
    >>> saturation_bounds(np.tanh(np.array([[-5.0, 0.1], [4.0, 3.0]])) / 100) is None  # small, not bounded
    True
    """
    x = _finite_rows(x)
    if x.size == 0:
        return None
    lo, hi = float(x.min()), float(x.max())
    if lo >= 0 and 0.5 < hi <= 1 + atol:
        if (x == 0).any() and not (x == 1).any():
            return None
        return (0.0, 1.0)
    if -1 - atol <= lo < 0 and hi <= 1 + atol and max(-lo, hi) > 0.5:
        return (-1.0, 1.0)
    return None


def saturated_units(
    x: np.ndarray, atol: float = 0.02, samples: float = 0.9, rtol: float = 1e-6
) -> tuple[np.ndarray, tuple[float, float] | None]:
    """A boolean mask of the saturated units, and the bounds (:func:`saturation_bounds`).

    A unit is saturated when it varies and sits within ``atol`` of a bound for at least ``samples`` of the probe.
    A unit that does not vary at all is constant (:func:`unit_states`), unless the layer also has units of the
    first sort: then a unit stuck at a bound is saturated too (``tanh`` is exactly 1 in float32 beyond 9). Alone,
    a unit stuck at exactly 1 is as likely a ReLU after zero weights and bias 1 as a saturated sigmoid.

    Examples
    --------
    >>> x = np.tanh(100 * np.random.default_rng(0).normal(size=(200, 4)))  # pre-activations far too large
    >>> x[:, 3] = 1.0  # one unit stuck at the upper bound
    >>> mask, bounds = saturated_units(x)
    >>> mask.tolist(), bounds
    ([True, True, True, True], (-1.0, 1.0))
    >>> saturated_units(np.ones((200, 4)))[0].tolist()  # all stuck at 1: constant, not saturated
    [False, False, False, False]
    """
    x = _finite_rows(x)
    n_units = x.shape[1]
    bounds = saturation_bounds(x, atol)
    if bounds is None or len(x) == 0:
        return np.zeros(n_units, dtype=bool), bounds
    lo, hi = bounds
    at_bound = (np.abs(x - lo) <= atol) | (np.abs(x - hi) <= atol)
    dead, constant = unit_states(x, rtol)
    swinging = (at_bound.mean(axis=0) >= samples) & ~dead & ~constant
    if not swinging.any():
        return swinging, bounds
    return swinging | (constant & at_bound.all(axis=0)), bounds


def activation_norm(x: np.ndarray) -> float:
    """RMS over samples of each sample's Euclidean activation norm (NaN for no samples).

    Examples
    --------
    >>> activation_norm(np.array([[3.0, 4.0], [0.0, 0.0]])) == float(np.sqrt(12.5))
    True
    """
    x = _as_matrix(x)
    if len(x) == 0:
        return float("nan")
    return float(np.sqrt(np.mean(np.sum(x * x, axis=1))))


def activation_fingerprint(x: np.ndarray, size: int = _FINGERPRINT_SIZE) -> np.ndarray:
    """``G1 @ x @ G2 / sqrt(n_samples * n_units)`` flattened, with ``G1`` and ``G2`` Gaussian matrices drawn from
    a fixed seed for the matrix's shape: a sketch whose change between two steps tracks the change of ``x``
    (Johnson-Lindenstrauss), in ``size**2`` numbers. Non-finite values count as 0.

    Examples
    --------
    >>> x = np.random.default_rng(1).normal(size=(50, 20))
    >>> bool(np.allclose(activation_fingerprint(x), activation_fingerprint(x.copy())))
    True
    >>> fingerprint_change(activation_fingerprint(x), activation_fingerprint(1.01 * x)) < 0.02
    True
    """
    x = np.nan_to_num(_as_matrix(x), nan=0.0, posinf=0.0, neginf=0.0)
    n, d = x.shape
    if n == 0 or d == 0:
        return np.zeros(size * size)
    rng = np.random.default_rng(_FINGERPRINT_SEED)
    left = rng.standard_normal((size, n))
    right = rng.standard_normal((d, size))
    return ((left @ x) @ right).ravel() / np.sqrt(n * d)


def fingerprint_change(a: Sequence[float], b: Sequence[float]) -> float:
    """``|a - b| / max(|a|, |b|)``: 0 for identical fingerprints (also both zero), inf for different sizes."""
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if a.shape != b.shape:
        return float("inf")
    scale = max(float(np.linalg.norm(a)), float(np.linalg.norm(b)))
    if scale == 0.0:
        return 0.0
    return float(np.linalg.norm(a - b) / scale)


def norm_growth(history: Sequence[LayerHistory], window: int = 3) -> tuple[float, int | None]:
    """The last entry's norm over the smallest positive finite norm of the ``window`` entries before it, and the
    step of that smallest one (``(nan, None)`` without one).

    Examples
    --------
    >>> h = [LayerHistory(s, n, 0.0, ()) for s, n in [(0, 2.0), (1, 1.0), (2, 150.0)]]
    >>> norm_growth(h)
    (150.0, 1)
    """
    if len(history) < 2:
        return float("nan"), None
    now = history[-1].norm
    before = [h for h in history[-1 - window : -1] if math.isfinite(h.norm) and h.norm > 0]
    if not before or not math.isfinite(now):
        return float("nan"), None
    low = min(before, key=lambda h: h.norm)
    return now / low.norm, low.step


def still_window(
    history: Sequence[LayerHistory], th: FindingThresholds | None = None
) -> dict[str, Any] | None:
    """Evidence for ``not_learning`` from the last ``still_steps + 1`` entries, or ``None``.

    Found when every step-to-step fingerprint change in that window is below ``still_rtol``, every known graph
    distance is at most ``still_graph_distance``, every entry is finite and has a training loss, and the loss
    moved by at least ``loss_rtol`` of its largest absolute value: the network learns, this layer does not.
    (When the loss does not move either, nothing learns and this is no finding about the layer.)
    """
    th = th or FindingThresholds()
    window = list(history[-(th.still_steps + 1) :])
    if len(window) < th.still_steps + 1 or any(h.non_finite > 0 for h in window):
        return None
    change = max(
        fingerprint_change(a.fingerprint, b.fingerprint) for a, b in zip(window[:-1], window[1:], strict=True)
    )
    if not change < th.still_rtol:
        return None
    distances = [
        h.graph_distance
        for h in window[1:]
        if h.graph_distance is not None and math.isfinite(h.graph_distance)
    ]
    if any(d > th.still_graph_distance for d in distances):
        return None
    losses = [h.loss for h in window]
    if any(v is None or not math.isfinite(v) for v in losses):
        return None
    moved = (max(losses) - min(losses)) / max(max(abs(v) for v in losses), 1e-12)
    if moved < th.loss_rtol:
        return None
    return {
        "since_step": window[0].step,
        "steps": [h.step for h in window],
        "activation_change": change,
        "graph_distance": max(distances) if distances else None,
        "loss": losses,
        "loss_change": moved,
    }


def fault_findings(
    step: int,
    layer: str,
    activations: np.ndarray,
    history: Sequence[LayerHistory] = (),
    thresholds: FindingThresholds | None = None,
) -> list[Finding]:
    """The fault findings of one layer at one logged step, in :data:`FAULT_KINDS` order.

    ``history`` is the layer's history ending with this step's entry (``not_learning`` and ``exploding`` read
    it; without it they are not checked). ``dead``, ``constant`` and ``saturated`` explain a collapse, so
    ``collapsed`` is reported only when none of them is: it is the case where units vary but samples do not
    spread. Units stuck at a bound of a layer that saturates count as saturated, not constant
    (:func:`saturated_units`).

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> line = rng.normal(size=(200, 1)) @ rng.normal(size=(1, 16))  # 16 units that vary, along one direction
    >>> [(f.kind, f.details["effective_dims"]) for f in fault_findings(1, "fc", line)]
    [('collapsed', 1.0)]
    """
    th = thresholds or FindingThresholds()
    x = _as_matrix(activations)
    n_units = x.shape[1]
    out: list[Finding] = []
    finite = _finite_rows(x)
    if n_units and len(finite):
        dead, constant = unit_states(finite, th.unit_rtol)
        saturated, bounds = saturated_units(finite, th.saturation_atol, th.saturated_samples, th.unit_rtol)
        constant &= ~saturated  # stuck at the bound of a saturating layer: saturated is the better name
        dead_share, constant_share = float(dead.mean()), float(constant.mean())
        if dead_share >= th.dead_share:
            out.append(
                Finding(step, layer, "dead", f"{dead_share:.0%} of its units never fire (0 for every probe sample)",
                        {"share": dead_share, "n_units": n_units, "units": _ids(dead, th)})
            )  # fmt: skip
        if constant_share >= th.constant_share:
            values = finite[0, constant]
            out.append(
                Finding(step, layer, "constant",
                        f"{constant_share:.0%} of its units output one non-zero value for every probe sample: "
                        "the layer's input or weights carry no signal",
                        {"share": constant_share, "n_units": n_units, "units": _ids(constant, th),
                         "values": values[: th.max_ids].tolist()})
            )  # fmt: skip
        saturated_share = float(saturated.mean())
        explained = (
            dead_share >= th.dead_share
            or constant_share >= th.constant_share
            or saturated_share >= th.saturated_share
        )
        if not explained and (~dead & ~constant & ~saturated).any():
            collapsed = _collapse(finite, th)
            if collapsed is not None:
                out.append(Finding(step, layer, "collapsed", *collapsed))
        if bounds is not None and saturated_share >= th.saturated_share:
            out.append(
                Finding(step, layer, "saturated",
                        f"{saturated_share:.0%} of its units sit within {th.saturation_atol:g} of their bounds "
                        f"({bounds[0]:g}, {bounds[1]:g}) for at least {th.saturated_samples:.0%} of the probe",
                        {"share": saturated_share, "bounds": list(bounds), "n_units": n_units,
                         "units": _ids(saturated, th)})
            )  # fmt: skip
    if history:
        still = still_window(history, th)
        if still is not None:
            out.append(
                Finding(step, layer, "not_learning",
                        f"its activations have not changed since step {still['since_step']} while the training "
                        f"loss moved {still['loss_change']:.0%}: it is frozen or gets no gradient",
                        still)
            )  # fmt: skip
        exploding = _exploding(history, th)
        if exploding is not None:
            out.append(Finding(step, layer, "exploding", *exploding))
    return out


def _collapse(x: np.ndarray, th: FindingThresholds) -> tuple[str, dict[str, Any]] | None:
    if len(x) < 3:
        return None  # two samples always lie on a line
    spread = spread_ratio(x)
    if spread < th.collapse_spread:
        return (
            f"its probe samples sit on one point (their spread is {spread:.1e} of the activation norm) although "
            "its units vary",
            {"spread": spread, "effective_dims": None},
        )
    try:
        dims = effective_dims(x)
    except np.linalg.LinAlgError:  # values near float64's limits; the exploding check speaks for such a layer
        return None
    if dims < th.collapse_dims:
        return (
            f"its probe samples lie along {dims:.2f} effective directions (fewer than {th.collapse_dims:g}): the "
            "representation has collapsed",
            {"spread": spread, "effective_dims": round(dims, 6)},
        )
    return None


def _exploding(history: Sequence[LayerHistory], th: FindingThresholds) -> tuple[str, dict[str, Any]] | None:
    last = history[-1]
    if last.non_finite > 0:
        return (
            f"{last.non_finite:.0%} of the probe samples have NaN or infinite activations",
            {"non_finite": last.non_finite, "norm": last.norm},
        )
    growth, since = norm_growth(history, th.exploding_window)
    if math.isfinite(growth) and growth >= th.exploding_factor:
        return (
            f"its activation norm grew {growth:.3g}x since step {since} (to {last.norm:.3g})",
            {"growth": growth, "since_step": since, "norm": last.norm},
        )
    return None


# ------------------------------------------------------------------------------------------- class detectors
def _class_counts(graph: MapperGraph) -> tuple[np.ndarray, np.ndarray]:
    """Each sample's label with unknown ones as -1, and the number of probe samples of each class."""
    k = graph.n_classes
    if graph.labels is None or k == 0:
        return np.full(graph.n_samples, -1), np.zeros(0, dtype=np.int64)
    labels = np.where((graph.labels >= 0) & (graph.labels < k), graph.labels, -1)
    return labels, np.bincount(labels[labels >= 0], minlength=k)


def class_confusion(graph: MapperGraph, node_share: float = 0.1) -> list[dict[str, Any]]:
    """Pairs of classes that share nodes, the most confused first.

    A node *mixes* classes ``a`` and ``b`` when each holds at least ``node_share`` of its labelled members. A
    pair's ``share`` is the share of the probe samples of ``a`` or ``b`` that lie in some node mixing them.
    Each entry: ``classes`` ``[a, b]``, ``share``, ``samples`` (how many), ``nodes`` (the mixing nodes' ids).

    Examples
    --------
    >>> from topoact_lightning.engine.graph import MapperGraph
    >>> g = MapperGraph(n_samples=6, members=[np.array([0, 1, 2]), np.array([3, 4, 5])], node_cover=np.zeros(2),
    ...                 cover_bounds=np.array([[[0.0, 1.0]]]), lens=np.zeros(6), labels=np.array([0, 1, 0, 2, 2, 2]))
    >>> class_confusion(g)
    [{'classes': [0, 1], 'share': 1.0, 'samples': 3, 'nodes': [0]}]
    """
    labels, counts = _class_counts(graph)
    hist = graph.class_histograms()
    if len(counts) < 2 or not graph.n_nodes:
        return []
    totals = hist.sum(axis=1, keepdims=True)
    present = (hist > 0) & (hist >= node_share * totals)
    pair_nodes: dict[tuple[int, int], list[int]] = {}
    for node in np.flatnonzero(present.sum(axis=1) >= 2).tolist():
        cls = np.flatnonzero(present[node]).tolist()
        for i, a in enumerate(cls):
            for b in cls[i + 1 :]:
                pair_nodes.setdefault((a, b), []).append(node)
    out = []
    for (a, b), nodes in pair_nodes.items():
        samples = np.unique(np.concatenate([graph.members[n] for n in nodes]))
        hit = int(np.isin(labels[samples], (a, b)).sum())
        out.append(
            {"classes": [a, b], "share": hit / int(counts[a] + counts[b]), "samples": hit, "nodes": nodes}
        )
    out.sort(key=lambda p: (-p["share"], p["classes"]))
    return out


def separated_classes(
    graph: MapperGraph, purity: float = 0.9, coverage: float = 0.5
) -> dict[int, dict[str, Any]]:
    """The classes that have a branch or component of the graph of their own.

    Class ``c``'s *nodes* are those in which ``c`` makes up at least ``purity`` of the labelled members; its
    *regions* are the connected components of the subgraph those nodes induce. ``c`` is *separated* when one
    region holds at least ``coverage`` of ``c``'s probe samples. That region is a ``"component"`` when no edge
    leaves it (a connected component of the whole graph), else a ``"branch"`` (attached to the rest through
    mixed or other-class nodes). A region can be one node.

    Returns ``{class: {"nodes", "share", "shape"}}`` for the separated classes, with the best region's nodes,
    the share of ``c``'s samples it holds, and ``"component"`` or ``"branch"``.

    Examples
    --------
    >>> from topoact_lightning.engine.graph import MapperGraph
    >>> g = MapperGraph(n_samples=6, members=[np.array([0, 1]), np.array([1, 2]), np.array([3, 4, 5])],
    ...                 node_cover=np.zeros(3), cover_bounds=np.array([[[0.0, 1.0]]]), lens=np.zeros(6),
    ...                 labels=np.array([0, 0, 0, 1, 1, 0]))
    >>> separated_classes(g)
    {0: {'nodes': [0, 1], 'share': 0.75, 'shape': 'component'}}
    """
    labels, counts = _class_counts(graph)
    if len(counts) < 2 or not graph.n_nodes:
        return {}
    hist = graph.class_histograms()
    totals = hist.sum(axis=1)
    edges = graph.edges
    out: dict[int, dict[str, Any]] = {}
    for c in np.flatnonzero(counts).tolist():
        mine = (totals > 0) & (hist[:, c] >= purity * totals)
        if not mine.any():
            continue
        inside = mine[edges[:, 0]] & mine[edges[:, 1]]
        roots = connected_components(graph.n_nodes, edges[inside, 0], edges[inside, 1])
        best: tuple[float, list[int]] | None = None
        for root in np.unique(roots[mine]).tolist():
            nodes = np.flatnonzero(mine & (roots == root))
            samples = np.unique(np.concatenate([graph.members[n] for n in nodes]))
            share = int((labels[samples] == c).sum()) / int(counts[c])
            if best is None or share > best[0]:
                best = (share, nodes.tolist())
        if best is not None and best[0] >= coverage:
            region = np.zeros(graph.n_nodes, dtype=bool)
            region[best[1]] = True
            leaves = bool((region[edges[:, 0]] != region[edges[:, 1]]).any())
            out[c] = {"nodes": best[1], "share": best[0], "shape": "branch" if leaves else "component"}
    return out


def suspect_samples(graph: MapperGraph, purity: float = 0.9, min_node_size: int = 5) -> dict[str, np.ndarray]:
    """Labelled probe samples that sit only in nodes pure in a class other than their own.

    A node is *pure in* class ``d`` when it has at least ``min_node_size`` labelled members and ``d`` makes up at
    least ``purity`` of them. A sample is *suspect* when it belongs to at least one node and every node it
    belongs to is pure in a class other than its label (a sample on the border, also in a node of its own class
    or a mixed one, is not). These are the TopoAct paper's candidates for mislabelled or unusual samples.

    Returns arrays ``samples`` (ids, ascending), ``labels`` (theirs), ``node_classes`` (the class of the pure
    node each sits in; of its first one when several) and ``nodes`` (those pure nodes' ids).

    Examples
    --------
    >>> from topoact_lightning.engine.graph import MapperGraph
    >>> y = np.array([0] * 9 + [1] + [1] * 6)  # sample 9 is labelled 1 but sits among nine 0s
    >>> g = MapperGraph(n_samples=16, members=[np.arange(10), np.arange(10, 16)], node_cover=np.zeros(2),
    ...                 cover_bounds=np.array([[[0.0, 1.0]]]), lens=np.zeros(16), labels=y)
    >>> {k: v.tolist() for k, v in suspect_samples(g).items()}
    {'samples': [9], 'labels': [1], 'node_classes': [0], 'nodes': [0]}
    """
    labels, counts = _class_counts(graph)
    empty = {k: np.zeros(0, np.int64) for k in ("samples", "labels", "node_classes", "nodes")}
    if len(counts) < 2 or not graph.n_nodes:
        return empty
    hist = graph.class_histograms()
    totals = hist.sum(axis=1)
    major = hist.argmax(axis=1)
    pure = (totals >= min_node_size) & (hist.max(axis=1) >= purity * np.maximum(totals, 1))
    nodes, samples = membership_pairs(graph.members)
    known = labels[samples] >= 0
    nodes, samples = nodes[known], samples[known]
    wrong = pure[nodes] & (major[nodes] != labels[samples])
    n_nodes = np.bincount(samples, minlength=graph.n_samples)
    n_wrong = np.bincount(samples, weights=wrong, minlength=graph.n_samples)
    ids = np.flatnonzero((n_nodes > 0) & (n_wrong == n_nodes))
    if not len(ids):
        return empty
    # The first pure node each suspect sits in: memberships are listed node by node, so the first hit.
    first = {}
    for n, s in zip(nodes[wrong].tolist(), samples[wrong].tolist(), strict=True):
        first.setdefault(s, n)
    return {
        "samples": ids,
        "labels": labels[ids],
        "node_classes": major[[first[s] for s in ids.tolist()]],
        "nodes": np.array(sorted(set(first.values())), dtype=np.int64),
    }


def class_findings(
    step: int, layer: str, graph: MapperGraph, thresholds: FindingThresholds | None = None
) -> list[Finding]:
    """The ``confusion`` and ``suspect_labels`` findings of one layer's graph at one step (``separation`` needs
    the earlier steps: :class:`FindingTracker` reports it from :func:`separated_classes`)."""
    th = thresholds or FindingThresholds()
    names = _class_names(graph)
    out = []
    pairs = [
        p for p in class_confusion(graph, th.confusion_node_share) if p["share"] >= th.confusion_min_share
    ]
    for p in pairs[: th.confusion_top]:
        a, b = p["classes"]
        out.append(
            Finding(step, layer, "confusion",
                    f"classes {names[a]!r} and {names[b]!r} share {len(p['nodes'])} node(s), which hold "
                    f"{p['share']:.0%} of their probe samples",
                    {**p, "class_names": [names[a], names[b]], "nodes": p["nodes"][: th.max_ids]})
        )  # fmt: skip
    suspects = suspect_samples(graph, th.suspect_purity, th.suspect_min_node_size)
    n = len(suspects["samples"])
    if n:
        shown = suspects["samples"][: th.max_ids].tolist()
        listed = ", ".join(map(str, shown[:10])) + (", ..." if n > 10 else "")
        out.append(
            Finding(step, layer, "suspect_labels",
                    f"{n} probe sample(s) sit only in nodes pure in another class than their label (ids {listed})",
                    {"count": n, "samples": shown, "labels": suspects["labels"][: th.max_ids].tolist(),
                     "node_classes": suspects["node_classes"][: th.max_ids].tolist(),
                     "nodes": suspects["nodes"][: th.max_ids].tolist()})
        )  # fmt: skip
    return out


def separation_findings(
    step: int,
    layer: str,
    graph: MapperGraph,
    thresholds: FindingThresholds | None = None,
) -> list[Finding]:
    """A ``separation`` finding for every class separated in this graph (:func:`separated_classes`); the
    tracker keeps only each class's first."""
    th = thresholds or FindingThresholds()
    names = _class_names(graph)
    out = []
    for c, region in separated_classes(graph, th.separation_purity, th.separation_coverage).items():
        out.append(
            Finding(step, layer, "separation",
                    f"class {names[c]!r} has a {region['shape']} of its own ({len(region['nodes'])} node(s) "
                    f"holding {region['share']:.0%} of its probe samples)",
                    {"class": c, "class_name": names[c], **region, "nodes": region["nodes"][: th.max_ids]})
        )  # fmt: skip
    return out


def _class_names(graph: MapperGraph) -> list[str]:
    if graph.class_names is not None:
        return list(graph.class_names)
    return [str(i) for i in range(graph.n_classes)]


# ------------------------------------------------------------------------------------------------------ tracker
class FindingTracker:
    """Runs the detectors at each logged step, keeps each layer's short history and tells which findings are new.

    A fault kind is new once per layer over the run, ``separation`` once per layer and class, and the other
    class findings once per step (:attr:`Finding.key`). All state is plain Python: :meth:`state_dict` can go in a
    Lightning checkpoint, and after :meth:`load_state_dict` re-running a step that was already seen reports
    nothing again.

    Parameters
    ----------
    thresholds : FindingThresholds, optional
        The detectors' thresholds (the defaults when omitted).
    history_length : int
        How many logged steps of each layer's :class:`LayerHistory` to keep (enough for ``not_learning`` and
        ``exploding``; at least ``max(still_steps, exploding_window) + 1``).

    Examples
    --------
    >>> tracker = FindingTracker()
    >>> [f.kind for f in tracker.observe(0, "fc", np.zeros((50, 4)), loss=2.3)]
    ['dead']
    >>> tracker.observe(1, "fc", np.zeros((50, 4)), loss=1.9)  # still dead: not new
    []
    >>> resumed = FindingTracker()
    >>> resumed.load_state_dict(tracker.state_dict())
    >>> resumed.observe(1, "fc", np.zeros((50, 4)), loss=1.9), len(resumed.findings)
    ([], 1)
    """

    STATE_VERSION = 1

    def __init__(self, thresholds: FindingThresholds | None = None, history_length: int = 8) -> None:
        self.thresholds = thresholds or FindingThresholds()
        need = max(self.thresholds.still_steps, self.thresholds.exploding_window) + 1
        if history_length < need:
            raise TopoActConfigError(
                f"FindingTracker: history_length={history_length} is too short for these thresholds; use at least "
                f"{need}"
            )
        self.history_length = int(history_length)
        self._findings: list[Finding] = []
        self._seen: set[tuple[Any, ...]] = set()
        self._history: dict[str, list[LayerHistory]] = {}

    @property
    def findings(self) -> tuple[Finding, ...]:
        """Every finding reported so far, in the order reported."""
        return tuple(self._findings)

    def history(self, layer: str) -> tuple[LayerHistory, ...]:
        return tuple(self._history.get(layer, ()))

    def faulty_layers(self) -> dict[str, list[str]]:
        """``{layer: [fault kinds]}`` of the layers with a fault finding (for the tab's badges)."""
        out: dict[str, list[str]] = {}
        for f in self._findings:
            if f.is_fault:
                out.setdefault(f.layer, []).append(f.kind)
        return out

    def add(self, findings: Iterable[Finding]) -> list[Finding]:
        """Record ``findings`` and return those that are new (not a repeat by :attr:`Finding.key`)."""
        new = []
        for f in findings:
            if f.key in self._seen:
                continue
            self._seen.add(f.key)
            self._findings.append(f)
            new.append(f)
        return new

    def observe(
        self,
        step: int,
        layer: str,
        activations: np.ndarray,
        *,
        loss: float | None = None,
        graph: MapperGraph | None = None,
        graph_distance: float | None = None,
    ) -> list[Finding]:
        """Append this step to the layer's history, run every detector, and return the new findings.

        ``loss`` is the training loss at this step and ``graph_distance`` the distance of ``graph`` to the
        layer's previous graph (both optional; ``not_learning`` needs the loss). A step at or before the last
        one in the layer's history replaces it and what follows (a resumed run repeats steps).
        """
        entry = LayerHistory.from_activations(step, activations, loss=loss, graph_distance=graph_distance)
        history = [h for h in self._history.get(layer, []) if h.step < entry.step]
        history.append(entry)
        self._history[layer] = history[-self.history_length :]
        found = fault_findings(step, layer, activations, self._history[layer], self.thresholds)
        if graph is not None:
            found += separation_findings(step, layer, graph, self.thresholds)
            found += class_findings(step, layer, graph, self.thresholds)
        return self.add(found)

    def state_dict(self) -> dict[str, Any]:
        return {
            "version": self.STATE_VERSION,
            "findings": [f.to_dict() for f in self._findings],
            "history": {layer: [h.to_dict() for h in hs] for layer, hs in self._history.items()},
        }

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        version = state.get("version")
        if version != self.STATE_VERSION:
            raise ValueError(
                f"findings state version {version!r} is not {self.STATE_VERSION}; it was saved by another version "
                "of topoact-lightning"
            )
        self._findings, self._seen = [], set()
        self.add(Finding.from_dict(d) for d in state.get("findings", []))
        self._history = {
            str(layer): [LayerHistory.from_dict(d) for d in hs][-self.history_length :]
            for layer, hs in state.get("history", {}).items()
        }


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


# ------------------------------------------------------------------------------------------------------ helpers
def _as_matrix(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, dtype=np.float64)
    if x.ndim != 2:
        raise ValueError(f"activations must be 2-D (samples x units), got shape {x.shape}")
    return x


def _finite_rows(x: np.ndarray) -> np.ndarray:
    x = _as_matrix(x)
    return x[np.isfinite(x).all(axis=1)]


def _ids(mask: np.ndarray, th: FindingThresholds) -> list[int]:
    return np.flatnonzero(mask)[: th.max_ids].tolist()


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
