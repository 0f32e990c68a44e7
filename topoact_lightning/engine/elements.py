"""Clustering Mapper's cover elements: each element's points go to DBSCAN (or another clusterer), in parallel.

:func:`cluster_elements` is the third step of :meth:`topoact_lightning.engine.mapper.Mapper.fit`: it chooses eps
(given, or the knee rule over the whole data set), runs the built-in DBSCAN (exact, or fast mode's low-rank
distances) or a scikit-learn clusterer on every element large enough to cluster, largest first, and returns one
node per cluster.

Example:
    >>> import numpy as np
    >>> X = np.array([[0.0], [0.1], [0.2], [5.0], [5.1], [5.2]], dtype=np.float32)
    >>> from topoact_lightning.engine.mapper import Mapper
    >>> found = cluster_elements(X, [np.arange(6)], Mapper(eps=0.5, min_samples=2, n_jobs=1).get_params())
    >>> [m.tolist() for m in found.members], found.node_cover.tolist()
    ([[0, 1, 2], [3, 4, 5]], [0, 0])
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from topoact_lightning.engine.dbscan import dbscan, native_dbscan_params
from topoact_lightning.engine.distances import Points, unit_rows
from topoact_lightning.engine.lowrank import Projection, fast_basis
from topoact_lightning.engine.neighbors import auto_eps
from topoact_lightning.engine.scale import cell_dbscan
from topoact_lightning.engine.screened import screened_dbscan
from topoact_lightning.engine.threads import n_threads, run_parallel

# Below this many points a cover element is cheaper to cluster in full dimension than to reduce first.
_FAST_MIN_POINTS = 1000
# Fast mode computes one basis for this many consecutive cover elements (neighbours along the lens), from a
# sample of their union: at 50k x 512 pairs cost 6-8% less CPU than one basis per element, with the same
# agreement with the exact graph (ARI 0.969 vs 0.968); triples lost agreement (0.967).
_ELEMENTS_PER_BASIS = 2
# Rows sampled per basis and per element's residual-weight calibration.
_FAST_SAMPLE = 1000
# Exact mode screens elements this wide (and at least _FAST_MIN_POINTS large) on this many directions (rounded up
# to fill the padded block width, 78): below, whole rows cost little more than the screen.
SCREENED_MIN_FEATURES = 240
#: Scale mode finds the neighbour pairs of elements this large within k-means cells (:mod:`.scale`).
SCALE_MIN_POINTS = 8192
SCREEN_COMPONENTS = 32
_SCREEN_SAMPLE = 500


@dataclass
class ElementClusters:
    """What clustering the cover elements found: one node per cluster, in cover order."""

    members: list[np.ndarray]
    node_cover: np.ndarray
    min_points: int
    n_noise: int
    eps: float | None = None
    eps_rule: str | None = None
    metric: str | None = None
    #: Fast mode: the dimension each clustered element was clustered in, keyed by element.
    dims: dict[int, int] = field(default_factory=dict)


#: The Mapper parameters DBSCAN's eps depends on besides the data (:func:`resolve_eps`): an eps worked out once
#: can be reused for any change of the others (intervals, overlap, lens, cover).
EPS_PARAMS = ("clusterer", "eps", "min_samples", "metric", "eps_sample", "random_state")


def _native_params(params: Mapping[str, Any]) -> dict[str, Any] | None:
    """``{"eps", "min_samples", "metric"}`` of the built-in DBSCAN the parameters ask for (``clusterer="dbscan"``,
    or a scikit-learn DBSCAN it reproduces); None for another clusterer."""
    clusterer = params["clusterer"]
    if isinstance(clusterer, str):
        if clusterer != "dbscan":
            return None
        return {"eps": params["eps"], "min_samples": int(params["min_samples"]), "metric": params["metric"]}
    return native_dbscan_params(clusterer)


def resolve_eps(X: np.ndarray, params: Mapping[str, Any]) -> tuple[float, str]:
    """DBSCAN's eps for ``X`` under a :class:`~topoact_lightning.engine.mapper.Mapper`'s ``params``, and how it
    was chosen: ``(eps, "given")``, or for ``eps="auto"`` the knee of the k-distance curve
    (:func:`~topoact_lightning.engine.neighbors.auto_eps`), ``(eps, "knee")``. Depends on ``X`` and the
    parameters :data:`EPS_PARAMS` only. ``ValueError`` when the clusterer is not a DBSCAN (it has no eps).

    Example:
        >>> from topoact_lightning.engine.mapper import Mapper
        >>> X = np.array([[0.0], [0.1], [0.2], [5.0], [5.1], [5.2]], dtype=np.float32)
        >>> resolve_eps(X, Mapper(eps=0.5).get_params())
        (0.5, 'given')
        >>> eps, rule = resolve_eps(X, Mapper(min_samples=2).get_params())  # each point's neighbour is 0.1 away
        >>> round(eps, 3), rule
        (0.1, 'knee')
    """
    native = _native_params(params)
    if native is None:
        raise ValueError(f"the clusterer {params['clusterer']!r} is not a DBSCAN: it has no eps")
    if native["eps"] != "auto":
        return float(native["eps"]), "given"
    eps = auto_eps(
        X,
        native["min_samples"],
        native["metric"],
        sample=int(params["eps_sample"]),
        random_state=params["random_state"],
        n_threads=n_threads(params["n_jobs"]),
    )
    return eps, "knee"


def cluster_elements(X: np.ndarray, elements: list[np.ndarray], params: Mapping[str, Any]) -> ElementClusters:
    """Cluster every cover element of ``X`` with enough points.

    ``params``: a :class:`~topoact_lightning.engine.mapper.Mapper`'s parameters (its ``get_params()``), checked.
    """
    clusterer, fast = params["clusterer"], params["fast"]
    random_state, n_components = params["random_state"], int(params["n_components"])
    threads = n_threads(params["n_jobs"])
    native = _native_params(params)
    found = ElementClusters(members=[], node_cover=np.zeros(0, dtype=np.int64), min_points=0, n_noise=0)
    if native is not None:
        found.min_points, found.metric = native["min_samples"], native["metric"]
        found.eps, found.eps_rule = resolve_eps(X, params)
        fast_options = {
            "n_components": n_components,
            "random_state": random_state,
            "device": params["device"],
            "scale": params["scale"],
        }
        run = _native_runner(X, elements, found, fast, fast_options)
    else:
        found.min_points = _min_cluster_samples(clusterer)
        run = _estimator_runner(clusterer, X, elements, fast, n_components, random_state)

    todo = [k for k, idx in enumerate(elements) if len(idx) >= found.min_points]
    with _progress_bar(params["progress"], todo, elements) as done:
        results = run_parallel(run, todo, threads, size=lambda k: len(elements[k]), done=done)
    node_cover = []
    for k, lab in zip(todo, results, strict=True):
        idx = elements[k]
        lab = np.asarray(lab)
        found.n_noise += int(np.sum(lab < 0))
        for c in np.unique(lab[lab >= 0]):
            found.members.append(idx[lab == c])
            node_cover.append(k)
    found.node_cover = np.asarray(node_cover, dtype=np.int64)
    return found


class _SharedProjections:
    """Fast mode's projections (:class:`~topoact_lightning.engine.lowrank.Projection`), one per group of
    neighbouring cover elements, computed on demand from a sample of their union.

    Thread-safe: the first thread that needs a group's projection computes it while the others wait for it.
    """

    def __init__(
        self,
        X: np.ndarray,
        elements: list[np.ndarray],
        metric: str,
        eps: float,
        n_components: int,
        seed: Any,
        *,
        screen: bool = False,
    ) -> None:
        self.X, self.elements, self.metric, self.eps = X, elements, metric, eps
        self.n_components, self.seed = n_components, seed
        # Exact mode's screen needs any good directions (they set how many pairs are checked, not the result):
        # a smaller sample and one product fewer than fast mode, whose distances are the directions'.
        self.screen = screen
        self.sample, self.n_iter = (_SCREEN_SAMPLE, 2) if screen else (_FAST_SAMPLE, 3)
        self._locks: dict[int, threading.Lock] = {}
        self._done: dict[int, Projection | None] = {}
        self._left = {}  # group -> elements of it not yet clustered: a group's rows are let go after its last
        for k, idx in enumerate(elements):
            if len(idx) >= _FAST_MIN_POINTS:
                self._left[k // _ELEMENTS_PER_BASIS] = self._left.get(k // _ELEMENTS_PER_BASIS, 0) + 1
        self._guard = threading.Lock()
        self._row_sq: np.ndarray | None = None

    def row_sq(self) -> np.ndarray:
        """``|x|^2`` of every row of X (float64), computed once."""
        with self._guard:
            if self._row_sq is None:
                self._row_sq = np.einsum("ij,ij->i", self.X, self.X, dtype=np.float64)
            return self._row_sq

    def get(self, element: int) -> Projection | None:
        group = element // _ELEMENTS_PER_BASIS
        with self._guard:
            lock = self._locks.setdefault(group, threading.Lock())
        with lock:
            if group not in self._done:
                self._done[group] = self._compute(group)
            return self._done[group]

    def release(self, element: int) -> None:
        """``element`` is clustered: its group's projection goes once every element of the group is."""
        group = element // _ELEMENTS_PER_BASIS
        with self._guard:
            self._left[group] -= 1
            if not self._left[group]:
                self._done[group] = None

    def _compute(self, group: int) -> Projection | None:
        start = group * _ELEMENTS_PER_BASIS
        members = [
            idx for idx in self.elements[start : start + _ELEMENTS_PER_BASIS] if len(idx) >= _FAST_MIN_POINTS
        ]
        union = np.unique(np.concatenate(members))
        rng = np.random.default_rng(self.seed)
        rows = np.sort(rng.choice(union, size=min(self.sample, len(union)), replace=False))
        S = self.X[rows]  # a copy already: centred in place below
        if self.metric == "cosine":
            S = unit_rows(S)
        S -= S.mean(axis=0)
        basis = fast_basis(
            S, self.metric, self.n_components, eps=self.eps, random_state=self.seed, n_iter=self.n_iter
        )
        if basis is None:  # too much residual even with the most directions worth keeping
            return None
        # The union's rows are projected once for every element of the group (they overlap by design). Fast
        # mode calibrates the residual weight per element (Projection.estimate); the screen's group weight only
        # orders its checks.
        return Projection.of(
            self.X, union, basis, self.metric, eps=self.eps, sample=rows if self.screen else None, rng=rng
        )


