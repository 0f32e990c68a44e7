"""Scale mode (neighbour pairs within k-means cells), the chunked automatic eps, and the progress bar."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.cluster import DBSCAN, AgglomerativeClustering

import topoact_lightning.engine.scale as scale
from topoact_lightning import Mapper, TopoActConfigError
from topoact_lightning.engine.compare import membership_ari
from topoact_lightning.engine.dbscan import dbscan
from topoact_lightning.engine.distances import Points
from topoact_lightning.engine.neighbors import auto_eps, chunked_kth_distance, kth_neighbor_distance
from topoact_lightning.engine.threads import run_parallel


def classes(n: int, d: int, seed: int) -> np.ndarray:
    """Class clusters, each a centre plus 6 factors plus noise, ReLU-clipped, float32."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 6, n)
    factors = rng.normal(size=(6, 6, d)) / np.sqrt(6)
    X = rng.normal(size=(6, d))[y] * 2 + np.einsum("nr,nrd->nd", rng.normal(size=(n, 6)), factors[y])
    return np.maximum(X + rng.normal(size=X.shape) * 0.1, 0).astype(np.float32)


@pytest.mark.parametrize("metric", ["euclidean", "cosine"])
def test_cells_visited_all_give_every_pair_once(metric, monkeypatch):
    # With every cell visited, every pair is compared: the labels are DBSCAN's on whole-row float32 distances,
    # so no pair was lost or counted twice by the rule that keeps each pair in one cell.
    X = classes(3000, 40, seed=1)
    X[:5] = 0  # zero rows: nobody's neighbours under cosine
    monkeypatch.setattr(scale, "CELL_POINTS", 150)
    monkeypatch.setattr(scale, "PROBES", 10**6)
    eps = auto_eps(X, 5, metric)
    got = scale.cell_dbscan(X, np.arange(len(X)), eps, 5, metric=metric)
    assert got.tolist() == dbscan(Points.unverified(X, metric), eps, 5).tolist()


def test_cell_labels_follow_the_order_of_the_rows_given():
    X = classes(2500, 32, seed=2)
    rng = np.random.default_rng(0)
    idx = np.sort(rng.choice(len(X), 2000, replace=False))
    eps = auto_eps(X[idx], 5)
    labels = scale.cell_dbscan(X, idx, eps, 5)
    exact = DBSCAN(eps=eps, min_samples=5).fit_predict(X[idx])
    from sklearn.metrics import adjusted_rand_score

    assert adjusted_rand_score(exact, labels) > 0.95


def test_scale_mode_graph_agrees_with_the_exact_graph(monkeypatch):
    import topoact_lightning.engine.elements as elements

    monkeypatch.setattr(elements, "SCALE_MIN_POINTS", 2000)
    X = classes(12_000, 48, seed=3)
    exact = Mapper(n_intervals=3, overlap=0.3).fit(X)
    cells = []
    real = elements.cell_dbscan
    monkeypatch.setattr(
        elements, "cell_dbscan", lambda X, idx, *a, **k: cells.append(len(idx)) or real(X, idx, *a, **k)
    )
    g = Mapper(n_intervals=3, overlap=0.3, scale=True, eps=exact.eps_).fit(X).graph_
    assert len(cells) >= 2 and min(cells) >= 2000  # the large elements went through the cells
    assert g.params["scale"] is True and exact.graph_.params["scale"] is False
    assert membership_ari(exact.graph_, g) >= 0.95


def test_scale_needs_dbscan():
    with pytest.raises(TopoActConfigError, match="scale=True applies to DBSCAN only"):
        Mapper(scale=True, clusterer=AgglomerativeClustering()).check_params()
    Mapper(
        scale=True, clusterer=DBSCAN(eps=0.5)
    ).check_params()  # a scikit-learn DBSCAN is run as the built-in


@given(
    n=st.integers(2, 400),
    d=st.integers(1, 40),
    k=st.integers(1, 6),
    offset=st.sampled_from([0.0, 50.0]),
    seed=st.integers(0, 10_000),
)
@settings(max_examples=40, deadline=None)
def test_chunked_kth_distance_is_the_blocked_one(n, d, k, offset, seed):
    # Chunks of a few rows (many merges, threads each with their own lists) give the values the one-block route
    # gives: the k-th nearest other row of every query, ties and duplicates included.
    rng = np.random.default_rng(seed)
    X = (rng.normal(size=(n, d)) + offset).astype(np.float32)
    X[: n // 5] = X[n // 5 : 2 * (n // 5)]  # duplicated rows: distance 0 ties
    q = np.sort(rng.choice(n, size=min(n, 30), replace=False))
    k = min(k, n - 1)
    got = chunked_kth_distance(X, k, q, n_threads=2, chunk=7)
    want = kth_neighbor_distance(Points.unverified(X), k, q)
    # Up to float32 rounding of |x|^2 + |y|^2 - 2 x.y (the two routes centre on different means): near zero that
    # is up to the square root of the rounding of |x|^2.
    centred = X - X.mean(axis=0)
    atol = np.sqrt(8 * d * 2.0**-24 * float(np.einsum("ij,ij->i", centred, centred).max()) * 4)
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=atol)


def test_auto_eps_reads_a_large_input_in_chunks(monkeypatch):
    import topoact_lightning.engine.neighbors as neighbors

    X = classes(3000, 24, seed=4)
    whole = auto_eps(X, 5)
    calls = []
    real = neighbors.chunked_kth_distance
    monkeypatch.setattr(neighbors, "LARGE", 1000)
    monkeypatch.setattr(neighbors, "chunked_kth_distance", lambda *a, **k: calls.append(1) or real(*a, **k))
    assert auto_eps(X, 5) == pytest.approx(whole, rel=1e-5) and calls


def test_progress_bar_is_off_by_default_and_counts_the_points_of_every_element(capsys):
    X = classes(1500, 8, seed=5)
    Mapper(n_intervals=4).fit(X)
    assert capsys.readouterr().err == ""
    m = Mapper(n_intervals=4, progress=True).fit(X)
    err = capsys.readouterr().err
    n_clustered = sum(int(np.sum((m.lens_ >= b[0, 0]) & (m.lens_ <= b[0, 1]))) for b in m.graph_.cover_bounds)
    assert "Mapper: 4 cover elements" in err and "100%" in err
    assert f"{n_clustered / 1000:.2f}k/{n_clustered / 1000:.2f}k" in err


def test_run_parallel_reports_each_piece_once_as_it_finishes():
    for threads in (1, 2):
        seen = []
        out = run_parallel(lambda k: k * 10, [3, 1, 2, 5], threads, size=lambda k: k, done=seen.append)
        assert out == [30, 10, 20, 50] and sorted(seen) == [1, 2, 3, 5]
