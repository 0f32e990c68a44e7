"""The Mapper estimator: lens, cover, clustering per cover element, nerve -> :class:`MapperGraph`.

Example:
    >>> import numpy as np
    >>> from topoact_lightning import Mapper
    >>> rng = np.random.default_rng(0)
    >>> X = np.concatenate([rng.normal(0, 0.1, (100, 8)), rng.normal(3, 0.1, (100, 8))]).astype(np.float32)
    >>> mapper = Mapper(n_intervals=5, overlap=0.3).fit(X, labels=np.repeat([0, 1], 100))
    >>> graph = mapper.graph_
    >>> graph.metrics()["components"], graph.metrics()["purity"]
    (2.0, 1.0)
"""

from __future__ import annotations

import numbers
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

from topoact_lightning.engine.clustering import (
    METRICS,
    Points,
    auto_eps,
    available_cores,
    dbscan,
    fast_basis,
    native_dbscan_params,
    single_threaded_blas,
    unit_rows,
)
from topoact_lightning.engine.covers import COVERS, cover_elements
from topoact_lightning.engine.graph import MapperGraph, nerve_edges
from topoact_lightning.engine.lenses import LENSES, compute_lens
from topoact_lightning.errors import TopoActConfigError

LensSpec = str | Callable[[np.ndarray], np.ndarray] | np.ndarray


