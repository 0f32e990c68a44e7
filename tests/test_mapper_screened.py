"""Exact mode's screened route for wide cover elements: the same labels as scikit-learn, down to float32 rounding.

The route (:mod:`topoact_lightning.engine.screened`) rules pairs out on a few principal directions, then checks
whole-row distances only where they can change a label. Its two roundings are pinned by properties: the float32
screen value never exceeds :func:`screen_limit` of a pair's true squared distance (so no neighbour pair is ruled
out), and a float32 check differs from the float64 distance by less than its band (so decisions outside the band
are the float64 ones). The lazy checks are pinned against the labels of every pair.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.spatial.distance import pdist
from sklearn.cluster import DBSCAN

from topoact_lightning import Mapper
from topoact_lightning.engine.dbscan import dbscan, labels_from_pairs
from topoact_lightning.engine.distances import Points
from topoact_lightning.engine.lowrank import Projection, _top_directions, fast_basis
from topoact_lightning.engine.screened import _within, lazy_labels, screen_limit, screened_dbscan


def wide_classes(n: int, d: int, seed: int, offset: float = 0.0) -> np.ndarray:
    """Class clusters in d dimensions (each a centre plus 8 factors plus noise), ReLU-clipped, float32."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 5, n)
    factors = rng.normal(size=(5, 8, d)) / np.sqrt(8)
    X = rng.normal(size=(5, d))[y] * 1.5 + np.einsum("nr,nrd->nd", rng.normal(size=(n, 8)), factors[y])
    return (np.maximum(X + rng.normal(size=X.shape) * 0.2, 0) + offset).astype(np.float32)


