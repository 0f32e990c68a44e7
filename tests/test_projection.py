"""The engine's projections (``topoact_lightning.engine.projection``): PCA with a fixed sign convention,
Procrustes alignment between epochs, and t-SNE; examples, scikit-learn as the reference, hypothesis properties."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from sklearn.decomposition import PCA

from topoact_lightning.engine.projection import (
    pca_2d,
    pca_scores,
    procrustes_align,
    procrustes_residual,
    tsne_2d,
    tsne_perplexity,
)


def rotation(angle: float, reflect: bool = False) -> np.ndarray:
    c, s = np.cos(angle), np.sin(angle)
    R = np.array([[c, -s], [s, c]])
    return R @ np.diag([1.0, -1.0]) if reflect else R


def embeddings(min_rows: int = 3, max_rows: int = 40):
    """(n, 2) embeddings with moderate coordinates."""
    return st.integers(min_rows, max_rows).flatmap(
        lambda n: hnp.arrays(np.float64, (n, 2), elements=st.floats(-100, 100, allow_nan=False, width=32))
    )


# ---------------------------------------------------------------------------------------------------- PCA
def test_pca_matches_scikit_learn_including_signs():
    rng = np.random.default_rng(0)
    X = (rng.normal(size=(400, 30)) * np.linspace(5, 0.2, 30)).astype(np.float32)
    want = PCA(n_components=2, svd_solver="full").fit_transform(X.astype(np.float64))
    np.testing.assert_allclose(pca_2d(X), want, atol=1e-6 * np.abs(want).max())


@pytest.mark.parametrize("shape", [(600, 300), (40, 300)], ids=["covariance-lanczos", "gram"])
def test_pca_matches_scikit_learn_on_wide_and_tall_data(shape):
    rng = np.random.default_rng(1)
    n, d = shape
    X = rng.normal(size=(n, d)) + rng.normal(size=(n, 1)) * rng.normal(size=(1, d)) * 3
    want = PCA(n_components=2, svd_solver="full").fit_transform(X)
    np.testing.assert_allclose(pca_2d(X), want, atol=1e-6 * np.abs(want).max())


@settings(max_examples=60, deadline=None)
@given(
    n=st.integers(5, 60),
    d=st.integers(2, 12),
    seed=st.integers(0, 2**16),
    axis=st.integers(0, 11),
    strength=st.floats(20, 1000),
)
def test_a_dominant_direction_goes_on_x_and_its_sign_is_fixed(n, d, seed, axis, strength):
    rng = np.random.default_rng(seed)
    axis %= d
    X = rng.normal(size=(n, d))
    X[:, axis] *= strength
    Y = pca_2d(X)
    centred = X[:, axis] - X[:, axis].mean()
    # x is (up to the small other features) the dominant feature, with a positive loading: the same sign.
    assert np.corrcoef(Y[:, 0], centred)[0, 1] > 0.99
    assert np.var(Y[:, 0]) >= np.var(Y[:, 1])
    # The scores are centred, and a flipped copy of the data gives the mirrored picture (same convention).
    np.testing.assert_allclose(Y.mean(axis=0), 0, atol=1e-6 * (1 + np.abs(Y).max()))
    np.testing.assert_allclose(pca_2d(-X), -Y, atol=1e-6 * (1 + np.abs(Y).max()))


def test_pca_of_degenerate_input():
    assert pca_2d(np.zeros((0, 4))).shape == (0, 2)
    assert pca_2d(np.ones((1, 4))).tolist() == [[0.0, 0.0]]
    assert not pca_2d(np.ones((10, 4))).any()  # no variance: every point at the origin
    line = np.outer(np.arange(6.0), [1.0, 2.0, 0.0])  # rank 1: the second column is zeros
    Y = pca_2d(line)
    assert not Y[:, 1].any() and np.allclose(np.abs(Y[:, 0]), np.abs(np.arange(6.0) - 2.5) * np.sqrt(5))
    assert pca_scores(np.arange(10.0).reshape(5, 2), 4).shape == (5, 4)
    assert pca_2d(np.arange(5.0).reshape(5, 1))[:, 1].tolist() == [0.0] * 5


@pytest.mark.parametrize(
    ("X", "match"),
    [(np.zeros(5), "matrix"), (np.array([[1.0, np.nan]]), "NaN"), (np.array([["a"]]), "numeric")],
)
def test_pca_refuses_what_it_cannot_project(X, match):
    with pytest.raises(ValueError, match=match):
        pca_2d(X)


# ---------------------------------------------------------------------------------------------- Procrustes
@settings(max_examples=150, deadline=None)
@given(
    Y=embeddings(),
    angle=st.floats(0, 2 * np.pi),
    reflect=st.booleans(),
    shift=st.tuples(st.floats(-50, 50), st.floats(-50, 50)),
)
def test_aligning_a_moved_copy_recovers_the_original(Y, angle, reflect, shift):
    moved = Y @ rotation(angle, reflect) + np.array(shift)
    scale = 1 + np.abs(Y).max()
    np.testing.assert_allclose(procrustes_align(moved, Y), Y, atol=1e-7 * scale * len(Y))


@settings(max_examples=150, deadline=None)
@given(
    pair=st.integers(1, 40).flatmap(
        lambda n: st.tuples(*[hnp.arrays(np.float64, (n, 2), elements=st.floats(-100, 100, width=32))] * 2)
    )
)
def test_alignment_never_increases_the_residual(pair):
    Y, ref = pair
    slack = 1e-9 * (1 + np.abs(Y).max() + np.abs(ref).max()) * len(Y)
    assert procrustes_residual(procrustes_align(Y, ref), ref) <= procrustes_residual(Y, ref) + slack
    scaled = procrustes_align(Y, ref, scale=True)
    assert procrustes_residual(scaled, ref) <= procrustes_residual(procrustes_align(Y, ref), ref) + slack


@settings(max_examples=100, deadline=None)
@given(Y=embeddings(), angle=st.floats(0, 2 * np.pi), reflect=st.booleans(), other=embeddings())
def test_alignment_is_rigid_without_scale(Y, angle, reflect, other):
    ref = other[: len(Y)] if len(other) >= len(Y) else np.resize(other, Y.shape)
    aligned = procrustes_align(Y, ref)
    # Pairwise distances are kept: only a rotation or reflection and a shift were applied.
    d = lambda Z: np.linalg.norm(Z[:, None] - Z[None], axis=-1)  # noqa: E731
    np.testing.assert_allclose(d(aligned), d(Y), atol=1e-7 * (1 + np.abs(Y).max()) * len(Y))
    # A turned (or mirrored) copy of Y is as rigid, and fits the reference exactly as well: the motions tried
    # include the one undoing the turn.
    moved = Y @ rotation(angle, reflect)
    again = procrustes_align(moved, ref)
    np.testing.assert_allclose(d(again), d(Y), atol=1e-7 * (1 + np.abs(Y).max()) * len(Y))
    slack = 1e-7 * (1 + np.abs(Y).max() + np.abs(ref).max()) * len(Y)
    assert procrustes_residual(again, ref) == pytest.approx(procrustes_residual(aligned, ref), abs=slack)


def test_scale_is_fitted_only_when_asked():
    rng = np.random.default_rng(3)
    ref = rng.normal(size=(50, 2))
    small = 0.25 * ref @ rotation(1.0)
    np.testing.assert_allclose(procrustes_align(small, ref, scale=True), ref, atol=1e-9)
    rigid = procrustes_align(small, ref)
    np.testing.assert_allclose(rigid, 0.25 * (ref - ref.mean(0)) + ref.mean(0), atol=1e-9)


def test_procrustes_refuses_mismatched_shapes():
    with pytest.raises(ValueError, match="cannot align"):
        procrustes_align(np.zeros((3, 2)), np.zeros((4, 2)))
    assert procrustes_align(np.zeros((0, 2)), np.zeros((0, 2))).shape == (0, 2)


# --------------------------------------------------------------------------------------------------- t-SNE
def test_tsne_is_deterministic_and_separates_clusters():
    rng = np.random.default_rng(0)
    X = np.vstack([rng.normal(size=(60, 20)) + 10 * k for k in range(3)])
    a = tsne_2d(X, max_iter=300)
    b = tsne_2d(X, max_iter=300)
    np.testing.assert_array_equal(a, b)
    centres = np.array([a[60 * k : 60 * (k + 1)].mean(0) for k in range(3)])
    spread = max(a[60 * k : 60 * (k + 1)].std(0).max() for k in range(3))
    gaps = np.linalg.norm(centres[:, None] - centres[None], axis=-1)[np.triu_indices(3, 1)]
    assert gaps.min() > 3 * spread


def test_tsne_refuses_tiny_sets_and_bad_inits():
    with pytest.raises(ValueError, match="at least 5 samples"):
        tsne_2d(np.zeros((4, 3)))
    with pytest.raises(ValueError, match="init must have shape"):
        tsne_2d(np.random.default_rng(0).normal(size=(10, 3)), init=np.zeros((9, 2)))
    assert tsne_perplexity(10) == 3.0 and tsne_perplexity(10_000, 50) == 50.0
    assert tsne_2d(np.ones((8, 3)), max_iter=250).shape == (8, 2)  # no variance: still an answer


@given(n=st.integers(2, 300), seed=st.integers(0, 10_000), exaggeration=st.sampled_from([1.0, 12.0]))
@settings(max_examples=40, deadline=None)
def test_tsne_gradient_is_the_dense_float64_formula(n, seed, exaggeration):
    # Blocks of rows, upper triangle only, float32: the gradient 4 sum_j (e p_ij - q_ij) w_ij (y_i - y_j).
    from topoact_lightning.engine.projection import tsne_gradient

    rng = np.random.default_rng(seed)
    P = rng.random((n, n)) * (rng.random((n, n)) < 0.2)
    P = P + P.T
    np.fill_diagonal(P, 0)
    P = P / P.sum() if P.sum() else P
    Y = rng.normal(size=(n, 2)) * rng.uniform(0.01, 30)
    D = ((Y[:, None, :] - Y[None, :, :]) ** 2).sum(-1)
    W = 1 / (1 + D)
    np.fill_diagonal(W, 0)
    Q = W / W.sum()
    diff = Y[:, None, :] - Y[None, :, :]
    want = 4 * (((exaggeration * P - Q) * W)[:, :, None] * diff).sum(1)
    # float32 sums: the error scales with the forces' terms (which may cancel to a much smaller net force), and
    # y_i sum_j w - sum_j w y_j loses float32 digits of |y_i|.
    weights = 4 * ((exaggeration * P + Q) * W)
    terms = (weights[:, :, None] * np.abs(diff)).sum(1)
    tol = 1e-3 * terms + 1e-5 * np.abs(Y) * weights.sum(1)[:, None] + 1e-30
    got = tsne_gradient(P.astype(np.float32), Y, exaggeration)
    assert np.all(np.abs(got - want) <= tol)


def test_tsne_affinities_have_the_perplexity_asked_and_sum_to_one():
    from topoact_lightning.engine.projection import tsne_affinities

    rng = np.random.default_rng(1)
    Z = np.vstack([rng.normal(size=(150, 5)), rng.normal(size=(150, 5)) + 6])
    P = tsne_affinities(Z, perplexity=10.0).astype(np.float64)
    assert np.allclose(P, P.T) and P.sum() == pytest.approx(1.0) and (P >= 0).all()
    assert (
        np.count_nonzero(P, axis=1) >= 31
    ).all()  # each row's 3 * perplexity + 1 neighbours, and those it is one of
    assert P[:150, 150:].sum() < 1e-6  # the far cluster gets (almost) nothing
    # Each row's conditional distribution (before symmetrisation) has entropy log(perplexity): rebuild one.
    d = ((Z[0] - Z) ** 2).sum(1)
    d[0] = np.inf
    near = np.argsort(d)[:31]
    lo, hi = 1e-6, 1e6
    for _ in range(200):
        beta = np.sqrt(lo * hi)
        e = np.exp(-(d[near] - d[near].min()) * beta)
        p = e / e.sum()
        entropy = -(p * np.log(np.maximum(p, 1e-300))).sum()
        lo, hi = (beta, hi) if entropy > np.log(10.0) else (lo, beta)
    assert entropy == pytest.approx(np.log(10.0), abs=1e-3)


def test_tsne_reaches_scikit_learns_divergence():
    # The same affinities, the same start: the KL divergence of our embedding is within 3% of what scikit-learn's
    # Barnes-Hut TSNE reaches with its 1,000 iterations.
    from sklearn.manifold import TSNE

    from topoact_lightning.engine.projection import _principal_scores, tsne_affinities

    rng = np.random.default_rng(2)
    X = np.maximum(rng.normal(size=(6, 64))[rng.integers(0, 6, 400)] * 2 + rng.normal(size=(400, 64)), 0)
    P = tsne_affinities(_principal_scores(X, 50), 30.0).astype(np.float64)

    def kl(Y):
        D = ((Y[:, None, :] - Y[None, :, :]) ** 2).sum(-1)
        Q = 1 / (1 + D)
        np.fill_diagonal(Q, 0)
        Q /= Q.sum()
        m = P > 0
        return float((P[m] * np.log(P[m] / Q[m])).sum())

    from threadpoolctl import threadpool_limits

    ours = kl(tsne_2d(X))
    start = pca_2d(X)
    start = (start / start[:, 0].std() * 1e-4).astype(np.float32)
    with threadpool_limits(1):  # scikit-learn's OpenMP threads crawl on a busy machine
        theirs = kl(
            TSNE(init=start, random_state=0).fit_transform(_principal_scores(X, 50).astype(np.float32))
        )
    assert ours <= theirs * 1.03
