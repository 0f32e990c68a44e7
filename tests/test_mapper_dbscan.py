"""The built-in DBSCAN gives scikit-learn's labels exactly, including at the eps boundary."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from scipy.spatial.distance import pdist
from sklearn.cluster import DBSCAN

from topoact_lightning.engine.dbscan import dbscan, native_dbscan_params
from topoact_lightning.engine.distances import Points, radius_pairs
from topoact_lightning.engine.neighbors import auto_eps, knee


@given(
    X=arrays(
        np.float32, st.tuples(st.integers(1, 60), st.integers(1, 5)), elements=st.floats(-5, 5, width=32)
    ),
    q=st.floats(0.01, 0.6),
    min_samples=st.integers(1, 6),
    metric=st.sampled_from(["euclidean", "cosine"]),
)
@settings(max_examples=80, deadline=None)
def test_labels_identical_to_scikit_learn(X, q, min_samples, metric):
    d = np.unique(pdist(X.astype(np.float64), metric=metric)) if len(X) > 1 else np.array([])
    d = d[d > 1e-6]
    # An eps halfway between two clearly distinct pair distances: no pair sits within float64 rounding of it.
    if len(d) >= 2:
        k = int(q * (len(d) - 1))
        assume(d[k + 1] - d[k] > 1e-7 * d[k + 1])
        eps = (d[k] + d[k + 1]) / 2
    else:
        eps = 0.5
    expected = DBSCAN(eps=eps, min_samples=min_samples, metric=metric).fit_predict(X.astype(np.float64))
    assert dbscan(X, eps, min_samples, metric).tolist() == expected.tolist()


def test_boundary_pairs_are_decided_exactly():
    # Data far from the origin, so float32 distance products alone misjudge pairs within ~1e-7 of eps; eps is set
    # just above / below actual pair distances. scikit-learn (float64) and the verified route must agree.
    rng = np.random.default_rng(0)
    X = (1000 + rng.normal(size=(400, 64))).astype(np.float32)
    D = pdist(X.astype(np.float64))
    base = np.quantile(D, 0.02)
    near = D[np.argsort(np.abs(D - base))[:8]]
    disagreements_float32 = 0
    for dist in near:
        for eps in (dist * (1 + 1e-8), dist * (1 - 1e-8)):
            expected = DBSCAN(eps=eps, min_samples=3).fit_predict(
                X.astype(np.float64)
            )  # as kmapper passes it
            assert dbscan(X, eps, 3).tolist() == expected.tolist()
            i, j = radius_pairs(Points.unverified(X), eps)
            exact_i, exact_j = radius_pairs(Points.exact(X), eps)
            disagreements_float32 += len(i) != len(exact_i)
    assert disagreements_float32 > 0  # the float32 route alone would be wrong here: the check matters


def test_integer_grid_ties_are_inclusive_like_scikit_learn():
    X = np.array([[x, y] for x in range(6) for y in range(4)], dtype=np.float32)
    X = np.concatenate([X, [[20, 20], [21, 20]]]).astype(np.float32)
    for eps, ms in ((1.0, 5), (1.0, 3), (2**0.5, 9)):
        expected = DBSCAN(eps=eps, min_samples=ms).fit_predict(X)
        assert dbscan(X, eps, ms).tolist() == expected.tolist()


def test_large_element_uses_blocks_and_sorting():
    rng = np.random.default_rng(1)
    X = np.concatenate([rng.normal(size=(1500, 20)), rng.normal(size=(1300, 20)) + 4]).astype(np.float32)
    X[::7] *= 3
    eps = auto_eps(X, 5)
    expected = DBSCAN(eps=eps, min_samples=5).fit_predict(X)
    assert dbscan(X, eps, 5, block_size=256).tolist() == expected.tolist()
    # Tiny blocks: windows span many column chunks, whose pairs must come back in row order for the CSR graph.
    assert dbscan(X, eps, 5, block_size=64).tolist() == expected.tolist()
    zero = X.copy()
    zero[:20] = 0  # zero rows: cosine distance 1 to everything
    expected = DBSCAN(eps=0.05, min_samples=5, metric="cosine").fit_predict(zero)
    assert dbscan(zero, 0.05, 5, "cosine", block_size=256).tolist() == expected.tolist()


def test_torch_cpu_blocks_match():
    pytest.importorskip("torch")
    rng = np.random.default_rng(2)
    X = rng.normal(size=(500, 16)).astype(np.float32)
    eps = auto_eps(X, 4)
    assert dbscan(X, eps, 4, device="cpu").tolist() == dbscan(X, eps, 4).tolist()


def test_native_parameters_recognised():
    assert native_dbscan_params(DBSCAN(eps=0.3, min_samples=7)) == {
        "eps": 0.3,
        "min_samples": 7,
        "metric": "euclidean",
    }
    assert native_dbscan_params(DBSCAN(metric="minkowski", p=2))["metric"] == "euclidean"
    assert native_dbscan_params(DBSCAN(metric="cosine"))["metric"] == "cosine"
    assert native_dbscan_params(DBSCAN(metric="manhattan")) is None
    assert native_dbscan_params(DBSCAN(metric="minkowski", p=1)) is None


def test_knee_and_auto_eps():
    curve = np.concatenate([np.linspace(1, 1.2, 90), np.linspace(2, 10, 10)])
    assert 1.1 < knee(curve) <= 1.2
    assert knee(np.array([3.0, 3.0, 3.0])) == 3.0
    dup = np.zeros((10, 3), dtype=np.float32)
    assert auto_eps(dup, 3) > 0
    with pytest.raises(ValueError, match="eps must be positive"):
        dbscan(dup, 0.0, 3)


def test_low_rank_points_are_exact_on_low_rank_data():
    # Rows in a 10-dimensional subspace of R^200: the projection on 16 principal directions loses nothing, so the
    # fast route's distances are the true ones (up to float32) and DBSCAN gives scikit-learn's labels.
    rng = np.random.default_rng(3)
    X = (rng.normal(size=(1200, 10)) @ rng.normal(size=(10, 200))).astype(np.float32)
    X[600:] += 6.0
    D = np.sort(pdist(X[:300].astype(np.float64)))
    eps = float((D[400] + D[401]) / 2)
    expected = DBSCAN(eps=eps, min_samples=4).fit_predict(X.astype(np.float64))
    fast = Points.low_rank(X, "euclidean", 16)
    # 16 directions asked, 30 kept: 30 + the 2 augmented columns fill the padded block width of 32.
    assert fast.work.shape == (1200, 30) and fast.sorted_by_pc1
    got = dbscan(fast, eps, 4)
    from sklearn.metrics import adjusted_rand_score

    assert adjusted_rand_score(expected, got) > 0.99


def test_single_threaded_blas_is_restored_once_by_the_last_thread():
    import threading

    from threadpoolctl import threadpool_info

    from topoact_lightning.engine.threads import single_threaded_blas

    def blas_threads():
        return [i["num_threads"] for i in threadpool_info() if i["user_api"] == "blas"]

    before = blas_threads()
    entered, leave = threading.Event(), threading.Event()

    def other():
        with single_threaded_blas():
            entered.set()
            leave.wait(10)

    t = threading.Thread(target=other)
    t.start()
    entered.wait(10)
    with single_threaded_blas():
        leave.set()
        t.join(
            10
        )  # the other thread left first: this one still holds the limit, restored only when it leaves
        import topoact_lightning.engine.threads as threads

        assert threads._blas_depth == 1 and threads._blas_limiter is not None
    assert threads._blas_depth == 0 and threads._blas_limiter is None
    assert blas_threads() == before


@given(st.integers(1, 300))
def test_fill_width_is_the_smallest_padded_width(k):
    from topoact_lightning.engine.lowrank import _fill_width

    w = _fill_width(k)
    assert w >= k and (w + 2) % 16 == 0 and w - 16 < k


def factor_data(n: int = 3000, d: int = 256, seed: int = 5) -> np.ndarray:
    """8 classes, each varying along its own 6 directions: near neighbours share residual structure."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 8, n)
    factors = rng.normal(size=(8, 6, d)) / np.sqrt(6)
    X = rng.normal(size=(8, d))[y] + np.einsum("nr,nrd->nd", rng.normal(size=(n, 6)), factors[y]) * 0.8
    return np.maximum(X + rng.normal(size=X.shape) * 0.1, 0).astype(np.float32)