def projection_of(X: np.ndarray, rows: np.ndarray, eps: float, n_components: int = 46) -> Projection:
    """The screen's projection on top principal directions of a sample (any directions keep it exact)."""
    sample = rows[:: max(len(rows) // 500, 1)]
    S = X[sample] - X[sample].mean(axis=0)
    basis = _top_directions(S, n_components, 0)[0]
    return Projection.of(X, rows, basis, "euclidean", eps=eps, sample=sample)


def screened_elements(monkeypatch) -> list[int]:
    """The sizes of the cover elements the screened route clusters from now on (a list filled as they run)."""
    import topoact_lightning.engine.elements as elements

    sizes: list[int] = []
    real = elements.screened_dbscan
    monkeypatch.setattr(
        elements, "screened_dbscan", lambda X, idx, *a, **k: sizes.append(len(idx)) or real(X, idx, *a, **k)
    )
    return sizes


def node_sets(graph) -> dict[str, list[int]]:
    ids = graph.node_ids
    return {ids[i]: m.tolist() for i, m in enumerate(graph.members)}


@given(
    seed=st.integers(0, 10_000),
    d=st.sampled_from([64, 300, 700]),
    k=st.sampled_from([14, 30, 78]),
    offset=st.sampled_from([0.0, 10.0, 1000.0]),
    scale=st.sampled_from([1e-3, 1.0, 1e3]),
)
@settings(max_examples=40, deadline=None)
def test_screen_values_never_exceed_the_limit_of_the_true_distance(seed, d, k, offset, scale):
    # Every pair's float32 screen value is at most screen_limit(its float64 squared distance): with thr >= that
    # distance no neighbour pair is ruled out, whatever the offset (cancellation) and scale of the rows.
    rng = np.random.default_rng(seed)
    X = ((rng.normal(size=(120, d)) * rng.uniform(0.1, 3, size=d) + offset) * scale).astype(np.float32)
    rows = np.arange(120)
    S = X - X.mean(axis=0)
    basis = fast_basis(S, n_components=k)
    if basis is None:  # too little data for k directions: take random orthonormal ones
        basis = np.linalg.qr(rng.normal(size=(d, k)))[0].astype(np.float32)
    proj = Projection.of(X, rows, basis, "euclidean", eps=1.0)
    P = proj.coords
    screen = Points(P, np.einsum("ij,ij->i", P, P, dtype=np.float64).astype(np.float32), "euclidean")
    values = screen.block(slice(0, 120), slice(0, 120)).astype(np.float64)
    X64 = X.astype(np.float64)
    true = ((X64[:, None, :] - X64[None, :, :]) ** 2).sum(-1)
    limit = screen_limit(
        true, proj.sq[:, None] + proj.sq[None, :], n_features=d, n_dims=basis.shape[1], sigma2=proj.sigma2
    )
    assert np.all(values <= limit)


@given(
    seed=st.integers(0, 10_000),
    d=st.sampled_from([8, 256, 2048]),
    offset=st.sampled_from([0.0, 100.0, 1e4]),
)
@settings(max_examples=40, deadline=None)
def test_float32_checks_outside_the_band_are_the_float64_decisions(seed, d, offset):
    # _within decides in float32 unless the value lies within (4 D + 40) 2^-24 (|x|^2 + |y|^2) of the threshold.
    # With the threshold at each pair's own float64 distance (the hardest case), every pair is either decided
    # right (it is within) or sent to float64, which decides it right.
    rng = np.random.default_rng(seed)
    rows = (rng.normal(size=(60, d)) + offset).astype(np.float32)
    norms = np.einsum("ij,ij->i", rows, rows, dtype=np.float64)
    a, b = np.triu_indices(60, 1)
    diff = rows[a].astype(np.float64) - rows[b]
    true = np.einsum("ij,ij->i", diff, diff)
    for thr in (true, true * (1 - 1e-9), true * (1 + 1e-9)):
        got = np.array(
            [_within(rows, norms, a[k : k + 1], b[k : k + 1], float(thr[k]))[0] for k in range(0, len(a), 37)]
        )
        assert got.tolist() == (true[::37] <= thr[::37]).tolist()


@given(
    n=st.integers(1, 40),
    density=st.floats(0.0, 0.5),
    extra=st.floats(0.0, 1.0),
    min_samples=st.integers(1, 6),
    seed=st.integers(0, 10_000),
)
@settings(max_examples=150, deadline=None)
def test_lazy_labels_are_the_labels_of_all_pairs(n, density, extra, min_samples, seed):
    # Random neighbour graphs, hidden among random extra candidates with random priorities: the lazily checked
    # labels are those computed from every neighbour pair, and no candidate is checked twice.
    rng = np.random.default_rng(seed)
    a, b = np.triu_indices(n, 1)
    near = rng.random(len(a)) < density
    candidate = near | (rng.random(len(a)) < extra * density)
    i, j, truth = a[candidate], b[candidate], near[candidate]
    order = rng.permutation(n)
    asked = []

    def check(k):
        asked.extend(k.tolist())
        return truth[k]

    got = lazy_labels(n, i, j, rng.random(len(i)) * 2, check, min_samples, order)
    counts = np.bincount(a[near], minlength=n) + np.bincount(b[near], minlength=n) + 1
    want = labels_from_pairs(n, a[near], b[near], counts >= min_samples, order)
    assert got.tolist() == want.tolist()
    assert len(asked) == len(set(asked))


def test_screened_labels_are_scikit_learns_across_eps():
    X = wide_classes(1500, 300, seed=1)
    rows = np.arange(len(X))
    D = np.sort(pdist(X[:400].astype(np.float64)))
    for q in (0.002, 0.01, 0.05, 0.2):
        eps = float(D[int(q * len(D))]) * (1 + 1e-9)  # just above an actual pair distance: a tie for float32
        proj = projection_of(X, rows, eps)
        expected = DBSCAN(eps=eps, min_samples=5).fit_predict(X.astype(np.float64))
        got = screened_dbscan(X, rows, proj, eps, 5)
        assert got.tolist() == expected.tolist()
        assert got.tolist() == dbscan(X, eps, 5).tolist()


def near_eps_pairs(n: int, d: int, eps: float, seed: int) -> np.ndarray:
    """Rows far from the origin (|x|^2 ~ 1e3^2 d), the first 200 in pairs placed at eps * (1 -+ 1e-8): within
    float32 rounding of eps (float32 products misjudge them: the margin is ~1e-6 of |x|^2 ~ 3e8)."""
    rng = np.random.default_rng(seed)
    # Low-rank spread (as activations have) plus a little noise: the screened route takes such elements.
    spread = rng.normal(size=(n, 8)) @ rng.normal(size=(8, d)) * 0.6 + rng.normal(size=(n, d)) * 0.05
    base = (1e3 + spread).astype(np.float32)
    for k in range(0, 200, 2):
        direction = rng.normal(size=d)
        direction /= np.linalg.norm(direction)
        factor = 1 - 1e-8 if k % 4 else 1 + 1e-8
        base[k + 1] = (base[k].astype(np.float64) + direction * eps * factor).astype(np.float32)
    X64 = base.astype(np.float64)
    gaps = [abs(np.linalg.norm(X64[k] - X64[k + 1]) - eps) for k in range(0, 200, 2)]
    assert max(gaps) < 1e-4
    return base


def test_pairs_at_eps_within_float32_error_are_decided_like_scikit_learn():
    eps = 4.0
    base = near_eps_pairs(1200, 256, eps, seed=7)
    expected = DBSCAN(eps=eps, min_samples=2).fit_predict(base.astype(np.float64))
    rows = np.arange(len(base))
    got = screened_dbscan(base, rows, projection_of(base, rows, eps), eps, 2)
    assert got.tolist() == expected.tolist()
    # The float32 route alone decides some of these pairs the other way: the recheck is what makes it exact.
    unverified = dbscan(Points.unverified(base), eps, 2)
    assert unverified.tolist() != expected.tolist()


@pytest.mark.parametrize("n_features", [256, 600])
def test_wide_exact_mapper_graph_is_keplermappers_and_the_one_stage_routes(n_features, monkeypatch):
    import kmapper

    import topoact_lightning.engine.elements as elements

    X = wide_classes(4000, n_features, seed=n_features)
    lens = np.linalg.norm(X, axis=1)
    eps = float(np.quantile(pdist(X[:500].astype(np.float64)), 0.01))
    clusterer = DBSCAN(eps=eps, min_samples=5)
    km = kmapper.KeplerMapper(verbose=0).map(
        lens[:, None], X, clusterer=clusterer, cover=kmapper.Cover(3, 0.3)
    )
    screened = screened_elements(monkeypatch)
    graph = Mapper(lens=lens, cover="kmapper", n_intervals=3, overlap=0.3, clusterer=clusterer, n_jobs=2).fit(
        X
    )
    assert len(screened) >= 2  # the large elements went through the screened route
    assert node_sets(graph.graph_) == {name: sorted(m) for name, m in km["nodes"].items()}
    monkeypatch.setattr(elements, "SCREENED_MIN_FEATURES", 10**9)
    one_stage = Mapper(lens=lens, cover="kmapper", n_intervals=3, overlap=0.3, clusterer=clusterer).fit(X)
    assert one_stage.graph_ == graph.graph_


def test_near_eps_pairs_give_keplermappers_graph_through_the_screened_route(monkeypatch):
    # The same construction in a Mapper fit whose two cover elements are large and wide enough for the screened
    # route: node for node the graph KeplerMapper (scikit-learn, float64) builds.
    import kmapper

    eps = 4.0
    X = near_eps_pairs(2600, 256, eps, seed=11)
    lens = np.arange(len(X), dtype=np.float64) % 7  # every element mixes the near pairs with the rest
    clusterer = DBSCAN(eps=eps, min_samples=2)
    screened = screened_elements(monkeypatch)
    graph = Mapper(lens=lens, cover="kmapper", n_intervals=2, overlap=0.3, clusterer=clusterer).fit(X).graph_
    assert len(screened) == 2
    km = kmapper.KeplerMapper(verbose=0).map(
        lens[:, None], X, clusterer=clusterer, cover=kmapper.Cover(2, 0.3)
    )
    assert node_sets(graph) == {name: sorted(m) for name, m in km["nodes"].items()}
    assert graph.n_nodes >= 30  # the pairs just within eps are nodes of their own (min_samples=2)
