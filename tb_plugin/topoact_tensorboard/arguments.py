"""The routes' query parameters: read, checked, and refused with a 400 that says what was expected.

Steps are TensorBoard's: any 64-bit signed integer (what the ``epochs`` route lists is what ``graph`` accepts).
Sample indices are non-negative and below 10**9.

Example::

    epoch = step_arg(request, "epoch")  # "-5" -> -5; "x", "1.5" and "2**64" -> InvalidArgumentError
"""

from __future__ import annotations

import functools
import math
import re
from typing import Any

from tensorboard import errors

from topoact_lightning.engine.remap import FIXED_EPS

#: At most this many samples in one ``track`` request.
MAX_TRACKED_SAMPLES = 1000
STEP_MIN, STEP_MAX = -(2**63), 2**63 - 1
_STEP_RE = re.compile(r"-?[0-9]{1,19}")
_INDEX_RE = re.compile(r"[0-9]{1,9}")


def shown(value: str, limit: int = 80) -> str:
    """``repr(value)``, cut short: error messages echo what was sent, not megabytes of it."""
    return repr(value) if len(value) <= limit else repr(value[:limit]) + f"... ({len(value)} characters)"


def arg(request, name: str, default: str | None = None) -> str:
    """The parameter's value; ``default`` when it is missing or empty, else a 400 if there is no default."""
    value = request.args.get(name)
    if value is None or value == "":
        if default is not None:
            return default
        raise errors.InvalidArgumentError(f"missing parameter {name!r}")
    return value


def step_arg(request, name: str) -> int:
    """A step: an integer within TensorBoard's 64-bit step range."""
    value = arg(request, name)
    if not _STEP_RE.fullmatch(value) or not STEP_MIN <= int(value) <= STEP_MAX:
        raise errors.InvalidArgumentError(
            f"parameter {name!r} must be an integer step (a 64-bit signed integer), got {shown(value)}"
        )
    return int(value)


def index_arg(request, name: str) -> int:
    """A sample index: a non-negative integer."""
    value = arg(request, name)
    if not _INDEX_RE.fullmatch(value):
        raise errors.InvalidArgumentError(
            f"parameter {name!r} must be a non-negative integer, got {shown(value)}"
        )
    return int(value)


def jaccard_arg(request, name: str, default: float) -> float:
    """A Jaccard threshold in ``(0, 1]``."""
    value = request.args.get(name)
    if value is None or value == "":
        return default
    try:
        x = float(value)
    except ValueError:
        x = math.nan
    if not (0.0 < x <= 1.0):  # also rejects NaN
        raise errors.InvalidArgumentError(
            f"parameter {name!r} must be a number in (0, 1], got {shown(value)}"
        )
    return x


def samples_arg(request) -> list[int]:
    """``samples``: comma-separated sample indices, duplicates dropped, at most :data:`MAX_TRACKED_SAMPLES`."""
    raw = arg(request, "samples")
    parts = [p.strip() for p in raw.split(",") if p.strip()]
    if not parts or not all(_INDEX_RE.fullmatch(p) for p in parts):
        raise errors.InvalidArgumentError(
            f"parameter 'samples' must be comma-separated non-negative integers, got {shown(raw)}"
        )
    if len(parts) > MAX_TRACKED_SAMPLES:
        raise errors.InvalidArgumentError(f"at most {MAX_TRACKED_SAMPLES} samples can be tracked at once")
    return list(dict.fromkeys(int(p) for p in parts))


def choice_arg(request, name: str, choices: tuple[str, ...], default: str) -> str:
    """One of ``choices`` (``default`` when the parameter is missing or empty); 400 naming them otherwise."""
    value = arg(request, name, default)
    if value not in choices:
        raise errors.InvalidArgumentError(
            f"parameter {name!r} must be one of {', '.join(choices)}; got {shown(value)}"
        )
    return value


def kinds_arg(request, name: str, known: tuple[str, ...]) -> tuple[str, ...] | None:
    """Comma-separated names from ``known`` (None when the parameter is missing: no filter); 400 on any other."""
    raw = request.args.get(name)
    if raw is None or raw == "":
        return None
    parts = [p.strip() for p in raw.split(",") if p.strip()]
    unknown = [p for p in parts if p not in known]
    if not parts or unknown:
        raise errors.InvalidArgumentError(
            f"parameter {name!r} must be comma-separated names among {', '.join(known)}; got "
            f"{shown(unknown[0] if unknown else raw)}"
        )
    return tuple(dict.fromkeys(parts))


