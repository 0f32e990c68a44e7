"""The Mapper estimator: lens, cover, clustering per cover element, nerve -> :class:`MapperGraph`.

Example:
    >>> import numpy as np
    >>> from topoact_lightning import Mapper
    >>> rng = np.random.default_rng(0)
    >>> X = np.concatenate([rng.normal(0, 0.1, (100, 8)), rng.normal(3, 0.1, (100, 8))]).astype(np.float32)
    >>> mapper = Mapper(n_intervals=5, overlap=0.3, cover="balanced").fit(X, labels=np.repeat([0, 1], 100))
    >>> graph = mapper.graph_
    >>> graph.metrics()["components"], graph.metrics()["purity"]
    (2.0, 1.0)
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

import numpy as np

from topoact_lightning.engine.covers import cover_elements
from topoact_lightning.engine.dbscan import native_dbscan_params
from topoact_lightning.engine.elements import ElementClusters, cluster_elements
from topoact_lightning.engine.graph import MapperGraph, nerve_edges
from topoact_lightning.engine.lenses import compute_lens
from topoact_lightning.engine.params import (
    LENS_DIMS,
    PARAMETER_CONSTRAINTS,
    check_cover,
    check_extras,
    check_labels,
    check_lens_values,
    check_X,
    validate_params,
)
from topoact_lightning.errors import TopoActConfigError

LensSpec = str | Callable[[np.ndarray], np.ndarray] | np.ndarray


class Mapper:
    """Mapper graphs of point clouds (activation vectors), in the style of a scikit-learn estimator.

    Parameters are stored as given and checked by :meth:`check_params` (called by :meth:`fit`).

    Args:
        lens: ``"l2norm"`` (TopoAct's lens), ``"pca"``, ``"pca2"`` (two components, product cover),
            ``"knn_distance"``, ``"eccentricity"`` (see :mod:`topoact_lightning.engine.lenses`), a callable
            ``X -> (n,)`` or ``(n, d)`` array, or a precomputed ``(n,)`` / ``(n, d)`` array.
        n_intervals: cover elements per lens dimension (an int, or one per dimension). Their product over lens
            dimensions may be at most :data:`~topoact_lightning.engine.params.MAX_COVER_ELEMENTS` (100,000); a
            warning says when most cover elements hold no point.
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
            (:func:`topoact_lightning.engine.neighbors.auto_eps`). The value used is in ``graph_.params["eps"]``.
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
            (:meth:`topoact_lightning.engine.distances.Points.low_rank`). At least ``n_components`` directions are
            kept, rounded up to fill the padded width of the distance blocks (64 becomes 78); while the mean
            ``|Qx|^2`` exceeds 15% of ``eps^2`` the number is doubled, and past a third of the width the element
            keeps whole rows (``graph_.params["fast_dims"]`` records the dimension each element used). eps (given
            or automatic) is the same as in exact mode. On low-rank activation-like data fast mode is several
            times faster than exact mode at a small cost in agreement with the exact graph; on full-rank noise
            it keeps whole rows and gains nothing (measured figures: BENCHMARKS.md). With other clusterers,
            elements are projected on their principal directions the same way before ``fit_predict``.
        n_components: least number of dimensions kept by ``fast`` (rounded up to fill the padded block width).
        scale: for inputs of hundreds of thousands of samples and more (built-in DBSCAN): cover elements of at
            least 8,192 points find their neighbour pairs within k-means cells instead of comparing every pair
            (:mod:`topoact_lightning.engine.scale`): time and memory grow about linearly with the element, at a
            small cost in agreement with the exact graph (whole-row float32 distances; a neighbour pair is missed
            when neither point visits the other's cell). Smaller elements are clustered as ``fast`` says.
        progress: show a progress bar over the cover elements (tqdm) while they are clustered.
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
        scale: bool = False,
        progress: bool = False,
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
        self.scale = scale
        self.progress = progress
        self.n_jobs = n_jobs
        self.device = device
        self.eps_sample = eps_sample
        self.random_state = random_state

    # ------------------------------------------------------------------------------------------ parameters
    #: The forms each parameter may take: :data:`topoact_lightning.engine.params.PARAMETER_CONSTRAINTS`.
    _parameter_constraints = PARAMETER_CONSTRAINTS

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

        Checks everything that does not need the data, so a training run can fail before it starts: each
        parameter against :attr:`_parameter_constraints`, then the rules that tie parameters together.
        """
        validate_params(self.get_params())
        if self.scale and not (isinstance(self.clusterer, str) or native_dbscan_params(self.clusterer)):
            raise TopoActConfigError(
                "scale=True applies to DBSCAN only (clusterer='dbscan' or a scikit-learn DBSCAN); remove scale "
                f"or the clusterer {self.clusterer!r}"
            )
        ref = self.lens_reference
        if ref is not None:
            if self.lens not in ("pca", "pca2"):
                raise TopoActConfigError("lens_reference only applies to lens='pca' or 'pca2'; remove it")
            if isinstance(ref, Mapper) and getattr(ref, "reference_", None) is None:
                raise TopoActConfigError(
                    "lens_reference is a Mapper without a PCA basis: pass a Mapper fitted with a PCA lens"
                )
        check_cover(self.n_intervals, _static_lens_dim(self.lens), self.overlap)

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
            labels: optional class id per sample (``-1`` unknown; ids may be sparse or large), stored in the graph.
            extras: optional per-sample values (name -> ``(n,)`` array), stored in the graph.
            class_names: optional name per class id (then every id must be below ``len(class_names)``).

        Raises:
            TopoActConfigError: impossible parameters (see :meth:`check_params`).
            ValueError: unusable data, with the fix in the message.
        """
        self.check_params()
        X = check_X(X)
        labels_arr = check_labels(labels, len(X), class_names)
        extras_arr = check_extras(extras, len(X))
        return self._fit(X, labels_arr, extras_arr, class_names)

    def fit_graph(self, X: np.ndarray, **kwargs: Any) -> MapperGraph:
        """``fit(X, **kwargs).graph_``."""
        return self.fit(X, **kwargs).graph_

    def _fit(
        self,
        X: np.ndarray,
        labels: np.ndarray | None,
        extras: dict[str, np.ndarray] | None,
        class_names: Sequence[str] | None,
    ) -> Mapper:
        """The four steps of Mapper on checked data: lens, cover, clustering of every element, the nerve."""
        timings: dict[str, float] = {}
        with _timed(timings, "lens"):
            lens_values, basis, lens_name = self._lens(X)
        with _timed(timings, "cover"):
            bounds, elements = self._cover(lens_values)
        with _timed(timings, "cluster"):
            found = cluster_elements(X, elements, self.get_params())
        with _timed(timings, "nerve"):
            edges, inter = nerve_edges(found.members)
        self.graph_ = MapperGraph(
            n_samples=len(X),
            members=found.members,
            node_cover=found.node_cover,
            cover_bounds=bounds,
            lens=lens_values,
            labels=labels,
            class_names=class_names,
            extras=extras,
            params=_graph_params(self, X, lens_values, lens_name, elements, found),
            edges=edges,
            edge_intersection=inter,
        )
        self.lens_ = lens_values
        self.reference_ = basis
        self.eps_ = found.eps
        self.n_features_in_ = int(X.shape[1])
        self.timings_ = timings
        return self

    def _lens(self, X: np.ndarray) -> tuple[np.ndarray, np.ndarray | None, str]:
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
            return check_lens_values(lens(X), len(X), "callable"), None, "callable"
        return check_lens_values(lens, len(X), "precomputed"), None, "precomputed"

    def _cover(self, lens_values: np.ndarray) -> tuple[np.ndarray, list[np.ndarray]]:
        lens_dim = 1 if lens_values.ndim == 1 else int(lens_values.shape[1])
        check_cover(self.n_intervals, lens_dim, self.overlap)  # a callable lens's dimension is known now
        bounds, elements = cover_elements(lens_values, self.cover, self.n_intervals, self.overlap)
        n_empty = sum(1 for idx in elements if len(idx) == 0)
        if n_empty * 2 > len(elements):
            warnings.warn(
                f"{n_empty} of {len(elements)} cover elements hold no sample: the lens values are clumped, or "
                f"n_intervals={self.n_intervals!r} is too fine for {len(lens_values)} samples; lower n_intervals "
                "or use cover='balanced'",
                UserWarning,
                stacklevel=4,
            )
        return bounds, elements


def _graph_params(
    mapper: Mapper,
    X: np.ndarray,
    lens_values: np.ndarray,
    lens_name: str,
    elements: list[np.ndarray],
    found: ElementClusters,
) -> dict[str, Any]:
    """Every parameter the graph was built with, the automatic choices, and the counts of what was lost."""
    n = len(X)
    covered = np.zeros(n, dtype=bool)
    if found.members:
        covered[np.concatenate(found.members)] = True
    params: dict[str, Any] = {
        "lens": lens_name,
        "lens_dim": 1 if lens_values.ndim == 1 else int(lens_values.shape[1]),
        "n_intervals": _jsonable(mapper.n_intervals),
        "overlap": _jsonable(mapper.overlap),
        "cover": mapper.cover,
        "clusterer": "dbscan" if isinstance(mapper.clusterer, str) else repr(mapper.clusterer),
        "eps": found.eps,
        "eps_rule": found.eps_rule,
        "min_samples": int(found.min_points),
        "metric": found.metric,
        "fast": bool(mapper.fast),
        "n_components": int(mapper.n_components) if mapper.fast else None,
        "scale": bool(mapper.scale),
        # Fast mode: the dimension each clustered element was clustered in, in cover order.
        "fast_dims": [found.dims[k] for k in sorted(found.dims)] if mapper.fast and found.dims else None,
        "n_samples": n,
        "n_features": int(X.shape[1]),
        "n_elements": len(elements),
        "n_empty_elements": sum(1 for idx in elements if len(idx) == 0),
        "n_small_elements": sum(1 for idx in elements if 0 < len(idx) < found.min_points),
        "n_noise": found.n_noise,
        "n_unassigned": int(n - covered.sum()),
    }
    if lens_name == "knn_distance":
        params["lens_k"] = int(mapper.lens_k)
    return params


_PARAM_NAMES = (
    "lens",
    "n_intervals",
    "overlap",
    "cover",
    "clusterer",
    "eps",
    "min_samples",
    "metric",
    "lens_reference",
    "lens_k",
    "fast",
    "n_components",
    "scale",
    "progress",
    "n_jobs",
    "device",
    "eps_sample",
    "random_state",
)


@contextmanager
def _timed(timings: dict[str, float], step: str) -> Iterator[None]:
    start = time.perf_counter()
    yield
    timings[step] = time.perf_counter() - start


def _static_lens_dim(lens: Any) -> int | None:
    """The lens dimension known without the data (None for a callable lens)."""
    if isinstance(lens, str):
        return LENS_DIMS.get(lens)
    if callable(lens):
        return None
    arr = np.asarray(lens)
    return 1 if arr.ndim == 1 or (arr.ndim == 2 and arr.shape[1] == 1) else int(arr.shape[1])


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