def test_residual_weight_matches_the_exact_count_of_near_pairs():
    from topoact_lightning.engine.lowrank import _residual_weight, _top_directions

    X = factor_data()
    S = X[:1000] - X[:1000].mean(axis=0)
    V, _ = _top_directions(S, 30, 0)
    WS = S @ V
    eps = auto_eps(X, 5)
    thr = eps * eps
    w = _residual_weight(S, WS, thr, np.random.default_rng(1))
    assert 0.0 < w < 1.0  # neighbours share part of their residual, so the full residual overestimates
    # The same probes again (same seed): with the weight, the estimate counts as many near pairs as the truth.
    a = np.random.default_rng(1).choice(1000, size=64, replace=False)
    sq, kept = (S * S).sum(1), (WS * WS).sum(1)
    exact = ((S[a, None, :] - S[None, :, :]) ** 2).sum(-1)
    est = ((WS[a, None, :] - WS[None, :, :]) ** 2).sum(-1) + w * ((sq - kept)[a, None] + (sq - kept)[None, :])
    other = a[:, None] != np.arange(1000)[None, :]
    n_exact, n_est = np.sum((exact <= thr) & other), np.sum((est <= thr) & other)
    assert n_exact >= 10 and abs(int(n_est) - int(n_exact)) <= 2


