"""What :class:`~topoact_lightning.engine.mapper.Mapper` accepts: its parameter constraints as one table, and the
checks of the data ``fit`` receives.

Every parameter error comes from :func:`validate_params`, which reads :data:`PARAMETER_CONSTRAINTS` (the style of
scikit-learn's ``_parameter_constraints``): each parameter lists the forms it may take, each form a test and the
words that describe it, so an error always says what would have been accepted. The table is the only statement of
a parameter's range: :func:`parameter_spec` gives it as JSON to checks outside Python (the TensorBoard plugin's
routes, and through them the tab's fields). Checks that involve several
parameters, or the data, follow it as plain code.

Example:
    >>> validate_params({"overlap": 1.5})
    Traceback (most recent call last):
    ...
    topoact_lightning.errors.TopoActConfigError: overlap must be a fraction in [0, 1) (for example 0.3), or one per lens dimension, got 1.5
    >>> check_labels([0, 1, -1], 3, None).tolist()
    [0, 1, -1]
"""

from __future__ import annotations

import numbers
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from topoact_lightning.engine.covers import COVERS
from topoact_lightning.engine.distances import METRICS
from topoact_lightning.engine.lenses import LENSES
from topoact_lightning.errors import TopoActConfigError

#: The most cover elements (the product of ``n_intervals`` over lens dimensions) a fit accepts. Every element
#: costs a pass of Python and numpy calls even when empty, so far more elements than points only burns time
#: (``n_intervals=10**7`` took 41 s for no node) or memory (``10**12`` exhausted it).
MAX_COVER_ELEMENTS = 100_000

#: Lens dimensions of the named lenses.
LENS_DIMS = {"l2norm": 1, "pca": 1, "pca2": 2, "knn_distance": 1, "eccentricity": 1}


@dataclass(frozen=True)
class Form:
    """One form a parameter may take: a test, the words an error message uses for it, and what a check outside
    Python needs to know of it (a form field, a route's parser: see :func:`parameter_spec`)."""

    test: Callable[[Any], bool]
    text: str
    #: JSON that states the form: ``{"type": "integer" | "number", "min", "max", "min_exclusive",
    #: "max_exclusive"}`` (bounds present only where there are bounds) or ``{"type": "choice", "options": [...]}``;
    #: None for forms only Python can take (callables, arrays, estimators).
    spec: dict[str, Any] | None = field(default=None, compare=False)


def _is_int(v: Any) -> bool:
    return isinstance(v, numbers.Integral) and not isinstance(v, bool)


def _is_real(v: Any) -> bool:
    return isinstance(v, numbers.Real) and not isinstance(v, bool)


def integer(low: int) -> Form:
    return Form(lambda v: _is_int(v) and v >= low, f"an integer >= {low}", {"type": "integer", "min": low})


def number(
    low: float, high: float | None = None, *, low_open: bool = False, high_open: bool = False, text: str
) -> Form:
    """A real number from ``low`` to ``high`` (no upper bound when None); ``*_open`` leaves that bound out."""

    def test(v: Any) -> bool:
        if not _is_real(v) or not (v > low if low_open else v >= low):
            return False
        return high is None or (v < high if high_open else v <= high)

    spec: dict[str, Any] = {"type": "number", "min": low}
    if low_open:
        spec["min_exclusive"] = True
    if high is not None:
        spec["max"] = high
        if high_open:
            spec["max_exclusive"] = True
    return Form(test, text, spec)


def options(*names: str) -> Form:
    text = repr(names[0]) if len(names) == 1 else "one of " + ", ".join(names)
    return Form(lambda v: isinstance(v, str) and v in names, text, {"type": "choice", "options": list(names)})


def per_dim(form: Form) -> Form:
    """``form``, or a non-empty sequence of values that each take it (one per lens dimension)."""

    def test(v: Any) -> bool:
        values = np.atleast_1d(np.asarray(v, dtype=object)).tolist() if not isinstance(v, str) else [v]
        return (
            bool(values) and np.ndim(np.asarray(v, dtype=object)) <= 1 and all(form.test(x) for x in values)
        )

    # The spec states one value's form: a list per lens dimension is for Python callers.
    return Form(test, f"{form.text}, or one per lens dimension", form.spec)


def _numeric_array(v: Any) -> bool:
    arr = np.asarray(v)
    return arr.dtype.kind in "biuf" and arr.ndim in (1, 2) and arr.size > 0