class Mapper:
    """Mapper graphs of point clouds (activation vectors), in the style of a scikit-learn estimator.

    Parameters are stored as given and checked by :meth:`check_params` (called by :meth:`fit`).

    Args:
        lens: ``"l2norm"`` (TopoAct's lens), ``"pca"``, ``"pca2"`` (two components, product cover),
            ``"knn_distance"``, ``"eccentricity"`` (see :mod:`topoact_lightning.engine.lenses`), a callable
            ``X -> (n,)`` or ``(n, d)`` array, or a precomputed ``(n,)`` / ``(n, d)`` array.
        n_intervals: cover elements per lens dimension (an int, or one per dimension).
        overlap: fraction shared by neighbouring cover elements, in ``[0, 1)`` (one value or one per dimension).
            For ``cover="kmapper"`` it is KeplerMapper's ``perc_overlap`` instead (see :mod:`.covers`).
        cover: ``"uniform"`` (equal lengths), ``"balanced"`` (equal point counts) or ``"kmapper"``
            (KeplerMapper's ``Cover(n_cubes=n_intervals, perc_overlap=overlap)``, bit for bit).
        clusterer: ``"dbscan"`` (built-in DBSCAN, identical to scikit-learn's, using ``eps``, ``min_samples``,
            ``metric``), or any scikit-learn clusterer instance (cloned for each cover element, run with
            ``fit_predict``; a plain ``sklearn.cluster.DBSCAN`` with a euclidean or cosine metric is run by the
            built-in DBSCAN with its own parameters, with identical results). Cover elements with fewer points than
            the clusterer's ``min_samples`` (or ``n_clusters`` / ``min_cluster_size``, else 2, as KeplerMapper
            does) get no node; their points are recorded as unassigned unless another element holds them.
        eps: DBSCAN radius, or ``"auto"``: the knee of the sorted distance-to-the-``(min_samples-1)``-th-neighbour
            curve over ``eps_sample`` random points of the whole data set, computed once per fit
            (:func:`topoact_lightning.engine.clustering.auto_eps`). The value used is in ``graph_.params["eps"]``.
        min_samples: DBSCAN ``min_samples`` (the point itself included).
        metric: ``"euclidean"`` or ``"cosine"`` for the built-in DBSCAN, the automatic eps and ``knn_distance``.
        lens_reference: for ``"pca"`` / ``"pca2"``: the previous epoch's fitted :class:`Mapper` or its
            :attr:`reference_` basis ``(D, k)``; the new principal directions are reordered and sign-flipped to
            agree with it, so the lens does not mirror from one epoch to the next.
        lens_k: ``k`` of the ``"knn_distance"`` lens.
        fast: approximate DBSCAN distances, float32 without the exact check at eps. In every cover element of at
            least 1000 points (when the layer is wider than ``2 * n_components``), dot products are taken on
            top principal directions shared by each pair of neighbouring cover elements (randomized subspace
            iteration on the covariance of 1000 of their points) while squared norms stay exact:
            ``|x-y|^2 ~ |Px-Py|^2 + w (|Qx|^2 + |Qy|^2)`` on centred rows, with the residual weight ``w <= 1``
            calibrated on 1000 of the element's points so that the estimate finds as many pairs within eps as
            exact distances do (neighbours share part of their residual)
            (:meth:`topoact_lightning.engine.clustering.Points.low_rank`). At least ``n_components`` directions are
            kept, rounded up to fill the padded width of the distance blocks (64 becomes 78); while the mean
            ``|Qx|^2`` exceeds 15% of ``eps^2`` the number is doubled, and past a third of the width the element
            keeps whole rows (``graph_.params["fast_dims"]`` records the dimension each element used). eps (given
            or automatic) is the same as in exact mode. On low-rank activation-like data at 50k x 512 fast mode
            is 10-12x faster than KeplerMapper (exact mode: about 5x) and agrees with the exact graph to an
            adjusted Rand index of 0.97; on full-rank noise it keeps whole rows and gains nothing over exact mode
            (BENCHMARKS.md). With other clusterers, elements are projected on their principal directions the same
            way before ``fit_predict``.
        n_components: least number of dimensions kept by ``fast`` (rounded up to fill the padded block width).
        n_jobs: threads clustering cover elements in parallel, largest elements first; None uses every core
            available to the process. While they run, numpy's BLAS is limited to one thread per call: on a busy
            machine multi-threaded BLAS calls waste most of their time waiting for each other, while whole
            elements in parallel keep every core busy.
        device: a torch device string (``"cuda"``, ``"cpu"``) for the built-in DBSCAN's distance blocks; None keeps
            them in numpy. torch is imported only when this is set.
        eps_sample: query points of the automatic eps rule.
        random_state: seed of the automatic eps sample and the PCA steps.

    Attributes (after :meth:`fit`):
        graph_: the :class:`~topoact_lightning.engine.graph.MapperGraph`; ``graph_.params`` records every parameter used,
            the chosen eps, and the counts ``n_elements``, ``n_empty_elements``, ``n_small_elements`` (too few points
            to cluster), ``n_noise`` (element memberships DBSCAN called noise) and ``n_unassigned`` (samples in no
            node).
        lens_: the lens values, float32 ``(n,)`` or ``(n, d)``.
        reference_: the PCA basis used by a ``"pca"`` / ``"pca2"`` lens (pass it as the next ``lens_reference``),
            else None.
        eps_: the DBSCAN eps used (None for other clusterers).
        timings_: seconds spent in ``lens``, ``cover``, ``cluster`` and ``nerve``.
    """

    def __init__(
        self,
        *,
        lens: LensSpec = "l2norm",
        n_intervals: int | Sequence[int] = 20,
        overlap: float | Sequence[float] = 0.3,
        cover: str = "uniform",
        clusterer: Any = "dbscan",
        eps: float | str = "auto",
        min_samples: int = 5,
        metric: str = "euclidean",
        lens_reference: Any = None,
        lens_k: int = 5,
        fast: bool = False,
        n_components: int = 64,
        n_jobs: int | None = None,
        device: str | None = None,
        eps_sample: int = 1000,
        random_state: int | None = 0,
    ) -> None:
        self.lens = lens
        self.n_intervals = n_intervals
        self.overlap = overlap
        self.cover = cover
        self.clusterer = clusterer
        self.eps = eps
        self.min_samples = min_samples
        self.metric = metric
        self.lens_reference = lens_reference
        self.lens_k = lens_k
        self.fast = fast
        self.n_components = n_components
        self.n_jobs = n_jobs
        self.device = device
        self.eps_sample = eps_sample
        self.random_state = random_state

    # ------------------------------------------------------------------------------------------ parameters
    def get_params(self, deep: bool = True) -> dict[str, Any]:
        """The constructor parameters, as given (scikit-learn convention)."""
        return {k: getattr(self, k) for k in _PARAM_NAMES}

    def set_params(self, **params: Any) -> Mapper:
        for k, v in params.items():
            if k not in _PARAM_NAMES:
                raise TopoActConfigError(
                    f"Mapper has no parameter {k!r}; valid ones: {', '.join(_PARAM_NAMES)}"
                )
            setattr(self, k, v)
        return self

    def __repr__(self) -> str:
        defaults = Mapper().get_params()
        changed = {k: v for k, v in self.get_params().items() if not _same(v, defaults[k])}
        args = ", ".join(f"{k}={_short_repr(v)}" for k, v in changed.items())
        return f"Mapper({args})"

    def check_params(self) -> None:
        """Raise :class:`~topoact_lightning.errors.TopoActConfigError` naming the fix for impossible parameters.

        Checks everything that does not need the data, so a training run can fail before it starts.
        """
        lens = self.lens
        if isinstance(lens, str):
            if lens not in LENSES:
                raise TopoActConfigError(
                    f"unknown lens {lens!r}: use one of {', '.join(LENSES)}, a callable X -> lens, or an array"
                )
        elif not callable(lens):
            arr = np.asarray(lens)
            if arr.dtype.kind not in "biuf" or arr.ndim not in (1, 2) or arr.size == 0:
                raise TopoActConfigError(
                    "lens must be a lens name, a callable, or a non-empty numeric array of shape (n,) or (n, d)"
                )
        for n in np.atleast_1d(np.asarray(self.n_intervals, dtype=object)).tolist():
            if not isinstance(n, numbers.Integral) or isinstance(n, bool) or n < 1:
                raise TopoActConfigError(
                    f"n_intervals must be an integer >= 1 (or one per lens dimension), got {n!r}"
                )
        for p in np.atleast_1d(np.asarray(self.overlap, dtype=object)).tolist():
            if not isinstance(p, numbers.Real) or isinstance(p, bool) or not 0 <= p < 1:
                raise TopoActConfigError(f"overlap must be a fraction in [0, 1) (for example 0.3), got {p!r}")
        if self.cover not in COVERS:
            raise TopoActConfigError(f"unknown cover {self.cover!r}: use one of {', '.join(COVERS)}")
        if isinstance(self.clusterer, str):
            if self.clusterer != "dbscan":
                raise TopoActConfigError(
                    f"unknown clusterer {self.clusterer!r}: use 'dbscan' or a scikit-learn clusterer instance"
                )
        elif not hasattr(self.clusterer, "fit_predict") or not hasattr(self.clusterer, "get_params"):
            raise TopoActConfigError(
                "clusterer must be 'dbscan' or a scikit-learn clusterer instance (with get_params and fit_predict)"
            )
        if self.metric not in METRICS:
            raise TopoActConfigError(f"unknown metric {self.metric!r}: use one of {', '.join(METRICS)}")
        if isinstance(self.eps, str):
            if self.eps != "auto":
                raise TopoActConfigError(f"eps must be 'auto' or a positive number, got {self.eps!r}")
        elif not isinstance(self.eps, numbers.Real) or isinstance(self.eps, bool) or not self.eps > 0:
            raise TopoActConfigError(f"eps must be 'auto' or a positive number, got {self.eps!r}")
        for name, low in (
            ("min_samples", 1),
            ("lens_k", 1),
            ("n_components", 1),
            ("eps_sample", 3),
        ):
            v = getattr(self, name)
            if not isinstance(v, numbers.Integral) or isinstance(v, bool) or v < low:
                raise TopoActConfigError(f"{name} must be an integer >= {low}, got {v!r}")
        if self.n_jobs is not None and (
            not isinstance(self.n_jobs, numbers.Integral) or isinstance(self.n_jobs, bool) or self.n_jobs < 1
        ):
            raise TopoActConfigError(
                f"n_jobs must be None (every core) or an integer >= 1, got {self.n_jobs!r}"
            )
        if not isinstance(self.fast, bool):
            raise TopoActConfigError(f"fast must be True or False, got {self.fast!r}")
        if self.device is not None and not isinstance(self.device, str):
            raise TopoActConfigError(
                f"device must be None or a torch device string such as 'cuda', got {self.device!r}"
            )
        ref = self.lens_reference
        if ref is not None:
            if not (isinstance(lens, str) and lens in ("pca", "pca2")):
                raise TopoActConfigError("lens_reference only applies to lens='pca' or 'pca2'; remove it")
            if isinstance(ref, Mapper):
                if getattr(ref, "reference_", None) is None:
                    raise TopoActConfigError(
                        "lens_reference is a Mapper without a PCA basis: pass a Mapper fitted with a PCA lens"
                    )
            elif np.asarray(ref).dtype.kind not in "iuf" or np.asarray(ref).ndim not in (1, 2):
                raise TopoActConfigError("lens_reference must be a fitted Mapper or a (D, k) basis array")

    # --------------------------------------------------------------------------------------------------- fit
    def fit(
        self,
        X: np.ndarray,
        labels: np.ndarray | None = None,
        extras: Mapping[str, np.ndarray] | None = None,
        class_names: Sequence[str] | None = None,
    ) -> Mapper:
        """Build the Mapper graph of ``X`` (``(n_samples, n_features)``); the result is :attr:`graph_`.

        Args:
            X: the point cloud; converted to float32. Needs at least 2 rows, all finite.
            labels: optional class index per sample (``-1`` unknown), stored in the graph.
            extras: optional per-sample values (name -> ``(n,)`` array), stored in the graph.
            class_names: optional name per class index.

        Raises:
            TopoActConfigError: impossible parameters (see :meth:`check_params`).
            ValueError: unusable data, with the fix in the message.
        """
        self.check_params()
        timings: dict[str, float] = {}
        t0 = time.perf_counter()
        X = _check_X(X)
        n = len(X)
        labels_arr, extras_arr = _check_side_data(n, labels, extras)

        lens_values, basis, lens_name = self._lens(X)
        t1 = time.perf_counter()
        timings["lens"] = t1 - t0

        bounds, elements = cover_elements(lens_values, self.cover, self.n_intervals, self.overlap)
        t2 = time.perf_counter()
        timings["cover"] = t2 - t1

        native = native_dbscan_params(self.clusterer) if not isinstance(self.clusterer, str) else None
        if self.clusterer == "dbscan":
            native = {"eps": self.eps, "min_samples": int(self.min_samples), "metric": self.metric}
        eps_used: float | None = None
        eps_rule = None
        dims: dict = {}
        if native is not None:
            min_points = native["min_samples"]
            metric = native["metric"]
            if native["eps"] == "auto":
                eps_used = auto_eps(
                    X,
                    min_points,
                    metric,
                    sample=int(self.eps_sample),
                    random_state=self.random_state,
                    n_threads=_n_threads(self.n_jobs),
                )
                eps_rule = "knee"
            else:
                eps_used = float(native["eps"])
                eps_rule = "given"
            run = _native_runner(X, eps_used, min_points, metric, self, elements, dims)
        else:
            min_points = _min_cluster_samples(self.clusterer)
            run = _estimator_runner(self.clusterer, X, self, elements)

        todo = [k for k, idx in enumerate(elements) if len(idx) >= min_points]
        results = _run_elements(run, elements, todo, _n_threads(self.n_jobs))
        t3 = time.perf_counter()
        timings["cluster"] = t3 - t2

        members: list[np.ndarray] = []
        node_cover: list[int] = []
        n_noise = 0
        for k, lab in zip(todo, results, strict=True):
            idx = elements[k]
            lab = np.asarray(lab)
            n_noise += int(np.sum(lab < 0))
            for c in np.unique(lab[lab >= 0]):
                members.append(idx[lab == c])
                node_cover.append(k)
        edges, inter = nerve_edges(members)
        timings["nerve"] = time.perf_counter() - t3

        covered = np.zeros(n, dtype=bool)
        if members:
            covered[np.concatenate(members)] = True
        params: dict[str, Any] = {
            "lens": lens_name,
            "lens_dim": 1 if lens_values.ndim == 1 else int(lens_values.shape[1]),
            "n_intervals": _jsonable(self.n_intervals),
            "overlap": _jsonable(self.overlap),
            "cover": self.cover,
            "clusterer": "dbscan" if isinstance(self.clusterer, str) else repr(self.clusterer),
            "eps": eps_used,
            "eps_rule": eps_rule,
            "min_samples": int(min_points),
            "metric": native["metric"] if native is not None else None,
            "fast": bool(self.fast),
            "n_components": int(self.n_components) if self.fast else None,
            # Fast mode: the dimension each clustered element was clustered in, in cover order.
            "fast_dims": [dims[k] for k in sorted(dims)] if self.fast and dims else None,
            "n_samples": n,
            "n_features": int(X.shape[1]),
            "n_elements": len(elements),
            "n_empty_elements": sum(1 for idx in elements if len(idx) == 0),
            "n_small_elements": sum(1 for idx in elements if 0 < len(idx) < min_points),
            "n_noise": n_noise,
            "n_unassigned": int(n - covered.sum()),
        }
        if lens_name == "knn_distance":
            params["lens_k"] = int(self.lens_k)
        self.graph_ = MapperGraph(
            n_samples=n,
            members=members,
            node_cover=np.asarray(node_cover, dtype=np.int64),
            cover_bounds=bounds,
            lens=lens_values,
            labels=labels_arr,
            class_names=class_names,
            extras=extras_arr,
            params=params,
            edges=edges,
            edge_intersection=inter,
        )
        self.lens_ = lens_values
        self.reference_ = basis
        self.eps_ = eps_used
        self.n_features_in_ = int(X.shape[1])
        self.timings_ = timings
        return self

    def fit_graph(self, X: np.ndarray, **kwargs: Any) -> MapperGraph:
        """``fit(X, **kwargs).graph_``."""
        return self.fit(X, **kwargs).graph_

    def _lens(self, X: np.ndarray) -> tuple[np.ndarray, np.ndarray | None, str]:
        n = len(X)
        lens = self.lens
        if isinstance(lens, str):
            ref = self.lens_reference
            if isinstance(ref, Mapper):
                ref = ref.reference_
            try:
                values, basis = compute_lens(
                    lens,
                    X,
                    metric=self.metric,
                    k=int(self.lens_k),
                    reference=ref,
                    random_state=self.random_state,
                )
            except ValueError as e:
                raise TopoActConfigError(str(e)) from e
            return values, basis, lens
        if callable(lens):
            values = np.asarray(lens(X))
            name = "callable"
        else:
            values = np.asarray(lens)
            name = "precomputed"
        if values.ndim == 2 and values.shape[1] == 1:
            values = values[:, 0]
        if values.ndim not in (1, 2) or len(values) != n or values.dtype.kind not in "biuf":
            raise ValueError(
                f"the {name} lens gave shape {values.shape} for {n} samples: it must be numeric, of shape (n,) or (n, d)"
            )
        values = values.astype(np.float32)
        if not np.isfinite(values).all():
            raise ValueError(f"the {name} lens has NaN or infinite values; give finite lens values")
        return values, None, name


