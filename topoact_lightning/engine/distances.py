"""Points prepared for blocked distance computations, and every pair of them within a radius.

Pairwise distances are computed in blocks with one float32 matrix product each (``|x|^2 + |y|^2 - 2 x.y`` on data
centred in float64 first, which keeps the norms small); only upper-triangle blocks are needed (the neighbourhood
graph is symmetric). A pair whose float32 distance lies within a rigorous rounding-error bound of eps
(``(4 D + 40) * 2^-24`` times ``|x|^2 + |y|^2``) is recomputed exactly in float64 from the original values, so the
graph is the one scikit-learn finds (scikit-learn itself rounds in float64; only pairs at distance eps to about
1e-13 relative could differ, which random data never produces). :func:`topoact_lightning.engine.dbscan.dbscan`
builds DBSCAN on these pairs.

Example:
    >>> import numpy as np
    >>> X = np.array([[0.0, 0.0], [0.0, 1.0], [3.0, 0.0]], dtype=np.float32)
    >>> i, j = radius_pairs(Points.exact(X), eps=1.5)
    >>> list(zip(i.tolist(), j.tolist()))
    [(0, 1)]
"""

from __future__ import annotations

import numpy as np

from topoact_lightning.engine import lowrank

#: Metrics the built-in DBSCAN, the automatic eps and the k-NN lens support.
METRICS = ("euclidean", "cosine")

_U32 = 2.0**-24
_BLOCK = 1024
_VERIFY_CHUNK = 8192
# Bytes of one float64 chunk of rows: near-threshold checks and cosine normalisation work in pieces this size.
_VERIFY_BYTES = 64 * 2**20
# scikit-learn's normalize treats rows with a norm below 10 float64 epsilons as zero rows.
_TINY_NORM = 10 * np.finfo(np.float64).eps