NONE = Form(lambda v: v is None, "None")
POSITIVE = number(0, low_open=True, text="a positive number")
FRACTION = number(0, 1, high_open=True, text="a fraction in [0, 1) (for example 0.3)")
BOOLEAN = Form(lambda v: isinstance(v, bool), "True or False")
CALLABLE_LENS = Form(lambda v: callable(v) and not isinstance(v, str), "a callable X -> lens")
LENS_ARRAY = Form(
    lambda v: not isinstance(v, str) and not callable(v) and _numeric_array(v),
    "a non-empty numeric array of shape (n,) or (n, d)",
)
CLUSTERER = Form(
    lambda v: hasattr(v, "fit_predict") and hasattr(v, "get_params"),
    "a scikit-learn clusterer instance (with get_params and fit_predict)",
)
DEVICE = Form(lambda v: isinstance(v, str), "a torch device string such as 'cuda'")
REFERENCE = Form(
    lambda v: hasattr(v, "reference_") or hasattr(v, "fit_graph") or _numeric_array(v),
    "a fitted Mapper or a (D, k) basis array",
)

#: The forms each parameter may take (``random_state`` is passed to numpy as it is).
PARAMETER_CONSTRAINTS: dict[str, list[Form]] = {
    "lens": [options(*LENSES), CALLABLE_LENS, LENS_ARRAY],
    "n_intervals": [per_dim(integer(1))],
    "overlap": [per_dim(FRACTION)],
    "cover": [options(*COVERS)],
    "clusterer": [options("dbscan"), CLUSTERER],
    "eps": [options("auto"), POSITIVE],
    "min_samples": [integer(1)],
    "metric": [options(*METRICS)],
    "lens_reference": [NONE, REFERENCE],
    "lens_k": [integer(1)],
    "fast": [BOOLEAN],
    "scale": [BOOLEAN],
    "progress": [BOOLEAN],
    "n_components": [integer(1)],
    "n_jobs": [Form(NONE.test, "None (every core)"), integer(1)],
    "device": [NONE, DEVICE],
    "eps_sample": [integer(3)],
}


def parameter_spec(name: str) -> dict[str, Any]:
    """What parameter ``name`` accepts, as JSON for a check outside Python: its numeric form's ``type`` and bounds
    (``"choice"`` when it has none), and under ``options`` the strings it takes. Forms only Python can take
    (callables, arrays, estimators, ``None``) are left out.

    Example:
        >>> parameter_spec("overlap")
        {'type': 'number', 'min': 0, 'max': 1, 'max_exclusive': True}
        >>> parameter_spec("eps")
        {'type': 'number', 'min': 0, 'min_exclusive': True, 'options': ['auto']}
        >>> parameter_spec("metric")["type"], parameter_spec("n_intervals")
        ('choice', {'type': 'integer', 'min': 1})
    """
    specs = [form.spec for form in PARAMETER_CONSTRAINTS[name] if form.spec is not None]
    numeric = [spec for spec in specs if spec["type"] != "choice"]
    if len(numeric) > 1:
        raise ValueError(f"{name} has more than one numeric form; a spec cannot state it")
    out = dict(numeric[0]) if numeric else {"type": "choice"}
    names = [option for spec in specs if spec["type"] == "choice" for option in spec["options"]]
    if names:
        out["options"] = names
    return out


# Parameters that name one of a few choices: a string outside them is "unknown", which reads better.
_CHOICES = frozenset({"lens", "cover", "clusterer", "metric"})


def validate_params(params: Mapping[str, Any]) -> None:
    """Raise :class:`TopoActConfigError` for the first parameter that takes none of its forms.

    The message lists every accepted form, so it names the fix.
    """
    for name, forms in PARAMETER_CONSTRAINTS.items():
        if name not in params:
            continue
        v = params[name]
        if any(_takes(form, v) for form in forms):
            continue
        texts = [form.text for form in forms]
        accepted = (
            texts[0]
            if len(texts) == 1
            else ", ".join(texts[:-1]) + (", or " if len(texts) > 2 else " or ") + texts[-1]
        )
        if name in _CHOICES and isinstance(v, str):
            raise TopoActConfigError(f"unknown {name} {v!r}: use {accepted}")
        raise TopoActConfigError(f"{name} must be {accepted}, got {_short(v)}")


def _takes(form: Form, value: Any) -> bool:
    try:
        return bool(form.test(value))
    except Exception:  # numpy refuses some objects outright (ragged, recursive): not this form, then
        return False


def check_cover(n_intervals: Any, lens_dim: int | None, overlap: Any = 0.3) -> None:
    """Refuse covers of more than :data:`MAX_COVER_ELEMENTS` elements, or with per-dimension values for another
    number of lens dimensions, before any work starts.

    ``lens_dim`` None: not known yet (a callable lens); only per-dimension lists can be checked then.
    """
    ns = np.atleast_1d(np.asarray(n_intervals, dtype=object)).tolist()
    if len(ns) > 1 and lens_dim is not None and len(ns) != lens_dim:
        raise TopoActConfigError(
            f"n_intervals has {len(ns)} values for a {lens_dim}-dimensional lens: give one value, or {lens_dim}"
            + (" (or use a 2-dimensional lens such as lens='pca2')" if len(ns) == 2 else "")
        )
    if len(ns) == 1 and lens_dim is not None:
        ns = ns * lens_dim
    elif len(ns) == 1:
        return
    overlaps = np.atleast_1d(np.asarray(overlap, dtype=object)).tolist()
    if len(overlaps) > 1 and len(overlaps) != len(ns):
        raise TopoActConfigError(
            f"overlap has {len(overlaps)} values for a {len(ns)}-dimensional lens: give one value, or {len(ns)}"
        )
    # Python ints: the product of huge counts must not overflow int64 into a small number.
    total = 1
    for n in ns:
        total *= int(n)
    if total > MAX_COVER_ELEMENTS:
        raise TopoActConfigError(
            f"n_intervals={_short(n_intervals)} makes {total} cover elements over {len(ns)} lens "
            f"dimension(s); at most {MAX_COVER_ELEMENTS} are supported: lower n_intervals (a few dozen per "
            "dimension is typical)"
        )


