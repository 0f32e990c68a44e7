"""The Mapper estimator: identical graphs to KeplerMapper, parameters, lenses, modes and bad input."""

from __future__ import annotations

import kmapper
import numpy as np
import pytest
from sklearn.cluster import DBSCAN, AgglomerativeClustering

from topoact_lightning import Mapper, MapperGraph, TopoActConfigError
from topoact_lightning.engine.compare import membership_ari
from topoact_lightning.engine.neighbors import auto_eps


def activations(
    n: int, d: int, k: int = 6, seed: int = 0, spread: float = 1.0
) -> tuple[np.ndarray, np.ndarray]:
    """ReLU-clipped Gaussian class mixture, float32, like a layer's activations."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(k, d)) * 2.0
    y = rng.integers(0, k, n)
    X = centres[y] + rng.normal(size=(n, d)) * spread
    return np.maximum(X, 0).astype(np.float32), y


def kmapper_graph(lens: np.ndarray, X: np.ndarray, clusterer, n_cubes, perc_overlap):
    km = kmapper.KeplerMapper(verbose=0).map(
        lens.reshape(len(X), -1), X, clusterer=clusterer, cover=kmapper.Cover(n_cubes, perc_overlap)
    )
    nodes = {name: sorted(m) for name, m in km["nodes"].items()}
    edges = {frozenset((a, b)) for a, bs in km["links"].items() for b in bs}
    return nodes, edges


def ours_as_kmapper(g: MapperGraph):
    ids = g.node_ids
    nodes = {ids[i]: m.tolist() for i, m in enumerate(g.members)}
    edges = {frozenset((ids[a], ids[b])) for a, b in g.edges.tolist()}
    return nodes, edges


def _noisy():
    X, _ = activations(1500, 24, seed=1)
    rng = np.random.default_rng(5)
    noise = rng.uniform(0, X.max(), size=(300, 24)).astype(np.float32)
    return np.concatenate([X, noise])


CASES = {
    # name: (X, lens, n_cubes, perc_overlap, eps scale)
    "l2norm-skewed": lambda: (lambda X: (X, np.linalg.norm(X, axis=1), 30, 0.3, 1.0))(
        activations(2000, 32)[0]
    ),
    "pca-wide": lambda: (lambda X: (X, X @ np.linspace(-1, 1, 64, dtype=np.float32), 12, 0.5, 1.5))(
        activations(1200, 64, seed=2)[0]
    ),
    "noisy-lowdim": lambda: (lambda X: (X, X[:, 0] ** 3, 20, 0.25, 1.0))(_noisy()),
    "lens-2d": lambda: (lambda X: (X, np.stack([X[:, 0], X[:, 1] + X[:, 2]], axis=1), 5, 0.3, 1.0))(
        activations(1000, 8, seed=3)[0]
    ),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_identical_to_keplermapper(case):
    X, lens, n_cubes, overlap, scale = CASES[case]()
    lens = lens.astype(np.float32)
    clusterer = DBSCAN(eps=auto_eps(X, 5) * scale, min_samples=5)
    expected_nodes, expected_edges = kmapper_graph(lens, X, clusterer, n_cubes, overlap)
    g = (
        Mapper(lens=lens, cover="kmapper", n_intervals=n_cubes, overlap=overlap, clusterer=clusterer)
        .fit(X)
        .graph_
    )
    nodes, edges = ours_as_kmapper(g)
    assert len(expected_nodes) > 5
    assert nodes == expected_nodes
    assert edges == expected_edges
    # What KeplerMapper drops silently is recorded here.
    covered = set().union(*map(set, expected_nodes.values()))
    assert set(g.unassigned.tolist()) == set(range(len(X))) - covered
    assert g.params["n_unassigned"] == len(X) - len(covered)


def test_identical_to_keplermapper_with_cosine_and_another_clusterer():
    X, _ = activations(600, 16, seed=4)
    lens = np.linalg.norm(X, axis=1).astype(np.float32)
    for clusterer in (
        DBSCAN(eps=auto_eps(X, 4, "cosine"), min_samples=4, metric="cosine"),
        AgglomerativeClustering(n_clusters=3),
    ):
        expected = kmapper_graph(lens, X, clusterer, 8, 0.4)
        got = ours_as_kmapper(
            Mapper(lens=lens, cover="kmapper", n_intervals=8, overlap=0.4, clusterer=clusterer).fit(X).graph_
        )
        assert got == expected


def test_default_mapper_records_parameters_and_chosen_eps():
    X, y = activations(800, 20, seed=6)
    m = Mapper(n_intervals=8)
    assert m.fit(X, labels=y, extras={"correct": (y % 2).astype(float)}) is m
    g = m.graph_
    p = g.params
    assert p["lens"] == "l2norm" and p["cover"] == "uniform" and p["clusterer"] == "dbscan"
    assert p["eps_rule"] == "knee" and p["eps"] == pytest.approx(m.eps_) and m.eps_ > 0
    assert (
        p["n_intervals"] == 8 and p["overlap"] == 0.3 and p["min_samples"] == 5 and p["metric"] == "euclidean"
    )
    assert p["n_elements"] == 8 == len(g.cover_bounds)
    assert p["n_unassigned"] == len(g.unassigned)
    assert g.n_nodes > 0 and g.lens.dtype == np.float32
    np.testing.assert_allclose(g.lens, np.linalg.norm(X, axis=1), rtol=1e-5)
    assert g.labels.tolist() == y.tolist() and "correct" in g.extras
    # Round trip of what the callback logs.
    assert MapperGraph.from_bytes(g.to_bytes()) == g


def test_params_stored_as_given_and_repr():
    m = Mapper(lens="pca", overlap=0.5)
    assert m.get_params()["overlap"] == 0.5 and m.lens == "pca"
    assert repr(m) == "Mapper(lens='pca', overlap=0.5)"
    assert m.set_params(n_intervals=4).n_intervals == 4
    with pytest.raises(TopoActConfigError, match="no parameter"):
        m.set_params(bogus=1)


@pytest.mark.parametrize(
    ("params", "fix"),
    [
        ({"overlap": 1.0}, r"overlap must be a fraction in \[0, 1\)"),
        ({"overlap": -0.1}, "overlap"),
        ({"n_intervals": 0}, "n_intervals must be an integer >= 1"),
        ({"n_intervals": 2.5}, "n_intervals"),
        ({"lens": "l3norm"}, "unknown lens 'l3norm': use one of l2norm"),
        ({"cover": "cubical"}, "unknown cover 'cubical': use one of uniform"),
        ({"metric": "manhattan"}, "unknown metric 'manhattan'"),
        ({"clusterer": "hdbscan"}, "unknown clusterer"),
        ({"clusterer": object()}, "scikit-learn clusterer instance"),
        ({"eps": 0}, "eps must be 'auto' or a positive number"),
        ({"eps": "knee"}, "eps must be"),
        ({"min_samples": 0}, "min_samples must be an integer >= 1"),
        ({"lens_reference": np.ones(3)}, "lens_reference only applies"),
        ({"lens": "pca", "lens_reference": Mapper()}, "without a PCA basis"),
        ({"fast": "yes"}, "fast must be True or False"),
    ],
)
def test_check_params_names_the_fix(params, fix):
    m = Mapper(**params)  # constructing never fails: parameters are stored as given
    with pytest.raises(TopoActConfigError, match=fix):
        m.check_params()
    with pytest.raises(TopoActConfigError):
        m.fit(np.random.default_rng(0).normal(size=(20, 3)))


def test_bad_input_gets_clear_errors():
    X, _ = activations(50, 4)
    bad = X.copy()
    bad[3, 1] = np.nan
    with pytest.raises(ValueError, match="NaN or infinite values in 1 samples.*impute"):
        Mapper().fit(bad)
    bad[3, 1] = np.inf
    with pytest.raises(ValueError, match="NaN or infinite"):
        Mapper().fit(bad)
    with pytest.raises(ValueError, match="at least 2 samples"):
        Mapper().fit(np.zeros((0, 4)))
    with pytest.raises(ValueError, match="at least 2 samples"):
        Mapper().fit(np.ones((1, 4)))
    with pytest.raises(ValueError, match="2-D.*reshape"):
        Mapper().fit(np.ones((5, 2, 2)))
    with pytest.raises(ValueError, match="labels has shape \\(49,\\) for 50 samples"):
        Mapper().fit(X, labels=np.zeros(49, dtype=int))
    with pytest.raises(ValueError, match="extra 'loss' has shape \\(51,\\)"):
        Mapper().fit(X, extras={"loss": np.zeros(51)})
    with pytest.raises(ValueError, match="precomputed lens gave shape \\(10,\\) for 50 samples"):
        Mapper(lens=np.zeros(10)).fit(X)
    with pytest.raises(ValueError, match="callable lens has NaN"):
        Mapper(lens=lambda A: np.full(len(A), np.nan)).fit(X)
    with pytest.raises(TopoActConfigError, match="same width"):
        Mapper(lens="pca", lens_reference=np.ones((7, 1))).fit(X)


def test_constant_lens_gives_one_cover_element():
    X, _ = activations(300, 6, k=2, seed=8)
    for cover in ("uniform", "balanced", "kmapper"):
        g = Mapper(lens=np.full(len(X), 2.5), cover=cover, n_intervals=7).fit(X).graph_
        assert g.cover_bounds.tolist() == [[[2.5, 2.5]]]
        assert set(g.node_cover.tolist()) == {0}
        # The single element is clustered like DBSCAN on everything.
        expected = DBSCAN(eps=g.params["eps"], min_samples=5).fit_predict(X)
        assert g.n_nodes == expected.max() + 1


def test_two_points_and_duplicates():
    g = Mapper(min_samples=2, n_intervals=3).fit(np.array([[0.0, 1.0], [0.0, 1.0]])).graph_
    assert g.n_nodes == 1 and g.members[0].tolist() == [0, 1]
    g = Mapper(n_intervals=3).fit(np.array([[0.0, 1.0], [3.0, 1.0]])).graph_  # fewer points than min_samples
    assert g.n_nodes == 0 and g.unassigned.tolist() == [0, 1] and g.params["n_small_elements"] >= 1


@pytest.mark.parametrize("lens", ["l2norm", "pca", "pca2", "knn_distance", "eccentricity"])
def test_named_lenses_build_graphs(lens):
    X, y = activations(400, 10, seed=9)
    g = Mapper(lens=lens, n_intervals=5 if lens != "pca2" else [4, 3]).fit(X, labels=y).graph_
    dim = 2 if lens == "pca2" else 1
    assert g.cover_bounds.shape[1:] == (dim, 2) and g.params["lens_dim"] == dim
    assert len(g.cover_bounds) == (12 if dim == 2 else 5)
    assert g.n_nodes >= 3
    lens_vals = g.lens.astype(np.float64).reshape(len(X), -1)
    for node, m in enumerate(g.members):
        box = g.cover_bounds[g.node_cover[node]]
        assert np.all((lens_vals[m] >= box[:, 0]) & (lens_vals[m] <= box[:, 1]))


def test_pca_reference_keeps_the_lens_orientation():
    X, _ = activations(500, 12, seed=10)
    first = Mapper(lens="pca2", n_intervals=4).fit(X)
    assert first.reference_.shape == (12, 2)
    # Reordered features: the principal directions are the reference's, reordered the same way. Aligned to that
    # reference the lens is the same as before, whatever sign or order PCA picked.
    permuted = X[:, ::-1].copy()
    aligned = Mapper(lens="pca2", n_intervals=4, lens_reference=first.reference_[::-1]).fit(permuted)
    np.testing.assert_allclose(aligned.lens_, first.lens_, atol=1e-3)
    # A reference with the components swapped and one negated reorders and flips the lens accordingly.
    swapped = np.stack([-first.reference_[:, 1], first.reference_[:, 0]], axis=1)
    turned = Mapper(lens="pca2", n_intervals=4, lens_reference=swapped).fit(X)
    np.testing.assert_allclose(
        turned.lens_, np.stack([-first.lens_[:, 1], first.lens_[:, 0]], axis=1), atol=1e-3
    )
    # Passing the basis array or the fitted Mapper is the same.
    by_array = Mapper(lens="pca2", n_intervals=4, lens_reference=first.reference_).fit(X)
    by_mapper = Mapper(lens="pca2", n_intervals=4, lens_reference=first).fit(X)
    np.testing.assert_array_equal(by_array.lens_, by_mapper.lens_)
    np.testing.assert_allclose(by_mapper.lens_, first.lens_, atol=1e-4)


def test_pca_reference_undoes_a_sign_flip():
    X, _ = activations(400, 9, seed=11)
    first = Mapper(lens="pca").fit(X)
    # A reference pointing the other way flips the lens; a reference from the same data keeps it.
    flipped = Mapper(lens="pca", lens_reference=-first.reference_).fit(X)
    np.testing.assert_allclose(flipped.lens_, -first.lens_, atol=1e-5)
    same = Mapper(lens="pca", lens_reference=first).fit(X)
    np.testing.assert_allclose(same.lens_, first.lens_, atol=1e-5)


def test_fast_mode_is_close_to_exact():
    X, y = activations(1500, 128, seed=12, spread=0.7)
    lens = np.linalg.norm(X, axis=1)
    eps = auto_eps(X, 5)
    exact = Mapper(lens=lens, n_intervals=10, eps=eps).fit(X).graph_
    fast = Mapper(lens=lens, n_intervals=10, eps=eps, fast=True, n_components=32, n_jobs=2).fit(X).graph_
    assert fast.params["fast"] is True and fast.params["n_components"] == 32
    assert membership_ari(exact, fast) >= 0.9
    assert membership_ari(exact, exact) == 1.0


def low_rank_classes(n: int, seed: int) -> np.ndarray:
    """4 classes in 256 dimensions, each a centre plus 6 factors: what fast mode's reduction is for."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 4, n)
    centres = rng.normal(size=(4, 256)) * 2
    factors = rng.normal(size=(4, 6, 256))
    X = centres[y] + np.einsum("nr,nrd->nd", rng.normal(size=(n, 6)), factors[y]) * 0.5
    return np.maximum(X + rng.normal(size=X.shape) * 0.05, 0).astype(np.float32)