_PARAM_NAMES = tuple(
    "lens n_intervals overlap cover clusterer eps min_samples metric lens_reference lens_k fast n_components "
    "n_jobs device eps_sample random_state".split()
)


def _n_threads(n_jobs: int | None) -> int:
    return available_cores() if n_jobs is None else int(n_jobs)


def _run_elements(run, elements: list[np.ndarray], todo: list[int], n_threads: int) -> list[np.ndarray]:
    """``run(k)`` for every ``k`` in ``todo`` (results in that order), on ``n_threads`` threads."""
    # Largest first, so that no thread is left with one big element at the end.
    by_size = sorted(todo, key=lambda k: -len(elements[k]))
    with single_threaded_blas():
        if n_threads > 1 and len(todo) > 1:
            # Imported here: the single-threaded graph process never needs it (with logging, 8 ms of its start-up).
            from concurrent.futures import ThreadPoolExecutor

            with ThreadPoolExecutor(max_workers=n_threads) as pool:
                out = dict(zip(by_size, pool.map(run, by_size), strict=True))
        else:
            out = {k: run(k) for k in by_size}
    return [out[k] for k in todo]


def _check_X(X: Any) -> np.ndarray:
    if hasattr(X, "detach"):  # a torch tensor
        X = X.detach().cpu().numpy()
    try:
        X = np.asarray(X, dtype=np.float32)
    except (TypeError, ValueError) as e:
        raise ValueError(f"X must be a numeric array of shape (n_samples, n_features): {e}") from e
    if X.ndim != 2:
        raise ValueError(
            f"X must be 2-D (n_samples, n_features), got shape {X.shape}; flatten each sample, e.g. X.reshape(len(X), -1)"
        )
    if len(X) < 2:
        raise ValueError(f"Mapper needs at least 2 samples, got {len(X)}; pass more samples")
    if X.shape[1] == 0:
        raise ValueError("X has no features (shape (n, 0))")
    if not np.isfinite(X).all():
        bad = int((~np.isfinite(X)).any(axis=1).sum())
        raise ValueError(
            f"X has NaN or infinite values in {bad} samples (or values beyond float32 range); drop or impute them first"
        )
    return np.ascontiguousarray(X)


