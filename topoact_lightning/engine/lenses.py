"""Lenses (filter functions): one or two numbers per sample that the Mapper cover is placed on.

- ``"l2norm"``: the Euclidean norm of each activation vector (TopoAct's lens).
- ``"pca"`` / ``"pca2"``: the coordinates on the first one / two principal components. Principal directions have
  no intrinsic sign (and PC1/PC2 may swap when their variances are close), so between epochs the lens could flip
  and the graph would look mirrored. Given a ``reference`` basis (the ``basis`` returned for the previous epoch,
  or :attr:`topoact_lightning.Mapper.reference_`), the new basis is aligned to it: each new component is matched
  to a reference component by a signed permutation maximising ``sum |<new_i, ref_j>|`` and its sign is flipped to
  make the match positive.
- ``"knn_distance"``: distance to the ``k``-th nearest other sample, a density proxy (small = dense). Costs
  ``O(N^2 D)``, in float32 blocks.
- ``"eccentricity"``: root-mean-square distance to all samples, ``sqrt(mean_y |x - y|^2)``, which equals
  ``sqrt(|x - mean|^2 + total variance)`` and so costs ``O(N D)`` (large = far from the bulk).

Every lens is float32 with shape ``(n,)`` (``(n, 2)`` for ``"pca2"``). The ``metric`` argument makes
``knn_distance`` use cosine distances; the others are Euclidean by definition.

Example:
    >>> import numpy as np
    >>> X = np.array([[3.0, 4.0], [0.0, 1.0]], dtype=np.float32)
    >>> l2norm(X).tolist()
    [5.0, 1.0]
    >>> lens, basis = pca_lens(np.array([[0, 0], [1, 1], [2, 2]], dtype=np.float32), 1)
    >>> basis.ravel().astype(float).round(3).tolist(), lens.astype(float).round(3).tolist()
    ([0.707, 0.707], [-1.414, 0.0, 1.414])
"""

from __future__ import annotations

import itertools

import numpy as np

from topoact_lightning.engine.distances import Points
from topoact_lightning.engine.neighbors import kth_neighbor_distance
from topoact_lightning.engine.threads import single_threaded_blas

#: Lens names accepted by :func:`compute_lens` and :class:`topoact_lightning.Mapper`.
LENSES = ("l2norm", "pca", "pca2", "knn_distance", "eccentricity")

# When both the sample count and the dimension exceed this, the (float32) PCA basis comes from randomized
# subspace iteration instead of the smaller of the covariance and Gram matrices.
_RANDOMIZED_MIN_DIM = 1024
#: Below this many rows of the (covariance or Gram) matrix, a dense eigensolver is faster than Lanczos.
_DENSE_EIGEN_MAX = 256


def l2norm(X: np.ndarray) -> np.ndarray:
    """Euclidean norm of each row, float32."""
    X = np.asarray(X, dtype=np.float32)
    return np.sqrt(np.einsum("ij,ij->i", X, X, dtype=np.float64)).astype(np.float32)


def eccentricity(X: np.ndarray) -> np.ndarray:
    """Root-mean-square Euclidean distance of each row to all rows (itself included), float32."""
    X = np.asarray(X, dtype=np.float32)
    mean = X.mean(axis=0, dtype=np.float64)
    centred = X - mean.astype(np.float32)
    sq = np.einsum("ij,ij->i", centred, centred, dtype=np.float64)
    return np.sqrt(sq + sq.mean()).astype(np.float32)


def knn_distance(X: np.ndarray, k: int = 5, metric: str = "euclidean") -> np.ndarray:
    """Distance from each row to its ``k``-th nearest other row, float32."""
    X = np.asarray(X, dtype=np.float32)
    if len(X) < 2:
        return np.zeros(len(X), dtype=np.float32)
    k = min(int(k), len(X) - 1)
    return kth_neighbor_distance(Points.unverified(X, metric), k, np.arange(len(X)))