def test_fast_mode_reduces_large_elements():
    # Elements of about 2000 points, wider than 2 x n_components: the per-element PCA route is taken.
    X = low_rank_classes(3000, seed=15)
    lens = np.linalg.norm(X, axis=1)
    eps = auto_eps(X, 5)
    exact = Mapper(lens=lens, n_intervals=2, overlap=0.3, cover="balanced", eps=eps).fit(X).graph_
    fast = Mapper(
        lens=lens, n_intervals=2, overlap=0.3, cover="balanced", eps=eps, fast=True, n_components=16
    )
    g = fast.fit(X).graph_
    assert min(len(m) for m in cover_members(g)) >= 1000
    assert all(d < 256 for d in g.params["fast_dims"])  # the reduced route was taken in every element
    assert membership_ari(exact, g) >= 0.9


def test_fast_mode_computes_one_basis_per_pair_of_neighbouring_elements(monkeypatch):
    import topoact_lightning.engine.elements as elements_module

    calls = []
    real = elements_module.fast_basis

    def counting(S, *args, **kwargs):
        calls.append(len(S))
        return real(S, *args, **kwargs)

    monkeypatch.setattr(elements_module, "fast_basis", counting)
    X = low_rank_classes(6000, seed=4)
    lens = np.arange(6000, dtype=np.float32)  # 5 elements of 1500-1800 points: groups {0, 1}, {2, 3}, {4}
    g = Mapper(lens=lens, n_intervals=5, overlap=0.2, fast=True, n_components=16, n_jobs=2).fit(X).graph_
    assert len(calls) == 3 and all(n == 1000 for n in calls)
    assert len(g.params["fast_dims"]) == 5 and all(d < 256 for d in g.params["fast_dims"])