def _native_runner(
    X: np.ndarray, elements: list[np.ndarray], found: ElementClusters, fast: bool, options: dict[str, Any]
):
    eps, metric, min_samples, device = found.eps, found.metric, found.min_points, options["device"]
    if fast:
        reduce = X.shape[1] > 2 * options["n_components"]
        n_components = options["n_components"]
    else:
        # Exact mode screens wide elements on fast mode's default directions (:mod:`.screened`).
        reduce = metric == "euclidean" and device is None and X.shape[1] >= SCREENED_MIN_FEATURES
        n_components = SCREEN_COMPONENTS
    projections = (
        _SharedProjections(X, elements, metric, eps, n_components, options["random_state"], screen=not fast)
        if reduce
        else None
    )

    def run(k: int) -> np.ndarray:
        idx = elements[k]
        if options["scale"] and len(idx) >= SCALE_MIN_POINTS:
            found.dims[k] = int(X.shape[1])
            return cell_dbscan(X, idx, eps, min_samples, metric=metric, random_state=options["random_state"])
        projection = None
        if projections is not None and len(idx) >= _FAST_MIN_POINTS:
            projection = projections.get(k)
            if projection is not None and not fast:
                labels = screened_dbscan(X, idx, projection, eps, min_samples, row_sq=projections.row_sq())
                projections.release(k)
                return labels
            if projection is not None:
                coords, sq = projection.estimate(
                    idx, X, sample=_FAST_SAMPLE, random_state=options["random_state"]
                )
            projections.release(k)
        if projection is not None:
            element = Points(coords, sq, metric, device=device)
            element.sorted_by_pc1 = True
        elif fast:
            element = Points.unverified(X[idx], metric, device=device)
        else:
            # The element's rows are read from X where needed: no copy of them is kept beside the working rows.
            element = Points.exact(X, metric, device=device, rows=idx)
        found.dims[k] = int(element.work.shape[1])  # keyed per element: safe across threads
        return dbscan(element, eps, min_samples)

    return run


