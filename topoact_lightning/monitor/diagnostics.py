"""Health checks of a layer's activations over the probe: small pure functions over ``(n_samples, n_units)`` arrays.

- :func:`dead_unit_share`: the share of units that carry no signal over the probe. A unit is *dead* when its
  value is the same for every probe sample (within ``atol``); this covers a ReLU unit that never fires (always 0)
  as well as a unit stuck at a constant, while a pre-activation unit that is always negative but varies is alive.
- :func:`effective_rank`: the collapse indicator. The effective rank of Roy & Vetterli (2007),
  ``exp(H(p))`` with ``p`` the normalised singular values of the *centred* activation matrix, divided by its
  largest possible value ``min(n_samples - 1, n_units)``. 1 means the samples spread over every direction, values
  near 0 that they lie along one direction or on one point (representation collapse). Centring matters: ReLU
  activations share a large common mean that would otherwise dominate.
- :func:`effective_dims`: the same without the normalisation (the number of directions actually used).

Example:
    >>> import numpy as np
    >>> x = np.array([[0.0, 1.0, 2.0], [0.0, 3.0, 2.0], [0.0, 2.0, 2.0]])
    >>> float(dead_unit_share(x))  # columns 0 and 2 are constant
    0.6666666666666666
    >>> round(effective_dims(x), 3)  # the samples vary along one direction only
    1.0
"""

from __future__ import annotations

import numpy as np

#: Diagnostic metric names, as logged next to the graph metrics.
DIAGNOSTIC_METRICS = ("dead_units", "effective_rank", "distance")


def dead_unit_share(x: np.ndarray, atol: float = 1e-6) -> float:
    """The share of columns of ``x`` whose values span at most ``atol`` (constant over the samples).

    NaN for an empty matrix. Non-finite values count as alive (they are reported separately).
    """
    x = np.asarray(x, dtype=np.float64)
    if x.ndim != 2:
        raise ValueError("activations must be 2-D (samples x units)")
    if x.shape[0] == 0 or x.shape[1] == 0:
        return float("nan")
    span = x.max(axis=0) - x.min(axis=0)
    return float(np.mean(span <= atol))


def _centred_singular_values(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, dtype=np.float64)
    if x.ndim != 2:
        raise ValueError("activations must be 2-D (samples x units)")
    xc = x - x.mean(axis=0, keepdims=True)
    if xc.shape[0] < 2 or xc.shape[1] == 0:
        return np.zeros(0)
    # The Gram matrix of the smaller side has the same non-zero spectrum and is much cheaper for wide layers.
    gram = xc @ xc.T if xc.shape[1] > xc.shape[0] else xc.T @ xc
    ev = np.linalg.eigvalsh(gram)
    # Eigenvalues of a Gram matrix are exact only to ~1e-15 of the largest: below that they are rounding noise.
    ev[ev < ev.max(initial=0.0) * 1e-13] = 0.0
    return np.sqrt(ev)[::-1]


def effective_dims(x: np.ndarray, rtol: float = 1e-6) -> float:
    """``exp`` of the entropy of the normalised singular values of the centred ``x`` (Roy & Vetterli).

    Returns 0 when the samples all sit on one point, i.e. when the total spread is below ``rtol`` times the mean
    activation norm (plus a tiny absolute floor).
    """
    x = np.asarray(x, dtype=np.float64)
    s = _centred_singular_values(x)
    if s.size == 0:
        return 0.0
    scale = float(np.sqrt(np.mean(np.sum(x * x, axis=1)))) * np.sqrt(max(x.shape[0], 1)) if x.size else 0.0
    total = float(s.sum())
    if total <= rtol * scale + 1e-12:
        return 0.0
    p = s / total
    p = p[p > 0]
    return float(np.exp(-np.sum(p * np.log(p))))


def effective_rank(x: np.ndarray, rtol: float = 1e-6) -> float:
    """:func:`effective_dims` divided by ``min(n_samples - 1, n_units)``, in ``[0, 1]`` (NaN if undefined)."""
    x = np.asarray(x)
    if x.ndim != 2:
        raise ValueError("activations must be 2-D (samples x units)")
    return _rank_from_dims(effective_dims(x, rtol), x.shape)


def _rank_from_dims(dims: float, shape: tuple[int, ...]) -> float:
    top = min(shape[0] - 1, shape[1])
    if top < 1:
        return float("nan")
    return float(min(dims / top, 1.0))


def activation_diagnostics(x: np.ndarray) -> dict[str, float]:
    """``dead_units`` and ``effective_rank`` of one activation matrix, plus ``effective_dims``."""
    x = np.asarray(x)
    dims = effective_dims(x)  # one eigendecomposition for both the rank and the collapse warning
    return {
        "dead_units": dead_unit_share(x),
        "effective_rank": _rank_from_dims(dims, x.shape),
        "effective_dims": dims,
    }
