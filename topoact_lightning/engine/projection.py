"""Two-dimensional projections of a layer's activations, and their alignment from one epoch to the next.

The TensorBoard tab draws the probe's activations as a scatter beside the Mapper graph (TopoAct's projection
panel). :func:`pca_2d` gives the first two principal components with a fixed sign convention; :func:`tsne_2d`
gives a t-SNE embedding (scikit-learn's ``TSNE``, a fixed seed, initialised from the PCA); and
:func:`procrustes_align` rotates (or reflects) one embedding onto another of the same samples, so that the scatter
neither flips nor turns while the epoch slider moves.

Example:
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(300, 16)) * np.linspace(3, 0.1, 16)  # one epoch's activations
    >>> Y0 = pca_2d(X)
    >>> Y1 = pca_2d(-X)  # every activation negated: the same geometry, the picture turned half a turn
    >>> bool(np.allclose(Y1, -Y0))
    True
    >>> bool(np.allclose(procrustes_align(Y1, Y0), Y0))  # aligned onto the previous epoch: no jump
    True
"""

from __future__ import annotations

import numpy as np

from topoact_lightning.engine.lenses import principal_basis

#: t-SNE runs on at most this many principal components (scikit-learn's advice: reduce to about 50 first).
TSNE_PCA_COMPONENTS = 50


def _checked_matrix(X) -> np.ndarray:
    X = np.asarray(X)
    if X.ndim != 2:
        raise ValueError(f"expected an (n_samples, n_features) matrix, got shape {X.shape}")
    if X.dtype.kind not in "fiub":
        raise ValueError(f"expected a numeric matrix, got dtype {X.dtype}")
    X = X.astype(np.float64, copy=False)
    if not np.isfinite(X).all():
        raise ValueError("the matrix holds NaN or infinite values; a projection needs finite activations")
    return X


def pca_scores(X, n_components: int = 2) -> np.ndarray:
    """The first ``n_components`` principal-component scores of the rows of ``X`` (centred), float64.

    The directions are the Mapper PCA lens's (:func:`~topoact_lightning.engine.lenses.principal_basis`), computed
    exactly in float64. Sign convention (scikit-learn's ``PCA``): each component's loading vector has its largest
    absolute entry positive, so the same data always gives the same picture. Components the data does not have (fewer samples
    or features than ``n_components``, or a rank too low) are zero columns.

    Parameters
    ----------
    X : array of shape (n_samples, n_features)
        Finite numbers (``ValueError`` otherwise).
    n_components : int
        How many scores per sample.

    Returns
    -------
    ndarray of shape (n_samples, n_components)

    Examples
    --------
    >>> X = np.array([[0.0, 0.0], [2.0, 0.1], [4.0, -0.1], [6.0, 0.0]])
    >>> pca_scores(X, 1).ravel().round(2).tolist()  # the long axis, increasing with the first feature
    [-3.0, -1.0, 1.0, 3.0]
    """
    X = _checked_matrix(X)
    n, d = X.shape
    out = np.zeros((n, n_components))
    if n < 2 or d == 0 or n_components < 1:
        return out
    Xc = X - X.mean(axis=0)
    scores = Xc @ principal_basis(Xc, n_components, exact=True, centred=True)
    # Directions with no variance (up to rounding) are left out: their sign, hence the picture, would be noise.
    power = np.einsum("ij,ij->j", scores, scores)
    keep = power > power[0] * 1e-12 if power[0] > 0 else np.zeros(n_components, dtype=bool)
    out[:, keep] = scores[:, keep]
    return out


def pca_2d(X) -> np.ndarray:
    """The first two principal-component scores of ``X``'s rows: an ``(n, 2)`` float64 array.

    See :func:`pca_scores` for the sign convention and degenerate inputs.

    Parameters
    ----------
    X : array of shape (n_samples, n_features)

    Returns
    -------
    ndarray of shape (n_samples, 2)

    Examples
    --------
    >>> rng = np.random.default_rng(1)
    >>> X = rng.normal(size=(500, 5)) * [0.1, 0.1, 5.0, 0.1, 0.1]  # the spread is along feature 2
    >>> Y = pca_2d(X)
    >>> bool(np.corrcoef(Y[:, 0], X[:, 2])[0, 1] > 0.99)  # ...so it is on x
    True
    """
    return pca_scores(X, 2)