def check_X(X: Any) -> np.ndarray:
    """``X`` as a C-contiguous float32 ``(n_samples, n_features)`` array of finite values, at least 2 rows."""
    if hasattr(X, "detach"):  # a torch tensor
        X = X.detach().cpu().numpy()
    try:
        X = np.asarray(X, dtype=np.float32)
    except (TypeError, ValueError) as e:
        raise ValueError(f"X must be a numeric array of shape (n_samples, n_features): {e}") from e
    if X.ndim != 2:
        raise ValueError(
            f"X must be 2-D (n_samples, n_features), got shape {X.shape}; flatten each sample, e.g. X.reshape(len(X), -1)"
        )
    if len(X) < 2:
        raise ValueError(f"Mapper needs at least 2 samples, got {len(X)}; pass more samples")
    if X.shape[1] == 0:
        raise ValueError("X has no features (shape (n, 0))")
    if not np.isfinite(X).all():
        bad = int((~np.isfinite(X)).any(axis=1).sum())
        raise ValueError(
            f"X has NaN or infinite values in {bad} samples (or values beyond float32 range); drop or impute them first"
        )
    return np.ascontiguousarray(X)


def check_lens_values(values: Any, n: int, name: str) -> np.ndarray:
    """A callable's or a precomputed lens as float32 ``(n,)`` or ``(n, d)`` finite values."""
    values = np.asarray(values)
    if values.ndim == 2 and values.shape[1] == 1:
        values = values[:, 0]
    if values.ndim not in (1, 2) or len(values) != n or values.dtype.kind not in "biuf":
        raise ValueError(
            f"the {name} lens gave shape {values.shape} for {n} samples: it must be numeric, of shape (n,) or (n, d)"
        )
    values = values.astype(np.float32)
    if not np.isfinite(values).all():
        raise ValueError(f"the {name} lens has NaN or infinite values; give finite lens values")
    return values


def check_labels(labels: Any, n: int, class_names: Sequence[str] | None) -> np.ndarray | None:
    """Labels as int64 class ids, ``-1`` for unknown.

    Ids may be sparse or large (histograms are sized by the classes present, not the largest id), but ids below
    -1 are refused, and so is an id without a name when ``class_names`` is given.
    """
    if labels is None:
        return None
    if hasattr(labels, "detach"):
        labels = labels.detach().cpu().numpy()
    arr = np.asarray(labels)
    if arr.shape != (n,):
        raise ValueError(f"labels has shape {arr.shape} for {n} samples; give one class index per sample")
    if arr.dtype.kind not in "biu":
        raise ValueError("labels must be integer class indices (-1 for unknown)")
    if arr.dtype.kind == "u" and arr.size and int(arr.max()) > np.iinfo(np.int64).max:
        raise ValueError(
            f"labels holds {int(arr.max())}, beyond int64: map the class ids to smaller integers"
        )
    arr = arr.astype(np.int64)
    if arr.size and arr.min() < -1:
        raise ValueError(
            f"labels holds {int(arr.min())}: class ids must be >= 0, with -1 for an unknown class"
        )
    if class_names is not None and arr.size and arr.max() >= len(class_names):
        raise ValueError(
            f"label {int(arr.max())} has no class name: class_names has {len(class_names)} names (ids 0 to "
            f"{len(class_names) - 1}); give a name for every class id, or leave class_names out"
        )
    return arr


def check_extras(extras: Mapping[str, Any] | None, n: int) -> dict[str, np.ndarray] | None:
    """Per-sample extras as float32 ``(n,)`` arrays."""
    if extras is None:
        return None
    out = {}
    for name, v in extras.items():
        if hasattr(v, "detach"):
            v = v.detach().cpu().numpy()
        arr = np.asarray(v, dtype=np.float32)
        if arr.shape != (n,):
            raise ValueError(
                f"extra {name!r} has shape {arr.shape} for {n} samples; give one value per sample"
            )
        out[str(name)] = arr
    return out


def _short(v: Any) -> str:
    if isinstance(v, np.ndarray):
        return f"<array {v.shape}>"
    text = repr(v)
    return text if len(text) <= 80 else text[:77] + "..."