def test_calibrated_residual_weight_brings_fast_labels_closer_to_exact(monkeypatch):
    from sklearn.metrics import adjusted_rand_score

    import topoact_lightning.engine.lowrank as lowrank

    X = factor_data()
    eps = auto_eps(X, 5)
    exact = dbscan(X, eps, 5)
    fast = Points.low_rank(X, n_components=30, eps=eps)
    assert fast.work.shape[1] < 256  # the reduced route
    calibrated = adjusted_rand_score(exact, dbscan(fast, eps, 5))
    monkeypatch.setattr(lowrank, "_residual_weight", lambda *args, **kwargs: 1.0)
    plain = adjusted_rand_score(exact, dbscan(Points.low_rank(X, n_components=30, eps=eps), eps, 5))
    assert calibrated > plain + 0.01 and calibrated >= 0.9


@pytest.mark.parametrize("block_size", [32, 128, 4096])
def test_sorted_pairs_come_in_row_order_and_are_all_the_pairs(block_size):
    from scipy.spatial.distance import squareform

    from topoact_lightning.engine.distances import _sorted_radius_pairs

    rng = np.random.default_rng(2)
    X = rng.normal(size=(600, 8)).astype(np.float32)
    eps = 2.0
    order, i, j = _sorted_radius_pairs(Points.exact(X), eps, block_size=block_size)
    assert np.all(np.diff(i) >= 0) and np.all(i < j)  # CSR rows without a sort
    index = np.arange(600) if order is None else order
    got = {(min(a, b), max(a, b)) for a, b in zip(index[i].tolist(), index[j].tolist(), strict=True)}
    D = squareform(pdist(X.astype(np.float64)))
    want = {(a, b) for a, b in zip(*np.nonzero(np.triu(eps >= D, k=1)), strict=True)}
    assert got == want


def test_dbscan_is_the_same_through_either_component_search(monkeypatch):
    import topoact_lightning.engine.memberships as memberships

    rng = np.random.default_rng(4)
    X = np.concatenate([rng.normal(size=(700, 5)), rng.normal(size=(500, 5)) + 5]).astype(np.float32)
    eps = auto_eps(X, 5)
    expected = DBSCAN(eps=eps, min_samples=5).fit_predict(X)
    for limit in (0, 10**9):  # scipy's search only, union-find only
        monkeypatch.setattr(memberships, "SMALL_GRAPH", limit)
        assert dbscan(X, eps, 5).tolist() == expected.tolist()


@given(
    seed=st.integers(0, 10_000),
    n=st.integers(2, 300),
    metric=st.sampled_from(["euclidean", "cosine"]),
    block_size=st.sampled_from([16, 64, 1024]),
)
@settings(max_examples=40, deadline=None)
def test_element_rows_by_index_give_the_same_pairs_as_a_copy(seed, n, metric, block_size):
    # Exact mode reads a cover element's rows from X by index (no copy kept): the pairs must be those of the copy.
    rng = np.random.default_rng(seed)
    X = (rng.normal(size=(n + 50, 6)) + 100 * rng.random()).astype(np.float32)
    idx = np.sort(rng.choice(n + 50, size=n, replace=False))
    eps = float(np.quantile(pdist(X[idx].astype(np.float64), metric=metric), 0.1)) if n > 2 else 1.0
    by_index = radius_pairs(Points.exact(X, metric, rows=idx), eps, block_size=block_size)
    by_copy = radius_pairs(Points.exact(X[idx], metric), eps, block_size=block_size)
    assert all(np.array_equal(a, b) for a, b in zip(by_index, by_copy, strict=True))


def test_boundary_checks_in_small_chunks_decide_the_same(monkeypatch):
    # The float64 checks run in chunks bounded in bytes; chunks of a few rows must decide every pair the same way.
    import topoact_lightning.engine.distances as distances

    rng = np.random.default_rng(0)
    X = (1000 + rng.normal(size=(400, 64))).astype(np.float32)
    D = pdist(X.astype(np.float64))
    eps = float(D[np.argsort(np.abs(D - np.quantile(D, 0.02)))[0]]) * (1 + 1e-8)
    expected = DBSCAN(eps=eps, min_samples=3).fit_predict(X.astype(np.float64))
    monkeypatch.setattr(distances, "_VERIFY_BYTES", 3 * 8 * 64)  # three rows per chunk
    assert dbscan(X, eps, 3).tolist() == expected.tolist()