#: Mapper parameters of a request, sorted ``(name, value)`` pairs (:func:`mapper_args`).
MapperArgs = tuple[tuple[str, Any], ...]
#: The Mapper parameters a request may override (re-mapping a logged epoch's stored activations).
MAPPER_ARGS = ("n_intervals", "overlap", "eps", "min_samples", "lens", "metric", "cover")
#: At most this many cover elements per lens dimension, and this ``min_samples``, in a re-mapping request: a
#: request must not keep the server busy for long (the cover's total is further capped by the engine).
MAX_REQUEST_INTERVALS = 1000
MAX_REQUEST_MIN_SAMPLES = 1000
#: What a request narrows or adds to the engine's table (:func:`request_parameters`): the caps above, and
#: ``eps=fixed`` (one eps for every epoch of a layer, resolved by the plugin).
REQUEST_CAPS = {"n_intervals": MAX_REQUEST_INTERVALS, "min_samples": MAX_REQUEST_MIN_SAMPLES}
REQUEST_OPTIONS = {"eps": (FIXED_EPS,)}
_FLOAT_RE = re.compile(r"(?:[0-9]{1,9}(?:\.[0-9]{0,12})?|\.[0-9]{1,12})(?:[eE][-+]?[0-9]{1,3})?")


@functools.cache
def request_parameters() -> dict[str, dict[str, Any]]:
    """What each of :data:`MAPPER_ARGS` accepts in a request, as JSON (the ``params`` route's answer): the engine's
    constraint table (:func:`~topoact_lightning.engine.params.parameter_spec`, the one statement of each range)
    with the request caps and options above.

    Example:
        >>> request_parameters()["n_intervals"], request_parameters()["eps"]["options"]
        ({'type': 'integer', 'min': 1, 'max': 1000}, ['auto', 'fixed'])
    """
    from topoact_lightning.engine.params import parameter_spec

    out = {}
    for name in MAPPER_ARGS:
        spec = parameter_spec(name)
        if name in REQUEST_CAPS:
            spec["max"] = min(spec.get("max", math.inf), REQUEST_CAPS[name])
        if name in REQUEST_OPTIONS:
            spec["options"] = [*spec.get("options", []), *REQUEST_OPTIONS[name]]
        out[name] = spec
    return out


def _within(x: float, spec: dict[str, Any]) -> bool:
    """Whether the finite number ``x`` lies within the bounds of ``spec`` (NaN never does)."""
    if not math.isfinite(x):
        return False
    low, high = spec.get("min"), spec.get("max")
    if low is not None and not (x > low if spec.get("min_exclusive") else x >= low):
        return False
    return high is None or (x < high if spec.get("max_exclusive") else x <= high)


def _expected(spec: dict[str, Any]) -> str:
    """What ``spec`` accepts, in words: "an integer from 1 to 1000", "a positive number, 'auto' or 'fixed'"."""
    low, high = spec.get("min"), spec.get("max")
    if spec["type"] == "integer":
        words = f"an integer from {low} to {high}" if high is not None else f"an integer >= {low}"
    elif high is not None:
        left, right = "(" if spec.get("min_exclusive") else "[", ")" if spec.get("max_exclusive") else "]"
        words = f"a number in {left}{low}, {high}{right}"
    elif low == 0 and spec.get("min_exclusive"):
        words = "a positive number"
    else:
        words = f"a number {'>' if spec.get('min_exclusive') else '>='} {low}"
    names = [repr(o) for o in spec.get("options", ())]
    return ", ".join([words, *names[:-1]]) + (f" or {names[-1]}" if names else "")


def _mapper_value(name: str, value: str):
    spec = request_parameters()[name]
    if value in spec.get("options", ()):
        return value
    if spec["type"] == "choice":
        raise errors.InvalidArgumentError(
            f"parameter {name!r} must be one of {', '.join(spec['options'])}; got {shown(value)}"
        )
    if spec["type"] == "integer":
        x = int(value) if _INDEX_RE.fullmatch(value) else math.nan
    else:
        x = float(value) if _FLOAT_RE.fullmatch(value) else math.nan
    if not _within(x, spec):
        raise errors.InvalidArgumentError(f"parameter {name!r} must be {_expected(spec)}, got {shown(value)}")
    return x


def mapper_args(request) -> MapperArgs:
    """The Mapper parameters among :data:`MAPPER_ARGS` the request sets, as sorted ``(name, value)`` pairs (a cache
    key; empty: show the logged graphs). Each value is checked, then all together by the engine's
    ``Mapper.check_params`` (its message, which names the fix, is the 400's)."""
    from topoact_lightning.engine.mapper import Mapper
    from topoact_lightning.errors import TopoActConfigError

    given = {}
    for name in MAPPER_ARGS:
        value = request.args.get(name)
        if value is not None and value != "":
            given[name] = _mapper_value(name, value)
    try:
        # A fixed eps is a number chosen later, per layer: any eps checks the others alike.
        Mapper(**{**given, "eps": "auto"} if given.get("eps") == FIXED_EPS else given).check_params()
    except TopoActConfigError as e:
        raise errors.InvalidArgumentError(f"these Mapper parameters cannot be used: {e}") from e
    return tuple(sorted(given.items()))