def cover_members(g):
    lens = g.lens.astype(np.float64)
    return [np.flatnonzero((lens >= b[0, 0]) & (lens <= b[0, 1])) for b in g.cover_bounds]


def test_points_lost_by_keplermapper_rounding_are_lost_identically():
    X = np.array([[0.0, 1.0], [1.0, 0.0], [0.5, 0.5]], dtype=np.float32)
    g = Mapper(
        lens=np.array([0.0, 1.0, 0.5]), cover="kmapper", n_intervals=3, overlap=0.0, min_samples=1
    ).fit(X)
    # KeplerMapper's cover loses the extreme lens values to rounding here; so does ours, and it is recorded.
    assert g.graph_.unassigned.tolist() == [0, 1] and g.graph_.params["n_unassigned"] == 2


def test_threads_and_torch_cpu_path_give_the_same_graph():
    pytest.importorskip("torch")
    X, _ = activations(700, 20, seed=13)
    base = Mapper(n_intervals=6).fit(X).graph_
    assert Mapper(n_intervals=6, n_jobs=2).fit(X).graph_ == base
    assert Mapper(n_intervals=6, device="cpu").fit(X).graph_ == base


def test_to_kmapper_renders_with_keplermapper(tmp_path):
    X, y = activations(300, 6, seed=14)
    g = Mapper(n_intervals=5).fit(X, labels=y).graph_
    out = tmp_path / "graph.html"
    kmapper.KeplerMapper(verbose=0).visualize(g.to_kmapper(), path_html=str(out), title="test")
    html = out.read_text()
    assert g.node_ids[0] in html and len(html) > 1000