def _check_side_data(
    n: int, labels: Any, extras: Mapping[str, Any] | None
) -> tuple[np.ndarray | None, dict[str, np.ndarray] | None]:
    labels_arr = None
    if labels is not None:
        if hasattr(labels, "detach"):
            labels = labels.detach().cpu().numpy()
        labels_arr = np.asarray(labels)
        if labels_arr.shape != (n,):
            raise ValueError(
                f"labels has shape {labels_arr.shape} for {n} samples; give one class index per sample"
            )
        if labels_arr.dtype.kind not in "biu":
            raise ValueError("labels must be integer class indices (-1 for unknown)")
    extras_arr = None
    if extras is not None:
        extras_arr = {}
        for name, v in extras.items():
            if hasattr(v, "detach"):
                v = v.detach().cpu().numpy()
            arr = np.asarray(v, dtype=np.float32)
            if arr.shape != (n,):
                raise ValueError(
                    f"extra {name!r} has shape {arr.shape} for {n} samples; give one value per sample"
                )
            extras_arr[str(name)] = arr
    return labels_arr, extras_arr


# Below this many points a cover element is cheaper to cluster in full dimension than to reduce first.
_FAST_MIN_POINTS = 1000
# Fast mode computes one basis for this many consecutive cover elements (neighbours along the lens), from a
# sample of their union: at 50k x 512 pairs cost 6-8% less CPU than one basis per element, with the same
# agreement with the exact graph (ARI 0.969 vs 0.968); triples lost agreement (0.967).
_ELEMENTS_PER_BASIS = 2
# Rows sampled per basis and per element's residual-weight calibration.
_FAST_SAMPLE = 1000


