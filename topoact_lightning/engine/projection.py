"""Two-dimensional projections of a layer's activations, and their alignment from one epoch to the next.

The TensorBoard tab draws the probe's activations as a scatter beside the Mapper graph (TopoAct's projection
panel). :func:`pca_2d` gives the first two principal components with a fixed sign convention; :func:`tsne_2d`
gives a t-SNE embedding (exact gradients on blocks of rows up to 4,000 samples, scikit-learn's ``TSNE`` above;
deterministic, started from the PCA); and
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
    max_iter: int = 400,
) -> np.ndarray:
    """A 2-D t-SNE embedding of ``X``'s rows, float64 ``(n, 2)``.

    Rows are reduced to their first 50 principal components first. Affinities as scikit-learn's Barnes-Hut
    ``TSNE`` computes them (the ``3 * perplexity`` nearest neighbours, a binary search for each point's
    bandwidth, symmetrised). Up to :data:`TSNE_DENSE_MAX` samples the gradient is exact, computed on blocks of
    rows that stay in cache (:func:`_tsne_dense`), and ``max_iter`` counts every iteration, the first quarter
    with early exaggeration: started from an aligned PCA, 400 iterations reach a KL divergence within 2% of
    scikit-learn's 1,000 Barnes-Hut iterations (BENCHMARKS.md). Larger sets go to scikit-learn's Barnes-Hut
    ``TSNE`` with the same start and ``max_iter``.

    Deterministic: the start ``init`` (default: :func:`pca_2d` of ``X``) is rescaled to a standard deviation of
    1e-4 along x, as scikit-learn does for its own PCA start; ``random_state`` only draws a start when the data
    has no variance at all. Needs at least 5 samples (``ValueError`` otherwise).

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
    reduced = _principal_scores(X, TSNE_PCA_COMPONENTS) if X.shape[1] > TSNE_PCA_COMPONENTS else X
    perplexity = tsne_perplexity(n, perplexity)
    if n <= TSNE_DENSE_MAX:
        from topoact_lightning.engine.threads import single_threaded_blas

        # Small products: threaded BLAS only adds synchronisation (many times slower on a busy machine).
        with single_threaded_blas():
            return _tsne_dense(reduced, start, perplexity, int(max_iter))
    from sklearn.manifold import TSNE

    tsne = TSNE(
        n_components=2,
        perplexity=perplexity,
        init=start.astype(np.float32),
        random_state=random_state,
        max_iter=max_iter,
        method="barnes_hut",
    )
    return tsne.fit_transform(reduced.astype(np.float32)).astype(np.float64)


def _principal_scores(X: np.ndarray, k: int) -> np.ndarray:
    """Scores on the ``k`` top principal directions, from one dense eigendecomposition of the smaller of the
    covariance and Gram matrices: t-SNE needs the reduced distances, not :func:`pca_scores`' sign convention,
    and for 50 components a dense solver beats Lanczos (40 ms instead of 200 at 1,000 x 512)."""
    from topoact_lightning.engine.threads import single_threaded_blas

    Xc = X - X.mean(axis=0)
    n, d = Xc.shape
    with single_threaded_blas():  # a threaded solver of a small matrix is many times slower on a busy machine
        if d <= n:
            _, V = np.linalg.eigh(Xc.T @ Xc)
            return Xc @ V[:, ::-1][:, :k]
        w, U = np.linalg.eigh(Xc @ Xc.T)
    return U[:, ::-1][:, :k] * np.sqrt(np.maximum(w[::-1][:k], 0.0))


#: Up to this many samples :func:`tsne_2d` computes exact gradients itself (an ``n x n`` pass per iteration).
TSNE_DENSE_MAX = 4000
_TSNE_EXAGGERATION = 12.0
_TSNE_BLOCK = 128


def tsne_affinities(Z: np.ndarray, perplexity: float) -> np.ndarray:
    """The symmetric t-SNE affinities ``P`` (dense ``(n, n)`` float32, summing to 1) of the rows of ``Z``, as
    scikit-learn's Barnes-Hut ``TSNE`` computes them: each row's ``min(n - 1, 3 * perplexity + 1)`` nearest
    neighbours (squared euclidean distances), a Gaussian whose bandwidth a binary search sets so that the
    row's entropy is ``log(perplexity)``, then ``(P + P^T) / sum``.

    Examples
    --------
    >>> Z = np.array([[0.0], [1.0], [2.0], [10.0], [11.0], [12.0]])
    >>> P = tsne_affinities(Z, perplexity=1.5)
    >>> bool(np.allclose(P, P.T)), round(float(P.sum()), 6), bool(P[0, 1] > P[0, 3])
    (True, 1.0, True)
    """
    Z = np.asarray(Z, dtype=np.float64)
    n = len(Z)
    k = min(n - 1, int(3 * perplexity + 1))
    sq = np.einsum("ij,ij->i", Z, Z)
    D = sq[:, None] + sq[None, :] - 2.0 * (Z @ Z.T)
    np.fill_diagonal(D, np.inf)
    near = np.argpartition(D, k - 1, axis=1)[:, :k]
    d = np.maximum(np.take_along_axis(D, near, axis=1), 0.0)
    d -= d.min(axis=1, keepdims=True)  # shifts cancel in the normalisation; keeps exp() in range
    target = np.log(perplexity)
    beta = np.ones(n)
    lo, hi = np.zeros(n), np.full(n, np.inf)
    for _ in range(100):
        e = np.exp(-d * beta[:, None])
        total = e.sum(axis=1)
        entropy = np.log(total) + beta * np.einsum("ij,ij->i", d, e) / total
        if np.all(np.abs(entropy - target) < 1e-5):
            break
        wider = entropy > target  # too spread out: a larger precision
        lo = np.where(wider, beta, lo)
        hi = np.where(wider, hi, beta)
        beta = np.where(np.isinf(hi), beta * 2.0, (lo + hi) / 2.0)
    e = np.exp(-d * beta[:, None])
    P = np.zeros((n, n))
    P[np.repeat(np.arange(n), k), near.ravel()] = (e / e.sum(axis=1, keepdims=True)).ravel()
    P += P.T
    return (P / P.sum()).astype(np.float32)