def procrustes_align(Y, reference, *, scale: bool = False) -> np.ndarray:
    """``Y`` moved onto ``reference`` (same samples, same row order) by the rigid motion that fits best.

    Orthogonal Procrustes: the rotation or reflection ``R`` and translation minimising
    ``||(Y - mean(Y)) R + mean(reference) - reference||`` (Frobenius), from one SVD of the ``k x k`` cross
    covariance. Reflections are allowed on purpose: a principal component's sign is arbitrary, so a flipped axis
    is exactly what must be undone between epochs. No uniform scale by default: PCA coordinates are distances in
    the layer's activation space, and a fitted scale would hide a representation that spreads out or collapses
    during training (the tab frames each epoch itself). ``scale=True`` adds the best uniform scale, for
    embeddings whose units mean nothing.

    The identity is among the motions considered, so the residual never exceeds that of ``Y`` itself.

    Parameters
    ----------
    Y, reference : arrays of shape (n_samples, k)
        Finite; the same shape.
    scale : bool
        Also fit a uniform scale factor.

    Returns
    -------
    ndarray of shape (n_samples, k), float64

    Examples
    --------
    >>> ref = np.array([[0.0, 0.0], [1.0, 0.0], [0.0, 2.0]])
    >>> turned = ref @ [[0.0, 1.0], [-1.0, 0.0]] + 5.0  # a quarter turn, then a shift
    >>> (procrustes_align(turned, ref).round(6) + 0.0).tolist()  # + 0.0: no minus zeros
    [[0.0, 0.0], [1.0, 0.0], [0.0, 2.0]]
    >>> mirrored = ref * [-1.0, 1.0]  # a reflection is undone as well
    >>> (procrustes_align(mirrored, ref).round(6) + 0.0).tolist()
    [[0.0, 0.0], [1.0, 0.0], [0.0, 2.0]]
    """
    Y = _checked_matrix(Y)
    ref = _checked_matrix(reference)
    if Y.shape != ref.shape:
        raise ValueError(f"cannot align an embedding of shape {Y.shape} onto one of shape {ref.shape}")
    if not len(Y):
        return Y.copy()
    my, mr = Y.mean(axis=0), ref.mean(axis=0)
    Yc, Rc = Y - my, ref - mr
    U, S, Vt = np.linalg.svd(Yc.T @ Rc)
    R = U @ Vt
    s = 1.0
    if scale:
        norm = float(np.einsum("ij,ij->", Yc, Yc))
        s = float(S.sum()) / norm if norm > 0 else 1.0
    return s * (Yc @ R) + mr


def procrustes_residual(Y, reference) -> float:
    """The Frobenius distance ``||Y - reference||`` (what :func:`procrustes_align` minimises).

    Examples
    --------
    >>> procrustes_residual([[0.0, 0.0], [3.0, 4.0]], [[0.0, 0.0], [0.0, 0.0]])
    5.0
    """
    return float(np.linalg.norm(np.asarray(Y, dtype=np.float64) - np.asarray(reference, dtype=np.float64)))


def tsne_perplexity(n_samples: int, perplexity: float = 30.0) -> float:
    """The perplexity t-SNE uses for ``n_samples`` points: ``perplexity``, lowered to ``(n - 1) / 3`` for small
    sets (scikit-learn requires it below ``n``, and three neighbours' worth of samples per unit is its usual
    margin).

    Examples
    --------
    >>> tsne_perplexity(1000), tsne_perplexity(31)
    (30.0, 10.0)
    """
    return float(min(perplexity, max(1.0, (n_samples - 1) / 3)))


def tsne_2d(
    X,
    *,
    init: np.ndarray | None = None,
    perplexity: float = 30.0,
    random_state: int = 0,
    max_iter: int = 1000,
) -> np.ndarray:
    """A 2-D t-SNE embedding of ``X``'s rows (scikit-learn's Barnes-Hut ``TSNE``), float64 ``(n, 2)``.

    Deterministic: a fixed ``random_state``, and the start ``init`` (default: :func:`pca_2d` of ``X``), rescaled
    to a standard deviation of 1e-4 along x as scikit-learn does for its own PCA start. Rows are reduced to their
    first 50 principal components first. Needs at least 5 samples (``ValueError`` otherwise).

    Parameters
    ----------
    X : array of shape (n_samples, n_features)
    init : array of shape (n_samples, 2), optional
        Where the points start (an aligned PCA keeps the embedding's orientation from epoch to epoch).
    perplexity : float
        Lowered for small sets (:func:`tsne_perplexity`).
    random_state : int
    max_iter : int

    Returns
    -------
    ndarray of shape (n_samples, 2)

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> X = np.vstack([rng.normal(size=(40, 8)), rng.normal(size=(40, 8)) + 12.0])  # two far clusters
    >>> Y = tsne_2d(X, max_iter=250)
    >>> Y.shape
    (80, 2)
    >>> centre = lambda part: part.mean(axis=0)
    >>> gap = np.linalg.norm(centre(Y[:40]) - centre(Y[40:]))
    >>> bool(gap > 3 * Y[:40].std(axis=0).max())  # still two groups
    True
    """
    from sklearn.manifold import TSNE

    X = _checked_matrix(X)
    n = len(X)
    if n < 5:
        raise ValueError(f"t-SNE needs at least 5 samples, got {n}")
    start = pca_2d(X) if init is None else _checked_matrix(init)
    if start.shape != (n, 2):
        raise ValueError(f"init must have shape ({n}, 2), got {start.shape}")
    spread = float(np.std(start[:, 0]))
    start = start / spread * 1e-4 if spread > 0 else np.zeros_like(start)
    if not start.any():  # no variance at all: any fixed start will do
        start = np.random.default_rng(random_state).normal(scale=1e-4, size=(n, 2))
    reduced = pca_scores(X, min(TSNE_PCA_COMPONENTS, X.shape[1])) if X.shape[1] > TSNE_PCA_COMPONENTS else X
    tsne = TSNE(
        n_components=2,
        perplexity=tsne_perplexity(n, perplexity),
        init=start.astype(np.float32),
        random_state=random_state,
        max_iter=max_iter,
        method="barnes_hut",
    )
    return tsne.fit_transform(reduced.astype(np.float32)).astype(np.float64)
