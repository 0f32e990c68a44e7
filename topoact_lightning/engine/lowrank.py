"""Fast mode's bases: the principal directions cover elements are projected on, and how many to keep.

Fast mode (:meth:`topoact_lightning.engine.distances.Points.low_rank`) replaces dot products of whole rows by dot
products of their coordinates on the top principal directions of a sample, keeping the squared norms exact.
This module finds those directions (randomized subspace iteration, small factorizations only) and calibrates how
much of the dropped residual to count.

Example:
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> S = (rng.normal(size=(500, 3)) @ rng.normal(size=(3, 200))).astype(np.float32)  # rank 3
    >>> S -= S.mean(axis=0)
    >>> V = fast_basis(S, n_components=3)
    >>> V.shape  # 3 directions, rounded up to fill the padded block width
    (200, 14)
    >>> bool(np.allclose(S @ V @ V.T, S, atol=1e-3 * np.abs(S).max()))
    True
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from topoact_lightning.engine.threads import single_threaded_blas


def fast_basis(
    S: np.ndarray,
    metric: str = "euclidean",
    n_components: int = 64,
    *,
    eps: float | None = None,
    residual_share: float = 0.15,
    random_state: int | None = 0,
    n_iter: int = 3,
) -> np.ndarray | None:
    """The principal directions fast mode projects rows like ``S`` on (``(D, k)`` float32), or None for whole rows.

    ``S``: a sample of centred rows (for cosine: of centred unit rows). The rule of :meth:`Points.low_rank`:
    at least ``n_components`` directions (filling the padded block width), doubled while the mean squared
    residual of ``S`` exceeds ``residual_share`` of the squared threshold, None past a third of the width.
    ``n_iter``: products with the covariance in the subspace iteration (:func:`_top_directions`).
    """
    S = np.ascontiguousarray(S, dtype=np.float32)
    m, d = S.shape
    k = _fill_width(int(n_components))
    if m <= k:
        return None
    cov = S.T @ S if _covariance_is_cheaper(S.shape, k) else None
    total = float(
        np.trace(cov, dtype=np.float64) if cov is not None else np.einsum("ij,ij->", S, S, dtype=np.float64)
    )
    # The dropped term 2 <Qx, Qy> is at most |Qx|^2 + |Qy|^2: keep the mean |Qx|^2 a small share of the
    # squared radius (without eps: of the mean squared norm).
    scale = (eps * eps if metric == "euclidean" else 2 * eps) if eps is not None else total / m
    while k <= d // 3:
        V, kept = _top_directions(S, k, random_state, cov=cov, n_iter=n_iter)
        if (total - kept) / m <= residual_share * scale:
            return V
        k = _fill_width(2 * k)
    return None


@dataclass
class Projection:
    """Rows of ``X`` (a group of neighbouring cover elements) on a fast-mode basis: what the distance estimate
    ``|p_x - p_y|^2 + w (|r_x|^2 + |r_y|^2)`` needs, computed once for every element of the group.

    ``rows``: sorted indices into ``X``; ``coords``: float32 coordinates of the centred rows (cosine: of the
    centred unit rows) on the basis; ``sq``: their squared norms (float32 sums, in float64), so
    ``|r|^2 = sq - |p|^2``; ``weight``: the group's residual weight ``w`` (:func:`_residual_weight`; each element
    calibrates its own in :meth:`estimate`); ``mean``: the centre; ``zero``: rows that are zero vectors (cosine
    only, kept apart from everything).
    """

    rows: np.ndarray
    coords: np.ndarray
    sq: np.ndarray
    weight: float
    mean: np.ndarray
    basis: np.ndarray
    metric: str
    thr: float
    zero: np.ndarray | None = None
    #: The largest eigenvalue of ``V^T V`` for the basis ``V`` (1 up to rounding): ``|V^T z| <= sigma |z|``.
    sigma2: float = 1.0

    @classmethod
    def of(
        cls,
        X: np.ndarray,
        rows: np.ndarray,
        basis: np.ndarray,
        metric: str,
        *,
        eps: float,
        sample: np.ndarray | None = None,
        rng: np.random.Generator | None = None,
    ) -> Projection:
        """Project ``X[rows]`` on ``basis`` (``(D, k)``) and calibrate ``w`` on the rows ``sample`` (a subset of
        ``rows``; without it ``w = 1``). One copy of the rows is held while it runs."""
        from topoact_lightning.engine.distances import unit_rows

        block = X[rows]
        zero = None
        if metric == "cosine":
            zero = ~block.any(axis=1)
            block = unit_rows(block)
        mean = block.mean(axis=0, dtype=np.float64).astype(np.float32)
        block -= mean
        # float32 sums of D squares: relative error below D 2^-24, which users of sq allow for.
        sq = np.einsum("ij,ij->i", block, block).astype(np.float64)
        coords = block @ basis
        thr = eps * eps if metric == "euclidean" else 2 * eps
        weight = 1.0
        if sample is not None:
            at = np.searchsorted(rows, sample)
            weight = _residual_weight(block[at], coords[at], thr, rng or np.random.default_rng(0))
        V = basis.astype(np.float64)
        # From float32 values the float64 product is exact to about 1e-13, and so is the eigenvalue.
        sigma2 = float(np.linalg.eigvalsh(V.T @ V)[-1]) * (1 + 1e-9)
        return cls(rows, coords, sq, weight, mean, basis, metric, thr, zero, sigma2)

    def estimate(
        self, idx: np.ndarray, X: np.ndarray, *, sample: int = 1000, random_state: int | None = 0
    ) -> tuple[np.ndarray, np.ndarray]:
        """The coordinates of the rows ``idx`` (a subset of :attr:`rows`) and the squared norms fast mode gives
        them: ``|p|^2 + w |r|^2`` (16 for zero rows under cosine: beyond reach of every unit row), with the
        residual weight ``w`` calibrated on ``sample`` of these rows (one element's neighbour distances, which
        the group's weight fits less well: ARI 0.963 instead of 0.969 at 50,000 x 512)."""
        at = np.searchsorted(self.rows, idx)
        coords = self.coords[at]
        kept = np.einsum("ij,ij->i", coords, coords, dtype=np.float64)
        rng = np.random.default_rng(random_state)
        picked = np.sort(rng.choice(len(idx), size=min(sample, len(idx)), replace=False))
        S = X[idx[picked]]
        if self.metric == "cosine":
            from topoact_lightning.engine.distances import unit_rows

            S = unit_rows(S)
        S -= self.mean
        weight = _residual_weight(S, coords[picked], self.thr, rng)
        sq = kept + weight * np.maximum(self.sq[at] - kept, 0.0)
        if self.zero is not None:
            sq[self.zero[at]] = 16.0
        return coords, sq.astype(np.float32)


def _residual_weight(
    S: np.ndarray, WS: np.ndarray, thr: float, rng: np.random.Generator, probes: int = 64
) -> float:
    """How much of the dropped residual norms fast mode should count, calibrated on the SVD sample.

    With ``P`` the kept directions, ``|x - y|^2 = |Px - Py|^2 + |Qx - Qy|^2``, and fast mode replaces the second
    term by ``w (|Qx|^2 + |Qy|^2)``. For unrelated points ``w = 1`` is right on average, but near neighbours
    share part of their residual (they lie on the same structure beyond the kept directions), so ``w = 1``
    overestimates exactly the distances DBSCAN decides on and loses pairs. The weight returned is the one for
    which the estimate finds as many pairs within the threshold as the exact distances do, between ``probes``
    sample rows and the whole sample (``S``: centred rows, ``WS``: their kept coordinates); 1 when the sample
    has too few such pairs to tell, and never above 1.
    """
    m = len(S)
    a = rng.choice(m, size=min(probes, m), replace=False)
    sq = np.einsum("ij,ij->i", S, S)
    kept = np.einsum("ij,ij->i", WS, WS)
    exact = sq[a, None] + sq[None, :] - 2 * (S[a] @ S.T)
    proj = kept[a, None] + kept[None, :] - 2 * (WS[a] @ WS.T)
    res = (sq - kept)[a, None] + (sq - kept)[None, :]
    other = a[:, None] != np.arange(m)[None, :]
    n_true = int(np.count_nonzero((exact <= thr) & other))
    if n_true < 10:
        return 1.0
    # A pair counts as near for every weight up to (thr - proj) / res.
    with np.errstate(divide="ignore", invalid="ignore"):
        flip = np.where(res > 0, (thr - proj) / res, np.where(proj <= thr, np.inf, -np.inf))[other]
    weight = np.partition(flip, len(flip) - n_true)[len(flip) - n_true]
    return float(np.clip(weight, 0.0, 1.0))


def _fill_width(k: int) -> int:
    """``k`` rounded up so that ``k`` plus the two augmented columns is a multiple of 16.

    The distance blocks are padded to that width anyway (see :class:`Points`), so the extra directions cost
    nothing there and make fast mode's distances more accurate.
    """
    return -(-(k + 2) // 16) * 16 - 2


def _covariance_is_cheaper(shape: tuple[int, int], k: int, n_iter: int = 3) -> bool:
    """Whether ``S.T @ S`` (about ``m d^2 / 2`` multiply-adds) beats ``2 n_iter`` products of ``S`` with ``k + 16``
    columns (subspace iteration on ``S`` itself)."""
    m, d = shape
    return d * d / 2 < 2 * n_iter * d * (k + 16) and d <= m


def _top_directions(
    S: np.ndarray,
    k: int,
    random_state: int | None,
    n_iter: int = 3,
    *,
    cov: np.ndarray | None = None,
) -> tuple[np.ndarray, float]:
    """The top ``k`` right singular vectors of ``S`` as a ``(D, k)`` float32 array, and the energy they keep.

    Randomized subspace iteration (Halko, Martinsson, Tropp 2011) with 16 extra directions, orthonormalised by
    Cholesky QR on float64 Gram matrices (small factorizations only), single-threaded: OpenBLAS threads only add
    synchronisation cost to products this small, most of all on a busy machine. Given ``cov = S.T @ S`` the
    iterations run on that ``D x D`` matrix instead of on ``S``: for 1000 rows of width 512 one covariance
    product (a symmetric rank update) costs about what two passes over ``S`` would, and then each iteration is
    almost free (see :func:`_covariance_is_cheaper`). ``n_iter`` counts the products with ``S.T S``.
    The energy is the sum of the Ritz values, ``sum |Q^T S v|^2 <= |S V|_F^2``: a lower bound, so the residual
    ``|S|_F^2 - energy`` it implies errs on the safe side.
    """
    rng = np.random.default_rng(random_state)
    S = np.asarray(S, dtype=np.float32)
    width = min(k + 16, min(S.shape))
    with single_threaded_blas():
        if cov is not None:
            Y = cov @ rng.standard_normal((cov.shape[0], width), dtype=np.float32)
            for _ in range(n_iter - 1):
                Y = cov @ _orthonormal(Y)
            Q = _orthonormal(Y).astype(np.float64)
            vals, vecs = np.linalg.eigh(Q.T @ (cov @ Q.astype(np.float32)).astype(np.float64))
            top = np.argsort(vals)[::-1][:k]
            V = Q @ vecs[:, top]
        else:
            Y = S @ rng.standard_normal((S.shape[1], width), dtype=np.float32)
            for _ in range(n_iter - 1):
                Y = S @ (S.T @ _orthonormal(Y))
            Q = _orthonormal(Y)
            B = (Q.T @ S).astype(np.float64)  # width x D; its top right singular vectors are S's
            vals, vecs = np.linalg.eigh(B @ B.T)
            top = np.argsort(vals)[::-1][:k]
            V = B.T @ vecs[:, top]
            # Unit columns (|B^T v| = sqrt of its eigenvalue); directions the sample does not span (rank below
            # the width, e.g. fewer rows than directions asked) stay zero rather than blowing up.
            norms = np.linalg.norm(V, axis=0)
            V = np.divide(
                V, norms, out=np.zeros_like(V), where=norms > 1e-6 * max(float(norms.max()), 1e-300)
            )
    return np.ascontiguousarray(V, dtype=np.float32), float(np.maximum(vals[top], 0.0).sum())


def _orthonormal(Y: np.ndarray) -> np.ndarray:
    """An orthonormal basis of the columns of ``Y`` (Cholesky QR in float64, with a tiny ridge)."""
    Y64 = Y.astype(np.float64)
    G = Y64.T @ Y64
    G[np.diag_indices_from(G)] += 1e-12 * max(np.trace(G), 1e-300)
    L = np.linalg.cholesky(G)
    # numpy's solver, not scipy's solve_triangular: scipy's BLAS is a separate library, loaded late, which
    # single_threaded_blas may not limit; and the graph process is spared scipy's import.
    return np.linalg.solve(L, Y64.T).T.astype(np.float32)