def _tsne_dense(Z: np.ndarray, start: np.ndarray, perplexity: float, n_iter: int) -> np.ndarray:
    """t-SNE by gradient descent with exact gradients (:func:`tsne_gradient`) and the update of scikit-learn's
    optimiser (momentum 0.5 then 0.8, per-coordinate gains, learning rate ``max(n / 12 / 4, 50)``), the first
    quarter of ``n_iter`` with the affinities exaggerated 12 times."""
    n = len(Z)
    P = tsne_affinities(Z, perplexity)
    Y = np.asarray(start, dtype=np.float32).copy()
    rate = np.float32(max(n / _TSNE_EXAGGERATION / 4, 50.0))
    step = np.zeros_like(Y)
    gains = np.ones_like(Y)
    early = max(n_iter // 4, 1)
    work: dict = {}
    for it in range(n_iter):
        exaggeration, momentum = (_TSNE_EXAGGERATION, 0.5) if it < early else (1.0, 0.8)
        grad = tsne_gradient(P, Y, exaggeration, work=work)
        same = step * grad < 0
        gains = np.where(same, gains + 0.2, gains * 0.8)
        np.maximum(gains, 0.01, out=gains)
        step = momentum * step - rate * gains * grad
        Y += step
    return Y.astype(np.float64)


def tsne_gradient(
    P: np.ndarray, Y: np.ndarray, exaggeration: float = 1.0, *, work: dict | None = None
) -> np.ndarray:
    """The gradient of t-SNE's KL divergence at ``Y`` (``(n, 2)``) for affinities ``P`` (``(n, n)``, summing to 1,
    multiplied by ``exaggeration``): ``4 sum_j (p_ij - q_ij) w_ij (y_i - y_j)`` with ``w_ij = 1 / (1 +
    |y_i - y_j|^2)`` and ``q_ij = w_ij / sum_(k != l) w_kl``, float32.

    Per block of rows that stays in cache, one product of augmented rows gives ``1 + |y_i - y_j|^2`` and
    products with ``[y, 1]`` give the attractive and repulsive sums; only the upper triangle of the symmetric
    ``w`` is computed. No ``n x n`` array is formed, and the blocks reuse the buffers in ``work`` (a dict kept
    between calls: fresh arrays of this size cost page faults).

    Examples
    --------
    >>> P = np.full((3, 3), 1 / 6) - np.eye(3) / 6
    >>> Y = np.array([[0.0, 0.0], [1.0, 0.0], [0.0, 1.0]])
    >>> g = tsne_gradient(P, Y)
    >>> bool(np.allclose(g.sum(axis=0), 0, atol=1e-6))  # the forces cancel
    True
    """
    Y = np.asarray(Y, dtype=np.float32)
    n = len(Y)
    work = {} if work is None else work
    if "left" not in work:
        block = min(_TSNE_BLOCK, n)
        work.update(
            left=np.ones(
                (n, 5), dtype=np.float32
            ),  # [y, |y|^2, 1, 1] . [-2y, 1, |y|^2, 1] = 1 + |y_i - y_j|^2
            right=np.ones((n, 5), dtype=np.float32),
            ext=np.ones((n, 3), dtype=np.float32),
            W=np.empty(block * n, dtype=np.float32),
            PW=np.empty(block * n, dtype=np.float32),
        )
    left, right, ext = work["left"], work["right"], work["ext"]
    attract = np.zeros((n, 3), dtype=np.float32)
    repel = np.zeros((n, 3), dtype=np.float32)
    sq = np.einsum("ij,ij->i", Y, Y)
    left[:, :2], left[:, 2] = Y, sq
    np.multiply(Y, -2.0, out=right[:, :2])
    right[:, 3] = sq
    ext[:, :2] = Y
    total = 0.0
    # W is symmetric: each block of rows meets only the columns from its own first row on, and the part right
    # of its diagonal block also serves those columns' rows (transposed): half the values of the full matrix.
    for s in range(0, n, _TSNE_BLOCK):
        rows = slice(s, min(s + _TSNE_BLOCK, n))
        b, m = rows.stop - s, n - s
        W = work["W"][: b * m].reshape(b, m)
        PW = work["PW"][: b * m].reshape(b, m)
        np.matmul(left[rows], right[s:].T, out=W)
        np.reciprocal(W, out=W)
        # No self terms: w_ii = 1 would cancel out of the forces only up to float32 rounding of |y_i|.
        W[np.arange(b), np.arange(b)] = 0.0
        inside = float(W[:, :b].sum())
        total += inside + 2.0 * (float(W.sum()) - inside)
        np.multiply(P[rows, s:], W, out=PW)
        attract[rows] += PW @ ext[s:]
        attract[rows.stop :] += PW[:, b:].T @ ext[rows]
        np.multiply(W, W, out=W)
        repel[rows] += W @ ext[s:]
        repel[rows.stop :] += W[:, b:].T @ ext[rows]
    return 4.0 * (
        exaggeration * (Y * attract[:, 2:] - attract[:, :2]) - (Y * repel[:, 2:] - repel[:, :2]) / total
    )