class _SharedBases:
    """Fast mode's principal directions, computed once per group of neighbouring cover elements, on demand.

    Thread-safe: the first thread that needs a group's basis computes it while the others wait for it.
    """

    def __init__(
        self, X: np.ndarray, elements: list[np.ndarray], metric: str, eps: float, mapper: Mapper
    ) -> None:
        self.X, self.elements, self.metric, self.eps, self.mapper = X, elements, metric, eps, mapper
        self._locks: dict[int, threading.Lock] = {}
        self._bases: dict[int, np.ndarray | None] = {}
        self._guard = threading.Lock()

    def get(self, element: int) -> np.ndarray | None:
        group = element // _ELEMENTS_PER_BASIS
        with self._guard:
            lock = self._locks.setdefault(group, threading.Lock())
        with lock:
            if group not in self._bases:
                self._bases[group] = self._compute(group)
            return self._bases[group]

    def _compute(self, group: int) -> np.ndarray | None:
        start = group * _ELEMENTS_PER_BASIS
        members = [
            idx for idx in self.elements[start : start + _ELEMENTS_PER_BASIS] if len(idx) >= _FAST_MIN_POINTS
        ]
        union = np.unique(np.concatenate(members))
        rng = np.random.default_rng(self.mapper.random_state)
        rows = np.sort(rng.choice(union, size=min(_FAST_SAMPLE, len(union)), replace=False))
        S = self.X[rows]  # a copy already: centred in place below
        if self.metric == "cosine":
            S = unit_rows(S)
        S -= S.mean(axis=0)
        return fast_basis(
            S, self.metric, int(self.mapper.n_components), eps=self.eps, random_state=self.mapper.random_state
        )


