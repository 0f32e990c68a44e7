"""Fault detectors: small pure functions over one layer's ``(n_samples, n_units)`` activations and its
short :class:`LayerHistory` (for ``not_learning`` and ``exploding``)."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from topoact_lightning.monitor.diagnostics import effective_dims
from topoact_lightning.monitor.findings.records import (
    Finding,
    FindingThresholds,
    _optional_float,
    _plain,
)

# The sketch behind activation fingerprints: a fixed seed, so that two processes fingerprint alike.
_FINGERPRINT_SEED = 15
_FINGERPRINT_SIZE = 8


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
    """``S1 @ x @ S2 / sqrt(n_samples * n_units)`` flattened, with ``S1`` and ``S2`` fixed random-sign matrices
    for the matrix's shape: a sketch whose change between two steps tracks the change of ``x``
    (Johnson-Lindenstrauss holds for random signs as for Gaussians), in ``size**2`` numbers. Non-finite values
    count as 0. The signs come from a hash, not ``numpy.random``, whose import would cost the graph process
    20 ms per fit.

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
    left = _random_signs(size, n, 0)
    right = _random_signs(d, size, size * n)
    return ((left @ x) @ right).ravel() / np.sqrt(n * d)


def _random_signs(rows: int, cols: int, offset: int) -> np.ndarray:
    """A fixed ``rows x cols`` matrix of +-1 from the classic ``fract(sin(k) * 43758.5453)`` hash."""
    k = np.arange(offset, offset + rows * cols, dtype=np.float64)
    u = np.sin(k * 12.9898 + _FINGERPRINT_SEED * 78.233) * 43758.5453 % 1.0
    return np.where(u < 0.5, -1.0, 1.0).reshape(rows, cols)


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
