"""DBSCAN that gives scikit-learn's labels, faster; the automatic eps rule; k-nearest-neighbour distances.

:func:`dbscan` returns exactly the labels of ``sklearn.cluster.DBSCAN(eps, min_samples, metric).fit_predict(X)``
(same clusters, same numbering, same border-point assignment), but computes the eps-neighbourhood graph itself:

1. Pairwise distances in blocks with one float32 matrix product each (``|x|^2 + |y|^2 - 2 x.y`` on data centred
   in float64 first, which keeps the norms small), upper-triangle blocks only (the graph is symmetric).
2. A pair whose float32 distance lies within a rigorous rounding-error bound of eps (``(4 D + 40) * 2^-24``
   times ``|x|^2 + |y|^2``) is recomputed exactly in float64 from the original values, so the neighbourhood graph is
   the one scikit-learn finds (scikit-learn itself rounds in float64; only pairs at distance eps to about 1e-13
   relative could differ, which random data never produces).
3. Core points (at least ``min_samples`` neighbours counting the point itself), connected components of the
   core-to-core graph with scipy, numbered by their smallest core index, and every border point given the smallest
   label among its core neighbours. That is what scikit-learn's ``_dbscan_inner`` depth-first expansion produces:
   clusters are expanded one after the other in the order of their first core point, and a border point keeps
   the label of the first expansion that reaches it.

``exact=False`` skips step 2 (float32 throughout). With ``device`` set (a torch device string) the blocks are
computed by torch on that device (imported only then).

Example:
    >>> import numpy as np
    >>> X = np.array([[0.0], [0.1], [0.2], [5.0], [5.1], [9.0]], dtype=np.float32)
    >>> dbscan(X, eps=0.15, min_samples=2).tolist()
    [0, 0, 0, 1, 1, -1]
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np

from topoact_lightning.engine.memberships import connected_components

#: Metrics the built-in DBSCAN, the automatic eps and the k-NN lens support.
METRICS = ("euclidean", "cosine")

_U32 = 2.0**-24
_BLOCK = 1024
_VERIFY_CHUNK = 8192
# scikit-learn's normalize treats rows with a norm below 10 float64 epsilons as zero rows.
_TINY_NORM = 10 * np.finfo(np.float64).eps


# --------------------------------------------------------------------------------------------- distance blocks
class Points:
    """Points prepared for blocked distance computations (one float32 matrix product per block).

    Two kinds of distance are computed from a float32 working matrix ``work`` (one row per point):

    - euclidean: squared distances ``sq_i + sq_j - 2 <work_i, work_j>``, compared with ``eps ** 2``;
    - cosine: ``1 - <work_i, work_j>`` on unit rows, compared with ``eps``.

    :meth:`exact` keeps the original rows so that pairs close to the threshold can be recomputed in float64;
    :meth:`low_rank` (fast mode) replaces ``work`` by its projection on the top principal directions.
    """

    def __init__(
        self,
        work: np.ndarray,
        sq: np.ndarray | None,
        metric: str,
        *,
        orig: np.ndarray | None = None,
        norms: np.ndarray | None = None,
        device: str | None = None,
    ) -> None:
        if metric not in METRICS:
            raise ValueError(f"unknown metric {metric!r}; use one of {METRICS}")
        self.work = work
        self.sq = sq
        self.metric = metric
        self.orig = orig
        self.norms = norms
        self.device = device
        self.n = len(work)
        # True when the first working column is already a principal coordinate (fast mode).
        self.sorted_by_pc1 = False
        dim = orig.shape[1] if orig is not None else work.shape[1]
        # Rounding bound of the float32 route relative to |x|^2 + |y|^2 (cosine: absolute, unit vectors): the
        # centring (relative 2^-24 per coordinate), the dot product (gamma_D = D 2^-24) and the three additions,
        # doubled for safety.
        self.rel_tol = (4 * dim + 40) * _U32
        # The augmented rows the blocks are made of, built on first use: points that are only reordered (see
        # _sorted_radius_pairs) never need their own.
        self._left: np.ndarray | None = None
        self._right: np.ndarray | None = None
        self._torch_left = self._torch_right = None

    def _augment(self) -> None:
        # Distances come straight out of one matrix product of augmented rows (no elementwise passes):
        # [x, |x|^2, 1] . [-2y, 1, |y|^2] = |x - y|^2, and [x, 1] . [-y, 1] = 1 - <x, y> for unit rows.
        work, sq = self.work, self.sq
        n, k = work.shape
        # Widths padded with zeros to a multiple of 16: OpenBLAS sgemm runs at half speed on odd widths.
        width = -(-(k + 2) // 16) * 16
        left = np.zeros((n, width), dtype=np.float32)
        right = np.zeros_like(left)
        left[:, :k] = work
        if sq is None:
            np.negative(work, out=right[:, :k])
            left[:, k] = 1.0
            right[:, k] = 1.0
        else:
            left[:, k] = sq
            left[:, k + 1] = 1.0
            np.multiply(work, -2.0, out=right[:, :k])
            right[:, k] = 1.0
            right[:, k + 1] = sq
        if self.device is not None:
            import torch

            self._torch_left = torch.from_numpy(left).to(self.device)
            self._torch_right = torch.from_numpy(right).to(self.device)
        # _left last: block() checks it, so a thread that sees it also sees the rest.
        self._right = right
        self._left = left

    @property
    def verified(self) -> bool:
        """True if near-threshold pairs are recomputed exactly (the originals are kept)."""
        return self.orig is not None

    @classmethod
    def exact(cls, X: np.ndarray, metric: str = "euclidean", *, device: str | None = None) -> Points:
        """Points whose neighbourhood graph is the exact one (float32 blocks, float64 checks at the threshold)."""
        X = np.ascontiguousarray(X, dtype=np.float32)
        if metric == "cosine":
            norms = np.sqrt(np.einsum("ij,ij->i", X, X, dtype=np.float64))
            # scikit-learn's normalize leaves (near-)zero rows as they are: cosine distance 1 to anything else.
            norms[norms < _TINY_NORM] = 1.0
            work = (X / norms[:, None]).astype(np.float32)
            return cls(work, None, metric, orig=X, norms=norms, device=device)
        # Any common centre leaves distances unchanged; the mean keeps |x|^2 small, hence the rounding bound.
        work = X - X.mean(axis=0, dtype=np.float64).astype(np.float32)
        sq = np.einsum("ij,ij->i", work, work, dtype=np.float64).astype(np.float32)
        return cls(work, sq, metric, orig=X, device=device)

    @classmethod
    def unverified(cls, X: np.ndarray, metric: str = "euclidean", *, device: str | None = None) -> Points:
        """Like :meth:`exact` but float32 only: pairs within rounding error of eps may go either way."""
        p = cls.exact(X, metric)
        return cls(p.work, p.sq, metric, device=device)

    @classmethod
    def low_rank(
        cls,
        X: np.ndarray,
        metric: str = "euclidean",
        n_components: int = 64,
        *,
        eps: float | None = None,
        residual_share: float = 0.15,
        sample: int = 1000,
        random_state: int | None = 0,
        device: str | None = None,
        basis: np.ndarray | None = None,
    ) -> Points:
        """Fast mode: dot products on the top principal directions of ``X`` only.

        ``|x - y|^2 ~ |Px - Py|^2 + w (|Qx|^2 + |Qy|^2)`` on the centred rows (cosine: on the centred unit rows,
        with ``cosine = |x' - y'|^2 / 2``), where ``P`` projects on the principal directions of at most ``sample``
        random rows (randomized subspace iteration), ``|Qx|^2 = |x|^2 - |Px|^2`` is the exact residual norm and
        ``w`` (at most 1) is calibrated on the sample so that the estimate finds as many pairs within ``eps`` as
        the exact distances do (:func:`_residual_weight`; ``w = 1`` without ``eps``). Exact when the rows lie in
        the kept subspace; otherwise the error is ``w (|Qx|^2 + |Qy|^2) - |Qx - Qy|^2``.

        At least ``n_components`` directions are kept, rounded up to fill the width the distance blocks are
        padded to anyway (64 becomes 78). While the mean squared residual ``|Qx|^2`` of the sample exceeds
        ``residual_share`` of ``eps^2`` (the squared chord ``2 eps`` for cosine; of the mean squared norm without
        eps) the number is doubled, and past a third of the width (little speed left to gain) the rows are used
        whole. Meant for one cover element at a time. Zero rows under the cosine metric are kept apart from
        everything (their cosine distance is 1). ``basis``: directions computed
        beforehand by :func:`fast_basis` (for instance on neighbouring cover elements together); only the
        residual weight is then calibrated here.
        """
        X = np.ascontiguousarray(X, dtype=np.float32)
        base = unit_rows(X) if metric == "cosine" else X
        # Distances do not depend on the centre, but float32 rounding does: the rows are centred on their mean
        # (in the projection and the norms, without a centred copy of the rows; the norms lose about
        # 2^-24 |x|^2 to cancellation, far below the error fast mode accepts anyway).
        mean = base.mean(axis=0)
        n = len(base)
        rng = np.random.default_rng(random_state)
        rows = np.sort(rng.choice(n, size=sample, replace=False)) if n > sample else np.arange(n)
        S = base[rows] - mean
        V = basis
        if V is None and n > _fill_width(int(n_components)):
            V = fast_basis(
                S, metric, n_components, eps=eps, residual_share=residual_share, random_state=random_state
            )
        sq = np.einsum("ij,ij->i", base, base) - 2 * (base @ mean) + np.dot(mean, mean)
        if V is None:
            work = base - mean
        else:
            work = base @ V
            work -= mean @ V
        if V is not None:
            kept_sq = np.einsum("ij,ij->i", work, work)
            weight = 1.0
            if eps is not None:
                weight = _residual_weight(S, work[rows], eps * eps if metric == "euclidean" else 2 * eps, rng)
            sq = kept_sq + np.float32(weight) * np.maximum(sq - kept_sq, 0.0)
        if metric == "cosine":
            # Zero rows: a norm that puts them beyond reach of everything (unit rows are within 2 of the mean).
            sq[~X.any(axis=1)] = 16.0
        points = cls(np.ascontiguousarray(work, dtype=np.float32), sq, metric, device=device)
        points.sorted_by_pc1 = V is not None
        return points

    def subset(self, idx: np.ndarray) -> Points:
        """The points ``idx`` (exact points are re-centred on their own mean, which tightens the check band)."""
        if self.orig is not None:
            return Points.exact(self.orig[idx], self.metric, device=self.device)
        return Points(
            self.work[idx], None if self.sq is None else self.sq[idx], self.metric, device=self.device
        )

    def take(self, order: np.ndarray) -> Points:
        """The same points in another order (nothing recomputed, so distances are unchanged bit for bit)."""
        return Points(
            self.work[order],
            None if self.sq is None else self.sq[order],
            self.metric,
            orig=None if self.orig is None else self.orig[order],
            norms=None if self.norms is None else self.norms[order],
            device=self.device,
        )

    def threshold(self, eps: float) -> float:
        """The value block distances are compared with."""
        if self.sq is None:
            return eps  # cosine distances
        return eps * eps if self.metric == "euclidean" else 2.0 * eps  # squared chord of unit vectors

    def block(self, rows, cols) -> np.ndarray:
        """Distances (squared euclidean, or cosine) between the points ``rows`` and ``cols`` (slices or arrays)."""
        if self._left is None:
            self._augment()
        if self._torch_left is not None:
            return (self._torch_left[rows] @ self._torch_right[cols].T).cpu().numpy()
        return self._left[rows] @ self._right[cols].T

    def row_tolerance(self, rows: slice, cols: slice) -> np.ndarray:
        if self.sq is None:
            return np.full(rows.stop - rows.start, self.rel_tol * 4, dtype=np.float32)
        return (self.sq[rows] + self.sq[cols].max()) * np.float32(self.rel_tol)

    def exact_values(self, i: np.ndarray, j: np.ndarray) -> np.ndarray:
        """Float64 distances (squared euclidean, or cosine) of the pairs ``(i[k], j[k])``, from the originals."""
        out = np.empty(len(i))
        for s in range(0, len(i), _VERIFY_CHUNK):
            a, b = i[s : s + _VERIFY_CHUNK], j[s : s + _VERIFY_CHUNK]
            xa, xb = self.orig[a].astype(np.float64), self.orig[b].astype(np.float64)
            if self.metric == "cosine":
                xa /= self.norms[a, None]
                xb /= self.norms[b, None]
                out[s : s + len(a)] = 1.0 - np.einsum("ij,ij->i", xa, xb)
            else:
                xa -= xb
                out[s : s + len(a)] = np.einsum("ij,ij->i", xa, xa)
        return out


def fast_basis(
    S: np.ndarray,
    metric: str = "euclidean",
    n_components: int = 64,
    *,
    eps: float | None = None,
    residual_share: float = 0.15,
    random_state: int | None = 0,
) -> np.ndarray | None:
    """The principal directions fast mode projects rows like ``S`` on (``(D, k)`` float32), or None for whole rows.

    ``S``: a sample of centred rows (for cosine: of centred unit rows). The rule of :meth:`Points.low_rank`:
    at least ``n_components`` directions (filling the padded block width), doubled while the mean squared
    residual of ``S`` exceeds ``residual_share`` of the squared threshold, None past a third of the width.
    """
    S = np.ascontiguousarray(S, dtype=np.float32)
    m, d = S.shape
    k = _fill_width(int(n_components))
    if m <= k:
        return None
    cov = S.T @ S if _covariance_is_cheaper(S.shape, k) else None
    total = float(np.trace(cov, dtype=np.float64) if cov is not None else np.einsum("ij,ij->", S, S, dtype=np.float64))
    # The dropped term 2 <Qx, Qy> is at most |Qx|^2 + |Qy|^2: keep the mean |Qx|^2 a small share of the
    # squared radius (without eps: of the mean squared norm).
    scale = (eps * eps if metric == "euclidean" else 2 * eps) if eps is not None else total / m
    while k <= d // 3:
        V, kept = _top_directions(S, k, random_state, cov=cov)
        if (total - kept) / m <= residual_share * scale:
            return V
        k = _fill_width(2 * k)
    return None


def _residual_weight(S: np.ndarray, WS: np.ndarray, thr: float, rng: np.random.Generator, probes: int = 64) -> float:
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
    synchronisation cost to products this small (up to 80x on a busy machine). Given ``cov = S.T @ S`` the
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
            V = B.T @ vecs[:, top] / np.sqrt(np.maximum(vals[top], 1e-300))
    return np.ascontiguousarray(V, dtype=np.float32), float(np.maximum(vals[top], 0.0).sum())


def _orthonormal(Y: np.ndarray) -> np.ndarray:
    """An orthonormal basis of the columns of ``Y`` (Cholesky QR in float64, with a tiny ridge)."""
    Y64 = Y.astype(np.float64)
    G = Y64.T @ Y64
    G[np.diag_indices_from(G)] += 1e-12 * max(np.trace(G), 1e-300)
    L = np.linalg.cholesky(G)
    from scipy.linalg import solve_triangular  # only fast mode gets here: spare the import (0.15 s) otherwise

    return solve_triangular(L, Y64.T, lower=True, check_finite=False).T.astype(np.float32)


def _block_ranges(n: int, size: int) -> list[slice]:
    return [slice(s, min(s + size, n)) for s in range(0, n, size)]


def radius_pairs(points: Points, eps: float, *, block_size: int = _BLOCK) -> tuple[np.ndarray, np.ndarray]:
    """All pairs ``i < j`` of ``points`` within distance ``eps``, as two int64 arrays.

    See :func:`_sorted_radius_pairs`, which finds them.
    """
    order, i, j = _sorted_radius_pairs(points, eps, block_size=block_size)
    if order is not None:
        i, j = order[i], order[j]
        i, j = np.minimum(i, j), np.maximum(i, j)
    return i, j


def _sorted_radius_pairs(
    points: Points, eps: float, *, block_size: int = _BLOCK
) -> tuple[np.ndarray | None, np.ndarray, np.ndarray]:
    """``(order, i, j)``: the pairs within ``eps`` as positions ``i < j`` in the order ``order`` (positions to
    indices; None when the points were not reordered), with ``i`` non-decreasing.

    No matrix of more than ``block_size ** 2`` entries is ever held. With more than ``block_size`` points they
    are first sorted along their main principal direction ``u``: since ``|<u, x - y>| <= |x - y|``, a point can
    only pair with the points whose coordinates lie within reach of its own, so each block of rows is compared
    with that window of columns only (the rows that follow it, up to the reach of its last row).
    """
    thr = points.threshold(eps)
    order = None
    coord = None
    reach = np.inf
    n = points.n
    if n > block_size:
        if points.sorted_by_pc1:
            coord = points.work[:, 0]
        else:
            rng = np.random.default_rng(0)
            sample = rng.choice(n, size=min(n, 1000), replace=False)
            coord = points.work @ _top_directions(points.work[sample], 1, 0)[0][:, 0]
        order = np.argsort(coord, kind="stable")
        coord = coord[order]
        points = points.take(order)
        reach = _reach(points, thr)
    # Narrow row blocks keep the window tight; a quarter of block_size still makes efficient matrix products.
    row_size = max(block_size // 4, 1) if coord is not None else block_size
    ends = None if coord is None else np.searchsorted(coord, coord + reach, side="right")
    rows_out, cols_out = [], []
    for r in _block_ranges(n, row_size):
        end = n if ends is None else int(ends[r.stop - 1])
        col_chunk = max(block_size * block_size // (r.stop - r.start), 1)
        first_chunk = len(rows_out)
        for start in range(r.start, end, col_chunk):
            c = slice(start, min(start + col_chunk, end))
            d = points.block(r, c)
            ncols = c.stop - c.start
            if points.verified:
                tol = points.row_tolerance(r, c)
                flat = np.flatnonzero(d <= (thr + tol)[:, None])
            else:
                flat = np.flatnonzero(d <= np.float32(thr))
            i, j = np.divmod(flat, ncols)
            if c.start < r.stop:
                # Columns overlapping the rows: each pair once, self-pairs are counted by the caller.
                upper = j + c.start > i + r.start
                flat, i, j = flat[upper], i[upper], j[upper]
            if points.verified:
                vals = d.ravel()[flat]
                unsure = vals > (thr - tol)[i]
                if unsure.any():
                    ui, uj = i[unsure] + r.start, j[unsure] + c.start
                    keep = ~unsure
                    keep[unsure] = points.exact_values(ui, uj) <= thr
                    i, j = i[keep], j[keep]
            rows_out.append(i + r.start)
            cols_out.append(j + c.start)
        if len(rows_out) - first_chunk > 1:  # several column chunks: put this row block's pairs back in row order
            bi, bj = np.concatenate(rows_out[first_chunk:]), np.concatenate(cols_out[first_chunk:])
            by_row = np.argsort(bi, kind="stable")
            rows_out[first_chunk:] = [bi[by_row]]
            cols_out[first_chunk:] = [bj[by_row]]
    if not rows_out:
        return order, np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
    return order, np.concatenate(rows_out), np.concatenate(cols_out)


def _reach(points: Points, thr: float) -> float:
    """The largest ``|x - y|`` (of working rows) a pair within the threshold can have, with rounding margins."""
    if points.sq is None:
        max_norm = 1.0
        limit = 2.0 * (thr + 4 * points.rel_tol)  # unit rows: |x - y|^2 = 2 (1 - <x, y>)
    else:
        max_sq = float(points.sq.max())
        max_norm = max_sq**0.5
        limit = thr + 2 * points.rel_tol * max_sq  # |Px - Py|^2 <= the block value, plus its rounding bound
    width = points.work.shape[1]
    return limit**0.5 * (1 + 1e-6) + 4 * (width + 2) * _U32 * max_norm


# ------------------------------------------------------------------------------------------------------ DBSCAN
def dbscan(
    X: np.ndarray | Points,
    eps: float,
    min_samples: int = 5,
    metric: str = "euclidean",
    *,
    exact: bool = True,
    device: str | None = None,
    block_size: int = _BLOCK,
) -> np.ndarray:
    """Labels of ``sklearn.cluster.DBSCAN(eps=eps, min_samples=min_samples, metric=metric).fit_predict(X)``.

    ``-1`` marks noise. See the module docstring for how the result is made identical to scikit-learn's.
    ``X`` may also be prepared :class:`Points` (then ``metric``, ``exact`` and ``device`` are theirs).
    """
    if not eps > 0:
        raise ValueError(f"eps must be positive, got {eps}")
    if isinstance(X, Points):
        points = X
    elif exact:
        points = Points.exact(X, metric, device=device)
    else:
        points = Points.unverified(X, metric, device=device)
    n = points.n
    labels = np.full(n, -1, dtype=np.int64)
    if n == 0:
        return labels
    # Everything below works on positions in the sorted order of the pairs (rows of a CSR matrix without a sort);
    # only the cluster numbering looks at the original indices.
    order, i, j = _sorted_radius_pairs(points, eps, block_size=block_size)
    index = np.arange(n) if order is None else order
    counts = np.bincount(i, minlength=n) + np.bincount(j, minlength=n) + 1
    core = counts >= min_samples
    if not core.any():
        return labels
    both = core[i] & core[j]
    comp = connected_components(n, i[both], j[both], rows_sorted=True)
    core_pos = np.flatnonzero(core)
    first = np.full(comp.max() + 1, n, dtype=np.int64)
    np.minimum.at(first, comp[core_pos], index[core_pos])
    used = np.flatnonzero(first < n)
    rank = np.full(len(first), -1, dtype=np.int64)
    rank[used[np.argsort(first[used], kind="stable")]] = np.arange(len(used))
    found = np.full(n, -1, dtype=np.int64)
    found[core_pos] = rank[comp[core_pos]]
    # Border points: the smallest cluster label among their core neighbours.
    border_ij = core[i] & ~core[j]
    border_ji = core[j] & ~core[i]
    if border_ij.any() or border_ji.any():
        src = np.concatenate([i[border_ij], j[border_ji]])
        dst = np.concatenate([j[border_ij], i[border_ji]])
        best = np.full(n, np.iinfo(np.int64).max, dtype=np.int64)
        np.minimum.at(best, dst, found[src])
        hit = best < np.iinfo(np.int64).max
        found[hit] = best[hit]
    labels[index] = found
    return labels


def native_dbscan_params(clusterer: Any) -> dict[str, Any] | None:
    """``{"eps", "min_samples", "metric"}`` if ``clusterer`` is a scikit-learn DBSCAN that :func:`dbscan` reproduces.

    Other estimators (and DBSCAN with other metrics, or a ``metric_params``) return None and are run as given.
    """
    from sklearn.cluster import DBSCAN

    if type(clusterer) is not DBSCAN:
        return None
    p = clusterer.get_params()
    metric = p["metric"]
    if metric == "minkowski" and p.get("p") in (None, 2, 2.0):
        metric = "euclidean"
    if metric == "l2":
        metric = "euclidean"
    if metric not in METRICS or p.get("metric_params"):
        return None
    return {"eps": float(p["eps"]), "min_samples": int(p["min_samples"]), "metric": metric}


# -------------------------------------------------------------------------------------------- k-NN and auto eps
def kth_neighbor_distance(
    points: Points, k: int, query_index: np.ndarray, *, block_size: int = 256, n_threads: int | None = None
) -> np.ndarray:
    """Distance from each point ``query_index`` to its ``k``-th nearest other point (float32, not verified).

    Query blocks run on ``n_threads`` threads (default: every available core) with single-threaded BLAS, which
    keeps a busy machine's cores working instead of waiting on each other.
    """
    n = points.n
    query_index = np.asarray(query_index, dtype=np.int64)
    k_eff = min(int(k) + 1, n)  # the query itself sorts first
    out = np.empty(len(query_index), dtype=np.float32)
    if k_eff < 2:
        out[:] = 0.0
        return out
    everything = slice(0, n)

    def one(s: slice) -> None:
        q = query_index[s]
        d = points.block(q, everything)
        d[np.arange(len(q)), q] = -1.0
        d.partition(k_eff - 1, axis=1)  # in place: the block is ours, and np.partition would copy it
        kth = np.maximum(d[:, k_eff - 1], 0.0)
        if points.sq is not None:
            kth = np.sqrt(kth) if points.metric == "euclidean" else kth / 2.0
        out[s] = kth

    blocks = _block_ranges(len(query_index), block_size)
    threads = available_cores() if n_threads is None else n_threads
    points.block(slice(0, 1), slice(0, 1))  # builds the augmented rows once, before the threads share them
    with single_threaded_blas():
        if threads > 1 and len(blocks) > 1:
            from concurrent.futures import ThreadPoolExecutor

            with ThreadPoolExecutor(max_workers=threads) as pool:
                list(pool.map(one, blocks))
        else:
            for s in blocks:
                one(s)
    return out


_blas_lock = threading.Lock()
_blas_depth = 0
_blas_limiter: Any = None
_controller: Any = None


def _blas_controller() -> Any:
    # Finding the loaded BLAS libraries scans the process's memory map (about 2 ms): do it once. numpy's and
    # scipy's OpenBLAS are loaded with numpy, before any call here.
    global _controller
    if _controller is None:
        from threadpoolctl import ThreadpoolController

        _controller = ThreadpoolController()
    return _controller


@contextmanager
def single_threaded_blas() -> Iterator[None]:
    """numpy/scipy's BLAS limited to one thread per call while any thread is inside this block.

    On a busy machine multi-threaded BLAS calls spend most of their time waiting for each other; running our own
    threads over independent pieces (cover elements, query blocks) with single-threaded BLAS keeps every core busy.
    Reference-counted across threads, so concurrent and nested uses restore the original setting exactly once, when
    the last one leaves (threadpoolctl on its own would restore out of order). torch's thread pools are untouched.
    """
    global _blas_depth, _blas_limiter
    with _blas_lock:
        if _blas_depth == 0:
            _blas_limiter = _blas_controller().limit(limits=1, user_api="blas")
        _blas_depth += 1
    try:
        yield
    finally:
        with _blas_lock:
            _blas_depth -= 1
            if _blas_depth == 0:
                _blas_limiter.restore_original_limits()
                _blas_limiter = None


def available_cores() -> int:
    """CPU cores this process may run on."""
    import os

    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def unit_rows(X: np.ndarray) -> np.ndarray:
    """Rows scaled to unit length, float32 (rows of near-zero norm are left as they are, as scikit-learn does)."""
    norms = np.sqrt(np.einsum("ij,ij->i", X, X, dtype=np.float64))
    norms[norms < _TINY_NORM] = 1.0
    return (X / norms[:, None]).astype(np.float32)


def knee(values: np.ndarray) -> float:
    """The knee of a curve: the sorted value farthest below the chord from the smallest to the largest value.

    Both axes are scaled to ``[0, 1]`` first (the "Kneedle" rule), so the result does not depend on units.
    """
    y = np.sort(np.asarray(values, dtype=np.float64))
    if len(y) == 0:
        raise ValueError("knee of an empty curve")
    span = y[-1] - y[0]
    if len(y) < 3 or span == 0:
        return float(y[-1])
    x = np.linspace(0.0, 1.0, len(y))
    return float(y[np.argmax(x - (y - y[0]) / span)])


def auto_eps(
    X: np.ndarray | Points,
    min_samples: int,
    metric: str = "euclidean",
    *,
    sample: int = 1000,
    random_state: int | None = 0,
    n_threads: int | None = None,
) -> float:
    """DBSCAN eps from the data: the knee of the sorted k-distance curve (Ester et al. 1996; TopoBERT).

    ``k = max(min_samples - 1, 1)``: the distance at which a point has ``min_samples`` points (itself included)
    within reach, i.e. would be a core point. The curve uses at most ``sample`` query points (drawn with
    ``random_state``) against all points, so the cost is ``O(sample * N * D)``. A curve of zeros (duplicates)
    gives the smallest positive float32 so DBSCAN still accepts it. ``X`` may be prepared :class:`Points`
    (fast mode computes the curve with its approximate distances).
    """
    points = X if isinstance(X, Points) else Points.unverified(X, metric)
    n = points.n
    if n > sample:
        q = np.sort(np.random.default_rng(random_state).choice(n, size=sample, replace=False))
    else:  # every point; not touching np.random spares the graph process its import (20 ms)
        q = np.arange(n)
    kd = kth_neighbor_distance(points, max(int(min_samples) - 1, 1), q, n_threads=n_threads)
    return max(knee(kd), float(np.finfo(np.float32).tiny))
