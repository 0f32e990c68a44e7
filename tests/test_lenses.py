"""Lenses against direct computations and scikit-learn."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from scipy.spatial.distance import cdist
from sklearn.decomposition import PCA
from sklearn.neighbors import NearestNeighbors

from topoact_lightning.engine.lenses import (
    align_basis,
    compute_lens,
    eccentricity,
    knn_distance,
    l2norm,
    pca_lens,
)


def data(n=300, d=12, seed=0):
    rng = np.random.default_rng(seed)
    return (rng.normal(size=(n, d)) * np.linspace(3, 0.1, d)).astype(np.float32)


def test_l2norm_and_eccentricity_match_direct_formulas():
    X = data()
    np.testing.assert_allclose(l2norm(X), np.linalg.norm(X.astype(np.float64), axis=1), rtol=1e-6)
    D = cdist(X.astype(np.float64), X.astype(np.float64))
    np.testing.assert_allclose(eccentricity(X), np.sqrt((D**2).mean(axis=1)), rtol=1e-4)
    assert l2norm(X).dtype == np.float32 and eccentricity(X).dtype == np.float32


@pytest.mark.parametrize("metric", ["euclidean", "cosine"])
def test_knn_distance_matches_scikit_learn(metric):
    X = data(200, 6, seed=1)
    k = 4
    nn = NearestNeighbors(n_neighbors=k + 1, metric=metric).fit(X.astype(np.float64))
    dist, _ = nn.kneighbors(X.astype(np.float64))
    np.testing.assert_allclose(knn_distance(X, k, metric), dist[:, k], rtol=1e-3, atol=1e-4)


def test_pca_lens_matches_scikit_learn_up_to_sign():
    X = data(500, 20, seed=2)
    lens, basis = pca_lens(X, 2)
    ref = PCA(2).fit(X.astype(np.float64))
    for i in range(2):
        cos = abs(float(basis[:, i] @ ref.components_[i]))
        assert cos == pytest.approx(1.0, abs=1e-4)
    proj = ref.transform(X.astype(np.float64))
    np.testing.assert_allclose(np.abs(lens), np.abs(proj), rtol=1e-3, atol=1e-3)


def test_wide_data_finds_the_principal_direction():
    # 200 x 1500: from the 200 x 200 Gram matrix (it was randomized subspace iteration before the lens shared
    # the projection panel's solver).
    rng = np.random.default_rng(3)
    direction = rng.normal(size=1500)
    direction /= np.linalg.norm(direction)
    X = (rng.normal(size=(200, 1)) * 10 * direction + rng.normal(size=(200, 1500)) * 0.1).astype(np.float32)
    lens, basis = pca_lens(X, 1)
    assert abs(float(basis[:, 0] @ direction)) > 0.99


@pytest.mark.parametrize(
    ("shape", "solver"),
    [
        ((300, 40), ("eigh", 40)),  # covariance, dense
        ((600, 300), ("eigsh", 300)),  # covariance, Lanczos
        ((120, 700), ("eigh", 120)),  # Gram, dense
        ((400, 900), ("eigsh", 400)),  # Gram, Lanczos
        ((1100, 1030), ("randomized_svd", 1100)),  # float32 only: exact=True takes the covariance
    ],
)
def test_every_pca_solver_finds_scikit_learns_directions_with_its_signs(shape, solver, monkeypatch):
    import scipy.linalg
    import scipy.sparse.linalg
    import sklearn.utils.extmath

    from topoact_lightning.engine import lenses

    used = []
    for module, name in [
        (scipy.linalg, "eigh"),
        (scipy.sparse.linalg, "eigsh"),
        (sklearn.utils.extmath, "randomized_svd"),
    ]:
        real = getattr(module, name)

        def spy(M, *args, _real=real, _name=name, **kwargs):
            used.append((_name, len(M)))
            return _real(M, *args, **kwargs)

        monkeypatch.setattr(module, name, spy)
    rng = np.random.default_rng(4)
    n, d = shape
    X = rng.normal(size=(n, d)) + (rng.normal(size=(n, 2)) * [4.0, 2.0]) @ rng.normal(size=(2, d))
    X = X.astype(np.float32)
    want = PCA(2, svd_solver="full").fit(X.astype(np.float64)).components_.T
    for exact in (False, True):
        used.clear()
        basis = lenses.principal_basis(X, 2, exact=exact)
        assert basis.dtype == (np.float64 if exact else np.float32) and basis.shape == (d, 2)
        # scikit-learn's full SVD flips each component so its largest loading is positive, as the engine does.
        randomized = solver[0] == "randomized_svd" and not exact
        np.testing.assert_allclose(basis, want, atol=2e-3 if randomized else 1e-5)
        assert used == [solver if not exact or solver[0] != "randomized_svd" else ("eigsh", d)]
    one = lenses.principal_basis(X[:1], 3)  # a single sample has no direction
    assert one.shape == (d, 3) and not one.any()


@given(
    basis=arrays(np.float64, (6, 2), elements=st.floats(-1, 1)),
    perm=st.permutations([0, 1]),
    signs=st.tuples(st.sampled_from([-1.0, 1.0]), st.sampled_from([-1.0, 1.0])),
)
@settings(max_examples=50)
def test_align_basis_undoes_signed_permutations(basis, perm, signs):
    q, _ = np.linalg.qr(basis)
    if np.linalg.matrix_rank(basis) < 2:
        return
    ref = q.astype(np.float32)
    shuffled = ref[:, list(perm)] * np.array(signs, dtype=np.float32)
    np.testing.assert_allclose(align_basis(shuffled, ref), ref, atol=1e-6)


def test_compute_lens_names():
    X = data(50, 4)
    for name in ("l2norm", "pca", "pca2", "knn_distance", "eccentricity"):
        values, basis = compute_lens(name, X)
        assert values.dtype == np.float32 and len(values) == 50
        assert (basis is not None) == name.startswith("pca")
    with pytest.raises(ValueError, match="unknown lens"):
        compute_lens("l1norm", X)