def _top_eigenvectors(S: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """The ``k`` largest eigenvalues of the symmetric PSD matrix ``S`` (descending) and their eigenvectors."""
    from scipy.linalg import eigh
    from scipy.sparse.linalg import eigsh

    m = len(S)
    k = min(k, m)
    if m <= _DENSE_EIGEN_MAX or k >= m - 1:
        w, V = eigh(S, subset_by_index=[m - k, m - 1])
    else:
        # Lanczos with a fixed start vector: deterministic, and a few matrix-vector products instead of a full
        # tridiagonalization (about 4x faster than the dense solver at 512 x 512).
        w, V = eigsh(S, k=k, which="LA", v0=np.full(m, 1.0 / np.sqrt(m)), tol=1e-10)
    order = np.argsort(w)[::-1]
    return np.maximum(w[order], 0.0), V[:, order]


def principal_basis(
    X: np.ndarray,
    n_components: int,
    *,
    random_state: int | None = 0,
    exact: bool = False,
    centred: bool = False,
) -> np.ndarray:
    """The first ``n_components`` principal directions of ``X`` as columns of a ``(D, n_components)`` array.

    The top eigenvectors of the smaller of the covariance (``D x D``) and Gram (``N x N``) matrices of the centred
    rows, which share their non-zero spectrum: a dense solver for the top ``k`` up to 256 rows, Lanczos with a
    fixed start above. By default the products are float32 (no float64 copy of a large input) and, when both
    ``N`` and ``D`` exceed 1024, randomized subspace iteration replaces the eigensolver. ``exact=True`` computes in
    float64 and never randomizes (what :func:`~topoact_lightning.engine.projection.pca_scores` needs to agree
    with an exact SVD). Signs are normalised so the largest-magnitude entry of each direction is positive
    (deterministic output); directions the data does not have (fewer samples or features than
    ``n_components``) are zero columns. float32, or float64 when ``exact``. ``centred=True`` says the columns of
    ``X`` have zero mean already (a caller that needs the centred rows too spares a copy).

    Example:
        >>> X = np.array([[0.0, 0.0], [2.0, 0.1], [4.0, -0.1], [6.0, 0.0]])
        >>> principal_basis(X, 1, exact=True).ravel().round(2).tolist()  # along the first feature, positive
        [1.0, -0.01]
    """
    dtype = np.float64 if exact else np.float32
    X = np.asarray(X, dtype=dtype)
    n, d = X.shape
    k = min(n_components, d)
    if not centred and n:
        X = X - X.mean(axis=0, dtype=np.float64).astype(dtype)
    if k < 1 or n == 0:
        basis = np.zeros((d, 0))
    elif not exact and min(n, d) > _RANDOMIZED_MIN_DIM:
        from sklearn.utils.extmath import randomized_svd

        with single_threaded_blas():
            _, _, vt = randomized_svd(X, k, n_iter=7, random_state=random_state)
        basis = vt.T.astype(np.float64)
    elif d <= n:
        import scipy.linalg  # noqa: F401  (loads scipy's BLAS before the limit below, so that it is limited too)

        cov = (X.T @ X).astype(np.float64)
        # A threaded eigensolver of a small matrix is many times slower on a busy machine.
        with single_threaded_blas():
            _, basis = _top_eigenvectors(cov, k)
    else:
        import scipy.linalg  # noqa: F401  (as above)

        gram = (X @ X.T).astype(np.float64)
        with single_threaded_blas():
            _, U = _top_eigenvectors(gram, k)
        basis = (U.T.astype(dtype) @ X).T.astype(np.float64)
        norms = np.linalg.norm(basis, axis=0)
        basis = np.divide(basis, norms, out=np.zeros_like(basis), where=norms > 0)
    if basis.shape[1] < n_components:
        basis = np.pad(basis, ((0, 0), (0, n_components - basis.shape[1])))
    if d == 0:
        return basis.astype(dtype)
    signs = np.sign(basis[np.argmax(np.abs(basis), axis=0), np.arange(basis.shape[1])])
    signs[signs == 0] = 1.0
    return (basis * signs).astype(dtype)


def align_basis(basis: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """Reorder and flip the columns of ``basis`` to agree best with ``reference`` (same shape).

    Chooses the signed permutation maximising ``sum_i |<basis[:, p(i)], reference[:, i]>|`` (at most a few
    components, so all permutations are tried), then flips each column whose match is negative.
    """
    basis = np.asarray(basis, dtype=np.float32)
    ref = np.asarray(reference, dtype=np.float32)
    if ref.ndim == 1:
        ref = ref[:, None]
    if ref.shape != basis.shape:
        raise ValueError(
            f"lens_reference has shape {ref.shape} but this lens needs {basis.shape}: pass the reference_ of a "
            "Mapper fitted with the same lens on activations of the same width"
        )
    dots = basis.T.astype(np.float64) @ ref
    k = basis.shape[1]
    best = max(itertools.permutations(range(k)), key=lambda p: sum(abs(dots[p[i], i]) for i in range(k)))
    out = basis[:, list(best)].copy()
    for i in range(k):
        if dots[best[i], i] < 0:
            out[:, i] = -out[:, i]
    return out


def pca_lens(
    X: np.ndarray, n_components: int = 1, reference: np.ndarray | None = None, *, random_state: int | None = 0
) -> tuple[np.ndarray, np.ndarray]:
    """Coordinates on the first principal components, aligned to ``reference`` if given.

    Returns ``(lens, basis)``: ``lens`` is ``(n,)`` for one component, ``(n, k)`` otherwise; ``basis`` is
    ``(D, k)``, to be passed as the next call's ``reference``.
    """
    X = np.asarray(X, dtype=np.float32)
    centred = X - X.mean(axis=0, dtype=np.float64).astype(np.float32)
    basis = principal_basis(centred, n_components, random_state=random_state, centred=True)
    if reference is not None:
        basis = align_basis(basis, reference)
    lens = centred @ basis
    return (lens[:, 0] if n_components == 1 else lens), basis


def compute_lens(
    lens: str,
    X: np.ndarray,
    *,
    metric: str = "euclidean",
    k: int = 5,
    reference: np.ndarray | None = None,
    random_state: int | None = 0,
) -> tuple[np.ndarray, np.ndarray | None]:
    """A named lens of ``X``: ``(values, basis)`` where ``basis`` is the PCA basis for the PCA lenses, else None."""
    if lens == "l2norm":
        return l2norm(X), None
    if lens == "eccentricity":
        return eccentricity(X), None
    if lens == "knn_distance":
        return knn_distance(X, k, metric), None
    if lens in ("pca", "pca2"):
        return pca_lens(X, 1 if lens == "pca" else 2, reference, random_state=random_state)
    raise ValueError(f"unknown lens {lens!r}; use one of {LENSES}, a callable or an array")