def _native_runner(
    X: np.ndarray,
    eps: float,
    min_samples: int,
    metric: str,
    mapper: Mapper,
    elements: list[np.ndarray],
    dims: dict[int, int],
):
    reduce = mapper.fast and X.shape[1] > 2 * mapper.n_components
    bases = _SharedBases(X, elements, metric, eps, mapper) if reduce else None

    def run(k: int) -> np.ndarray:
        idx = elements[k]
        Xe = X[idx]
        if bases is not None and len(idx) >= _FAST_MIN_POINTS:
            basis = bases.get(k)
            element = (
                Points.unverified(Xe, metric, device=mapper.device)
                if basis is None  # too much residual even with the most directions worth keeping
                else Points.low_rank(
                    Xe,
                    metric,
                    eps=eps,
                    sample=_FAST_SAMPLE,
                    random_state=mapper.random_state,
                    device=mapper.device,
                    basis=basis,
                )
            )
        elif mapper.fast:
            element = Points.unverified(Xe, metric, device=mapper.device)
        else:
            element = Points.exact(Xe, metric, device=mapper.device)
        dims[k] = int(element.work.shape[1])  # keyed per element: safe across threads
        return dbscan(element, eps, min_samples)

    return run


def _estimator_runner(clusterer: Any, X: np.ndarray, mapper: Mapper, elements: list[np.ndarray]):
    from sklearn.base import clone

    def run(k: int) -> np.ndarray:
        data = X[elements[k]]
        if mapper.fast:
            data = Points.low_rank(
                data, "euclidean", int(mapper.n_components), random_state=mapper.random_state
            ).work
        # A fresh clone per element: estimators are not thread-safe and must not carry state between elements.
        return np.asarray(clone(clusterer).fit_predict(data))

    return run


def _min_cluster_samples(clusterer: Any) -> int:
    """KeplerMapper's rule for the smallest cover element worth clustering."""
    params = clusterer.get_params()
    for name in ("n_clusters", "min_cluster_size", "min_samples"):
        v = params.get(name)
        if v and isinstance(v, int):
            return v
    return 2


def _jsonable(v: Any) -> Any:
    arr = np.asarray(v)
    return arr.item() if arr.ndim == 0 else arr.tolist()


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        return a is b
    try:
        return bool(a == b)
    except Exception:
        return a is b


def _short_repr(v: Any) -> str:
    if isinstance(v, np.ndarray):
        return f"<array {v.shape}>"
    return repr(v)