def _estimator_runner(
    clusterer: Any, X: np.ndarray, elements: list[np.ndarray], fast: bool, n_components: int, seed: Any
):
    from sklearn.base import clone

    def run(k: int) -> np.ndarray:
        data = X[elements[k]]
        if fast:
            data = Points.low_rank(data, "euclidean", n_components, random_state=seed).work
        # A fresh clone per element: estimators are not thread-safe and must not carry state between elements.
        return np.asarray(clone(clusterer).fit_predict(data))

    return run


@contextmanager
def _progress_bar(show: bool, todo: list[int], elements: list[np.ndarray]) -> Iterator[Any]:
    """A tqdm bar over the cover elements to cluster (None when ``show`` is false): the callback to call as each
    is done. Its total counts points (an element of 100,000 points is more work than one of 100)."""
    if not show:
        yield None
        return
    from tqdm.auto import tqdm

    total = sum(len(elements[k]) for k in todo)
    with tqdm(total=total, desc=f"Mapper: {len(todo)} cover elements", unit="pt", unit_scale=True) as bar:
        yield lambda k: bar.update(len(elements[k]))


def _min_cluster_samples(clusterer: Any) -> int:
    """KeplerMapper's rule for the smallest cover element worth clustering."""
    params = clusterer.get_params()
    for name in ("n_clusters", "min_cluster_size", "min_samples"):
        v = params.get(name)
        if v and isinstance(v, int):
            return v
    return 2