def test_resolve_eps_is_the_eps_a_fit_uses_and_depends_on_eps_params_only():
    from topoact_lightning.engine.elements import EPS_PARAMS, resolve_eps

    X, _ = activations(1500, 16, seed=3)
    base = Mapper(n_intervals=8, eps_sample=500)
    eps, rule = resolve_eps(X, base.get_params())
    g = base.fit_graph(X)
    assert (g.params["eps"], g.params["eps_rule"]) == (pytest.approx(eps), rule) and rule == "knee"
    assert resolve_eps(X, Mapper(eps=0.7).get_params()) == (0.7, "given")
    assert resolve_eps(X, Mapper(clusterer=DBSCAN(eps=0.3)).get_params()) == (0.3, "given")
    with pytest.raises(ValueError, match="not a DBSCAN"):
        resolve_eps(X, Mapper(clusterer=AgglomerativeClustering()).get_params())
    # Parameters outside EPS_PARAMS leave it as it was; each of those tried here moves it.
    for other in ({"n_intervals": 13}, {"overlap": 0.5}, {"lens": "pca"}, {"cover": "balanced"}):
        assert set(other).isdisjoint(EPS_PARAMS)
        assert resolve_eps(X, base.set_params(**other).get_params()) == (eps, rule)
    for moved in ({"min_samples": 9}, {"metric": "cosine"}, {"eps_sample": 300}, {"random_state": 7}):
        assert set(moved) <= set(EPS_PARAMS)
        assert resolve_eps(X, Mapper(**{"n_intervals": 8, "eps_sample": 500, **moved}).get_params())[0] != eps