def unit_rows(X: np.ndarray) -> np.ndarray:
    """Rows scaled to unit length, float32 (rows of near-zero norm are left as they are, as scikit-learn does)."""
    norms = np.sqrt(np.einsum("ij,ij->i", X, X, dtype=np.float64))
    norms[norms < _TINY_NORM] = 1.0
    return (X / norms[:, None]).astype(np.float32)


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
        orig_rows: np.ndarray | None = None,
        norms: np.ndarray | None = None,
        device: str | None = None,
    ) -> None:
        if metric not in METRICS:
            raise ValueError(f"unknown metric {metric!r}; use one of {METRICS}")
        self.work = work
        self.sq = sq
        self.metric = metric
        # The original rows are orig[orig_rows] (all of orig when None): an index instead of a copy of them.
        self.orig = orig
        self.orig_rows = orig_rows
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
        # The augmented column rows the blocks are made of, built on first use: points that are only reordered
        # (see _sorted_radius_pairs) never need their own. The augmented row side is built per block, from
        # ``work``: a block's rows are few, and a whole second augmented copy of the points would double memory.
        self._right: np.ndarray | None = None
        self._torch_left = self._torch_right = None

    @property
    def width(self) -> int:
        """Columns of the augmented rows: ``work``'s, plus two, padded with zeros to a multiple of 16 (OpenBLAS
        sgemm runs at half speed on odd widths)."""
        return -(-(self.work.shape[1] + 2) // 16) * 16

    def _left_rows(self, rows) -> np.ndarray:
        """The augmented rows ``[x, |x|^2, 1]`` (cosine: ``[x, 1]``) of the points ``rows``."""
        work = self.work[rows]
        k = work.shape[1]
        left = np.zeros((len(work), self.width), dtype=np.float32)
        left[:, :k] = work
        if self.sq is None:
            left[:, k] = 1.0
        else:
            left[:, k] = self.sq[rows]
            left[:, k + 1] = 1.0
        return left

    def _augment(self) -> None:
        # Distances come straight out of one matrix product of augmented rows (no elementwise passes):
        # [x, |x|^2, 1] . [-2y, 1, |y|^2] = |x - y|^2, and [x, 1] . [-y, 1] = 1 - <x, y> for unit rows.
        work, sq = self.work, self.sq
        k = work.shape[1]
        right = np.zeros((len(work), self.width), dtype=np.float32)
        if sq is None:
            np.negative(work, out=right[:, :k])
            right[:, k] = 1.0
        else:
            np.multiply(work, -2.0, out=right[:, :k])
            right[:, k] = 1.0
            right[:, k + 1] = sq
        if self.device is not None:
            import torch

            self._torch_left = torch.from_numpy(self._left_rows(slice(None))).to(self.device)
            self._torch_right = torch.from_numpy(right).to(self.device)
        # _right last: block() checks it, so a thread that sees it also sees the rest.
        self._right = right

    @property
    def verified(self) -> bool:
        """True if near-threshold pairs are recomputed exactly (the originals are kept)."""
        return self.orig is not None

    @classmethod
    def exact(
        cls,
        X: np.ndarray,
        metric: str = "euclidean",
        *,
        device: str | None = None,
        rows: np.ndarray | None = None,
    ) -> Points:
        """Points whose neighbourhood graph is the exact one (float32 blocks, float64 checks at the threshold).

        ``rows``: take the points ``X[rows]`` (a cover element) without keeping a copy of them beside the
        working rows; the checks read them from ``X``.
        """
        X = np.ascontiguousarray(X, dtype=np.float32)
        if metric == "cosine":
            base = X if rows is None else X[rows]
            norms = np.sqrt(np.einsum("ij,ij->i", base, base, dtype=np.float64))
            # scikit-learn's normalize leaves (near-)zero rows as they are: cosine distance 1 to anything else.
            norms[norms < _TINY_NORM] = 1.0
            work = np.empty(base.shape, dtype=np.float32)
            # The quotient is float64 (norms are): a chunk at a time, not a float64 copy of every row at once.
            for s in _block_ranges(len(base), max(_VERIFY_BYTES // max(8 * base.shape[1], 1), 1)):
                np.divide(base[s], norms[s, None], out=work[s], casting="same_kind")
            return cls(work, None, metric, orig=X, orig_rows=rows, norms=norms, device=device)
        # Any common centre leaves distances unchanged; the mean keeps |x|^2 small, hence the rounding bound.
        if rows is None:
            work = X - X.mean(axis=0, dtype=np.float64).astype(np.float32)
        else:
            work = X[rows]  # a copy, centred in place
            work -= work.mean(axis=0, dtype=np.float64).astype(np.float32)
        sq = np.einsum("ij,ij->i", work, work, dtype=np.float64).astype(np.float32)
        return cls(work, sq, metric, orig=X, orig_rows=rows, device=device)

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
        if V is None and n > lowrank._fill_width(int(n_components)):
            V = lowrank.fast_basis(
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
                weight = lowrank._residual_weight(
                    S, work[rows], eps * eps if metric == "euclidean" else 2 * eps, rng
                )
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
            return Points.exact(self.orig, self.metric, device=self.device, rows=self._orig_index(idx))
        return Points(
            self.work[idx], None if self.sq is None else self.sq[idx], self.metric, device=self.device
        )

    def take(self, order: np.ndarray) -> Points:
        """The same points in another order (nothing recomputed, so distances are unchanged bit for bit)."""
        return Points(
            self.work[order],
            None if self.sq is None else self.sq[order],
            self.metric,
            orig=self.orig,
            orig_rows=None if self.orig is None else self._orig_index(order),
            norms=None if self.norms is None else self.norms[order],
            device=self.device,
        )

    def _orig_index(self, positions: np.ndarray) -> np.ndarray:
        """Rows of ``orig`` holding the points at ``positions``."""
        return np.asarray(positions) if self.orig_rows is None else self.orig_rows[positions]

    def threshold(self, eps: float) -> float:
        """The value block distances are compared with."""
        if self.sq is None:
            return eps  # cosine distances
        return eps * eps if self.metric == "euclidean" else 2.0 * eps  # squared chord of unit vectors

    def block(self, rows, cols) -> np.ndarray:
        """Distances (squared euclidean, or cosine) between the points ``rows`` and ``cols`` (slices or arrays)."""
        if self._right is None:
            self._augment()
        if self._torch_left is not None:
            return (self._torch_left[rows] @ self._torch_right[cols].T).cpu().numpy()
        return self._left_rows(rows) @ self._right[cols].T

    def row_tolerance(self, rows: slice, cols: slice) -> np.ndarray:
        if self.sq is None:
            return np.full(rows.stop - rows.start, self.rel_tol * 4, dtype=np.float32)
        return (self.sq[rows] + self.sq[cols].max()) * np.float32(self.rel_tol)

    def exact_values(self, i: np.ndarray, j: np.ndarray) -> np.ndarray:
        """Float64 distances (squared euclidean, or cosine) of the pairs ``(i[k], j[k])``, from the originals."""
        out = np.empty(len(i))
        # Chunks bounded in bytes too: 8192 float64 rows of a 20,000-wide layer would be 1.3 GB each.
        chunk = max(min(_VERIFY_CHUNK, _VERIFY_BYTES // (8 * self.orig.shape[1])), 1)
        for s in range(0, len(i), chunk):
            a, b = i[s : s + chunk], j[s : s + chunk]
            xa = self.orig[self._orig_index(a)].astype(np.float64)
            xb = self.orig[self._orig_index(b)].astype(np.float64)
            if self.metric == "cosine":
                xa /= self.norms[a, None]
                xb /= self.norms[b, None]
                out[s : s + len(a)] = 1.0 - np.einsum("ij,ij->i", xa, xb)
            else:
                xa -= xb
                out[s : s + len(a)] = np.einsum("ij,ij->i", xa, xa)
        return out


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
    ends = None
    n = points.n
    if n > block_size:
        if points.sorted_by_pc1:
            coord = points.work[:, 0]
        else:
            rng = np.random.default_rng(0)
            sample = rng.choice(n, size=min(n, 1000), replace=False)
            coord = points.work @ lowrank._top_directions(points.work[sample], 1, 0)[0][:, 0]
        order = np.argsort(coord, kind="stable")
        coord = coord[order]
        points = points.take(order)
        ends = np.searchsorted(coord, coord + _reach(points, thr), side="right")
    if points.verified:

        def limit(r: slice, c: slice) -> np.ndarray:
            return thr + points.row_tolerance(r, c)

        def check(vals: np.ndarray, i: np.ndarray, j: np.ndarray, r: slice, c: slice) -> np.ndarray | None:
            unsure = vals > thr - points.row_tolerance(r, c)[i]
            if not unsure.any():
                return None
            keep = ~unsure
            keep[unsure] = points.exact_values(i[unsure] + r.start, j[unsure] + c.start) <= thr
            return keep

        i, j, _ = window_pairs(points, ends, block_size, limit, check)
    else:
        i, j, _ = window_pairs(points, ends, block_size, lambda r, c: np.float32(thr))
    return order, i, j


def window_pairs(
    points: Points,
    ends: np.ndarray | None,
    block_size: int,
    limit,
    check=None,
    *,
    values: bool = False,
) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """``(i, j, vals)``: the pairs of positions ``i < j`` (``i`` non-decreasing) whose block value is at most
    ``limit(rows, cols)`` (a scalar, or one bound per row of the block), and their float32 block values when
    ``values`` (else None).

    Points are compared in blocks of rows with the columns that follow them, up to ``ends`` of each block's last
    row (every column when ``ends`` is None; then blocks of ``block_size`` rows, else a quarter of it: narrow
    row blocks keep the window tight and still make efficient matrix products). No block holds more than
    ``block_size ** 2`` values. ``check(vals, i, j, rows, cols)`` may then drop pairs (their block values and
    coordinates; returns a mask, or None to keep them all).
    """
    n = points.n
    row_size = block_size if ends is None else max(block_size // 4, 1)
    rows_out, cols_out, vals_out = [], [], []
    for r in _block_ranges(n, row_size):
        end = n if ends is None else int(ends[r.stop - 1])
        col_chunk = max(block_size * block_size // (r.stop - r.start), 1)
        first_chunk = len(rows_out)
        for start in range(r.start, end, col_chunk):
            c = slice(start, min(start + col_chunk, end))
            d = points.block(r, c)
            bound = limit(r, c)
            # flatnonzero and divmod: four times faster than np.nonzero of the 2-D mask.
            flat = np.flatnonzero(d <= (bound[:, None] if np.ndim(bound) else bound))
            i, j = np.divmod(flat, c.stop - c.start)
            if c.start < r.stop:
                # Columns overlapping the rows: each pair once, self-pairs are counted by the caller.
                upper = j + c.start > i + r.start
                flat, i, j = flat[upper], i[upper], j[upper]
            if check is not None:
                keep = check(d.ravel()[flat], i, j, r, c)
                if keep is not None:
                    flat, i, j = flat[keep], i[keep], j[keep]
            if values:
                vals_out.append(d.ravel()[flat])
            rows_out.append(i + r.start)
            cols_out.append(j + c.start)
        if len(rows_out) - first_chunk > 1:  # several column chunks: put this row block's pairs in row order
            by_row = np.argsort(np.concatenate(rows_out[first_chunk:]), kind="stable")
            for out in (rows_out, cols_out, vals_out) if values else (rows_out, cols_out):
                out[first_chunk:] = [np.concatenate(out[first_chunk:])[by_row]]
    if not rows_out:
        empty = np.zeros(0, dtype=np.int64)
        return empty, empty, np.zeros(0, dtype=np.float32) if values else None
    return (
        np.concatenate(rows_out),
        np.concatenate(cols_out),
        np.concatenate(vals_out) if values else None,
    )


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
