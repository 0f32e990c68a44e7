"""Reading TopoAct summaries through TensorBoard's data provider, with a cache of decoded graphs.

Everything goes through ``context.data_provider`` (list and read blob sequences, read blobs), so the plugin works
with both of TensorBoard's back ends: the Rust data server (default) and the Python event multiplexer
(``--load_fast=false``). The run/tag listing is read afresh on every request, so new epochs appear when
TensorBoard reloads its logdir; what is cached is keyed by what cannot change unseen: a series' blob keys by the
listing's (last step, wall time, length) of that series, decoded graphs and each step's annotations (read alone
by the findings route) by their blob key and wall time. Stored activation matrices are cached likewise, and
graphs re-mapped from them with a request's Mapper parameters (:meth:`GraphStore.remap`) by (graph key, parameters).

Failures are :mod:`tensorboard.errors` exceptions with a message for the user: ``NotFoundError`` (404) for an
unknown run, layer, epoch or sample *and* for a payload this version cannot read (corrupt, crafted, or written by a
newer topoact-lightning: the message says to upgrade). Logs are input the plugin did not write: whatever decoding a
graph, or deriving numbers from it, raises becomes that one epoch's ``NotFoundError`` (:func:`guarded`,
:meth:`GraphEntry.derive`), so one bad epoch never takes down a layer's other epochs. Every cache is a bounded LRU.

Example::

    store = GraphStore(context.data_provider)
    entry = store.graph(ctx, experiment_id, run="mnist", layer="fc1", epoch=3)
    entry.graph.n_nodes
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Hashable
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, TypeVar

import numpy as np
from tensorboard import errors
from tensorboard.data import provider

from topoact_lightning.engine.graph import CATEGORICAL_EXTRAS, MapperGraph
from topoact_lightning.engine.remap import FIXED_EPS
from topoact_lightning.logformat import summary
from topoact_tensorboard.cache import LRUCache
from topoact_tensorboard.eventfiles import EventFileBlobs, blob_key_location, needs_event_files
from topoact_tensorboard.payloads import json_number

T = TypeVar("T")
#: Mapper parameters of a request, sorted ``(name, value)`` pairs (:func:`arguments.mapper_args`).
MapperArgs = tuple[tuple[str, Any], ...]

#: Chart names of the means of the monitor's per-sample extras (the README's names).
EXTRA_METRIC_NAMES = {"correct": "accuracy", "loss": "mean_loss"}

#: Steps asked for when reading a blob sequence: more than any run has epochs, so nothing is downsampled away.
ALL_STEPS = 1_000_000
#: A graph whose class histograms (nodes x classes) would exceed this many cells is refused as unreadable: only a
#: crafted payload gets there, and building the histograms would exhaust memory.
MAX_HISTOGRAM_CELLS = 1 << 26


def guarded(where: str, compute: Callable[[], T]) -> T:
    """``compute()``, with any failure turned into a 404 saying that ``where`` is unreadable.

    Decoding a payload and deriving numbers from it run on data the plugin did not write (a crafted or damaged
    log): whatever they raise is that one graph's problem, reported with its reason, never a 500.

    Example:
        >>> guarded("graph 3", lambda: [][1])
        Traceback (most recent call last):
        ...
        tensorboard.errors.NotFoundError: Not found: graph 3 is unreadable: IndexError: list index out of range
    """
    try:
        return compute()
    except errors.PublicError:
        raise
    except Exception as e:  # anything a crafted payload makes numpy, zipfile or json raise
        raise errors.NotFoundError(_unreadable(where, e)) from e


def _unreadable(where: str, e: BaseException) -> str:
    reason = f"{type(e).__name__}: {e}"
    return f"{where} is unreadable: {reason if len(reason) <= 300 else reason[:300] + '...'}"


@dataclass(frozen=True)
class Unreadable:
    """A cached failure to read or derive something (a graph, annotations, activations, a projection): only its
    message, so that the payload and the frames that failed are freed. Whoever finds it raises ``NotFoundError``
    with the message."""

    message: str


@dataclass
class RunInfo:
    """What one run holds: its graph layers (layer name -> tag), whether it has thumbnails, unreadable tags."""

    layers: dict[str, str] = field(default_factory=dict)
    #: Layer -> its stored activations' tag (``store_activations``), for the layers that have them.
    activations: dict[str, str] = field(default_factory=dict)
    #: Layer -> its place among the watched layers (input side first), from the tag metadata.
    positions: dict[str, int] = field(default_factory=dict)
    thumbnails: bool = False
    problems: dict[str, str] = field(default_factory=dict)
    #: Per tag, what the listing says of its time series (last step, wall time, length): it changes whenever
    #: data is added, so it keys the cache of the series' contents.
    versions: dict[str, tuple] = field(default_factory=dict)


@dataclass(frozen=True)
class Epoch:
    step: int
    wall_time: float
    blob_keys: tuple[str, ...]


class GraphEntry:
    """A decoded graph and what the routes derive from it, each computed once."""

    def __init__(
        self,
        graph: MapperGraph,
        step: int,
        wall_time: float,
        key: Hashable = None,
        annotations: dict | None = None,
        where: str = "graph",
        remapped: bool = False,
    ) -> None:
        self.graph = graph
        #: Built by the plugin from stored activations with a request's Mapper parameters, not read from the logs.
        self.remapped = remapped
        #: Names this graph in messages: "graph of layer 'fc1' at epoch 3 in run 'mnist'".
        self.where = where
        #: What the monitor logged beside the graph (diagnostics, health problem); empty for version-1 logs.
        self.annotations = annotations or {}
        self.step = step
        self.wall_time = wall_time
        #: The cache key: identifies this exact payload (for caches of results derived from several graphs).
        self.key = key
        #: The graph route's response body, gzip-compressed JSON, filled in by the route on first use.
        self.gzipped_json: bytes | None = None

    @cached_property
    def metrics(self) -> dict[str, float | None]:
        """The chart's numbers for this epoch, named as the README names them: the graph metrics,
        ``unassigned``, the monitor's ``dead_units`` and ``effective_rank``, ``accuracy`` and ``mean_loss`` (from
        the per-sample extras), and ``mean_<name>`` of any other numeric extra. Class-index extras
        (``prediction``) have no meaningful mean and are left out."""
        out: dict[str, float | None] = {k: json_number(v) for k, v in self.graph.metrics().items()}
        out["unassigned"] = float(len(self.graph.unassigned))
        diagnostics = self.annotations.get("diagnostics")
        if isinstance(diagnostics, dict):
            for name in ("dead_units", "effective_rank"):
                value = diagnostics.get(name)
                if isinstance(value, (int, float)) and not isinstance(value, bool):
                    out[name] = json_number(float(value))
        for name, values in self.graph.extras.items():
            if name in CATEGORICAL_EXTRAS:
                continue
            finite = values[np.isfinite(values)]
            out[EXTRA_METRIC_NAMES.get(name, f"mean_{name}")] = (
                json_number(finite.mean()) if len(finite) else None
            )
        return out

    @property
    def problem(self) -> str | None:
        """The monitor's health warning for this layer at this epoch, if any."""
        problem = self.annotations.get("problem")
        return problem if isinstance(problem, str) and problem else None

    @cached_property
    def sample_index(self) -> tuple[np.ndarray, np.ndarray]:
        """Sample -> nodes as CSR arrays ``(indptr, nodes)``, computed once per cached graph (the engine's
        :meth:`MapperGraph.sample_index`)."""
        return self.graph.sample_index()

    def derive(self, compute: Callable[[], T]) -> T:
        """``compute()`` on this graph, any failure a 404 naming this graph (see :func:`guarded`)."""
        return guarded(self.where, compute)

    def nodes_of(self, sample: int) -> list[int]:
        if sample >= self.graph.n_samples:
            return []
        indptr, nodes = self.sample_index
        return nodes[indptr[sample] : indptr[sample + 1]].tolist()


class GraphStore:
    """Reads TopoAct data for the plugin's routes; see the module docstring.

    Args:
        data_provider: TensorBoard's ``DataProvider``.
        cache_size: decoded graphs kept in memory.
        remap_cache_size: re-mapped graphs (see :meth:`load`'s ``params``) kept in memory.
        logdir: TensorBoard's ``--logdir``, for runs whose blobs the Rust data server cannot read.
        listing_seconds: how long one listing of the runs answers (0: list on every call).
        clock: seconds of a monotonic clock, for the listing's time windows (tests pass a stepped one).
    """

    def __init__(
        self,
        data_provider,
        cache_size: int = 128,
        logdir: str | None = None,
        remap_cache_size: int = 32,
        listing_seconds: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.data_provider = data_provider
        self.listing_seconds = listing_seconds
        self.clock = clock
        #: The local log directory, if any: where :mod:`eventfiles` reads what the Rust data server cannot serve.
        self.logdir = logdir if logdir and os.path.isdir(logdir) else None
        self.event_file_blobs = EventFileBlobs()
        self.graphs = LRUCache(cache_size)
        self.thumbnail_arrays = LRUCache(8)
        #: Each graph step's annotations (blob 1), keyed like :attr:`graphs`: the findings route reads every step's
        #: annotations, and decoding every graph for that would be slow and evict the graphs being viewed.
        self.annotation_dicts = LRUCache(4096)
        # On the Rust data server a gRPC call that follows another within ~40 ms waits ~40 ms for its answer
        # (the first of a burst takes 1-2 ms), however small: reread a series only when its listing changed, and
        # keep each listing for `listing_seconds`, so a burst of requests (graph, metrics, prefetch, projection)
        # lists once. TensorBoard reloads the logs every 5 s by default; a listing a second old is no staler.
        self.series_cache = LRUCache(256)
        self.listings = LRUCache(16)
        #: Decoded stored activation matrices (each up to a few MB), and graphs re-mapped from them with a
        #: request's Mapper parameters, keyed by (graph key, parameters).
        self.activation_arrays = LRUCache(8)
        self.remapped = LRUCache(remap_cache_size)
        #: Automatic eps values of stored matrices (:meth:`knee_eps`): floats, so many can be kept.
        self.knee_eps_values = LRUCache(1024)

    # ------------------------------------------------------------------------------------------- listings
    def runs(self, ctx, experiment_id: str) -> dict[str, RunInfo]:
        """The runs with TopoAct data and what each holds, listed at most once per ``listing_seconds``."""
        if self.listing_seconds <= 0:
            return self._list_runs(ctx, experiment_id)
        window = int(self.clock() / self.listing_seconds)
        return self.listings.get_or_create(
            (experiment_id, window), lambda: self._list_runs(ctx, experiment_id)
        )

    def _list_runs(self, ctx, experiment_id: str) -> dict[str, RunInfo]:
        listing = self.data_provider.list_blob_sequences(
            ctx, experiment_id=experiment_id, plugin_name=summary.PLUGIN_NAME
        )
        out: dict[str, RunInfo] = {}
        for run, tags in listing.items():
            info = RunInfo()
            for tag, series in tags.items():
                info.versions[tag] = (series.max_step, series.max_wall_time, series.max_length)
                try:
                    meta = summary.decode_metadata(series.plugin_content)
                except summary.SummaryFormatError as e:
                    info.problems[tag] = str(e)
                    continue
                if meta.kind == summary.KIND_GRAPH and tag.startswith(summary.GRAPH_TAG_PREFIX):
                    layer = meta.layer_of(tag)
                    info.layers[layer] = tag
                    if meta.position is not None:
                        info.positions[layer] = meta.position
                elif meta.kind == summary.KIND_ACTIVATIONS and tag.startswith(summary.ACTIVATIONS_TAG_PREFIX):
                    info.activations[meta.layer_of(tag)] = tag
                elif meta.kind == summary.KIND_THUMBNAILS and tag == summary.THUMBNAILS_TAG:
                    info.thumbnails = True
            if info.layers or info.thumbnails or info.problems:
                out[run] = info
        return out

    def run(self, ctx, experiment_id: str, run: str) -> RunInfo:
        runs = self.runs(ctx, experiment_id)
        if run not in runs:
            known = ", ".join(repr(r) for r in sorted(runs)) or "none"
            raise errors.NotFoundError(f"no TopoAct data for run {run!r} (runs with TopoAct data: {known})")
        return runs[run]

    def layer_tag(self, ctx, experiment_id: str, run: str, layer: str) -> tuple[str, tuple]:
        """The layer's tag and its listing version."""
        info = self.run(ctx, experiment_id, run)
        if layer in info.layers:
            tag = info.layers[layer]
            return tag, info.versions[tag]
        # An unreadable tag has no metadata to name its layer: try the tag of today's writers and of older ones.
        for tag in (summary.graph_tag(layer), summary.GRAPH_TAG_PREFIX + layer):
            if tag in info.problems:
                raise errors.NotFoundError(
                    f"layer {layer!r} of run {run!r} is unreadable: {info.problems[tag]}"
                )
        known = ", ".join(repr(x) for x in sorted(info.layers)) or "none"
        raise errors.NotFoundError(f"run {run!r} has no TopoAct graphs of layer {layer!r} (layers: {known})")

    def _series(
        self, ctx, experiment_id: str, run: str, tag: str, version: tuple | None = None
    ) -> list[Epoch]:
        if version is None:
            return self._read_series(ctx, experiment_id, run, tag)
        key = (experiment_id, run, tag, version)
        return self.series_cache.get_or_create(key, lambda: self._read_series(ctx, experiment_id, run, tag))

    def _read_series(self, ctx, experiment_id: str, run: str, tag: str) -> list[Epoch]:
        data = self.data_provider.read_blob_sequences(
            ctx,
            experiment_id=experiment_id,
            plugin_name=summary.PLUGIN_NAME,
            downsample=ALL_STEPS,
            run_tag_filter=provider.RunTagFilter(runs=[run], tags=[tag]),
        )
        by_step: dict[int, Epoch] = {}
        for datum in data.get(run, {}).get(tag, []):
            # A step written twice (a resumed run) shows its latest version.
            by_step[int(datum.step)] = Epoch(
                step=int(datum.step),
                wall_time=float(datum.wall_time),
                blob_keys=tuple(ref.blob_key for ref in datum.values),
            )
        return [by_step[s] for s in sorted(by_step)]

    def epochs(self, ctx, experiment_id: str, run: str, layer: str) -> list[Epoch]:
        tag, version = self.layer_tag(ctx, experiment_id, run, layer)
        return self._series(ctx, experiment_id, run, tag, version)

    # ---------------------------------------------------------------------------------------------- graphs
    def graph(
        self, ctx, experiment_id: str, run: str, layer: str, epoch: int, params: MapperArgs = ()
    ) -> GraphEntry:
        epochs = self.epochs(ctx, experiment_id, run, layer)
        for e in epochs:
            if e.step == epoch:
                return self.load(ctx, experiment_id, run, layer, e, params)
        raise errors.NotFoundError(
            f"no graph of layer {layer!r} at epoch {epoch} in run {run!r} (epochs: {_span([e.step for e in epochs])})"
        )

    def load(
        self, ctx, experiment_id: str, run: str, layer: str, epoch: Epoch, params: MapperArgs = ()
    ) -> GraphEntry:
        """The decoded graph of one listed epoch, from the cache when possible; with ``params`` (Mapper
        parameters, sorted ``(name, value)`` pairs) the graph re-mapped from its stored activations instead
        (:meth:`remap`).

        Raises ``NotFoundError`` with the reason when the epoch is unreadable; the failure is cached like a
        graph (a broken epoch is not decoded again on every metrics request).
        """
        if params:
            return self.remap(ctx, experiment_id, run, layer, epoch, params)
        where = f"graph of layer {layer!r} at epoch {epoch.step} in run {run!r}"
        if len(epoch.blob_keys) not in (1, 2):
            raise errors.NotFoundError(
                f"{where} is unreadable: expected 1 or 2 blobs, found {len(epoch.blob_keys)}"
            )
        blob_key = epoch.blob_keys[0]

        def decode() -> GraphEntry | Unreadable:
            data = self._read_blob(ctx, run, blob_key, where)
            try:
                graph = _checked(MapperGraph.from_bytes(data))
            except Exception as e:  # anything a crafted payload makes numpy, zipfile or json raise
                return Unreadable(_unreadable(where, e))
            try:
                annotations = self.annotations(ctx, experiment_id, run, layer, epoch)
            except errors.NotFoundError:
                annotations = {}  # the graph itself is fine: show it without the monitor's notes
            return GraphEntry(graph, epoch.step, epoch.wall_time, key, annotations, where)

        # The wall time is part of the key so that a run rewritten in place (same step, same key) is reread.
        key = (experiment_id, run, layer, epoch.step, epoch.wall_time, blob_key)
        entry = self.graphs.get_or_create(key, decode)
        if isinstance(entry, Unreadable):
            raise errors.NotFoundError(entry.message)
        return entry

    def annotations(self, ctx, experiment_id: str, run: str, layer: str, epoch: Epoch) -> dict:
        """The annotations blob of one listed epoch (``{}`` for a version-1 step with the graph blob alone), without
        decoding the graph; cached. Raises ``NotFoundError`` with the reason when the blob is unreadable or not a
        JSON object."""
        where = f"annotations of layer {layer!r} at epoch {epoch.step} in run {run!r}"
        if len(epoch.blob_keys) != 2:
            return {}
        blob_key = epoch.blob_keys[1]

        def decode() -> dict | Unreadable:
            try:
                return summary.decode_annotations(self._read_blob(ctx, run, blob_key, where))
            except summary.SummaryFormatError as e:
                return Unreadable(f"{where} are unreadable: {e}")
            except errors.NotFoundError as e:
                return Unreadable(str(e))
            except (
                Exception
            ) as e:  # what a crafted blob makes json raise besides a decode error (RecursionError)
                return Unreadable(_unreadable(where, e))

        key = (experiment_id, run, layer, epoch.step, epoch.wall_time, blob_key)
        value = self.annotation_dicts.get_or_create(key, decode)
        if isinstance(value, Unreadable):
            raise errors.NotFoundError(value.message)
        return value

    def _read_blob(self, ctx, run: str, blob_key: str, where: str) -> bytes:
        """``read_blob``, its failures a 404 naming ``where``. For a run whose name the Rust data server cannot
        put in a blob key, the blob is read from the run's event files instead (:mod:`eventfiles`)."""
        try:
            return self.data_provider.read_blob(ctx, blob_key=blob_key)
        except errors.PublicError as e:
            failure = e
        location = blob_key_location(blob_key) if needs_event_files(run) and self.logdir else None
        if location is not None and location[1] == run:
            try:
                return self.event_file_blobs.read(self.logdir, run, *location[2:])
            except Exception as e:  # a damaged or vanishing event file: the blob stays unreadable, with why
                failure = e
        hint = ""
        if needs_event_files(run):
            hint = (
                " (TensorBoard's default Rust data server cannot read blobs of a run whose name holds a quote, "
                "a backslash or a control character: rename the run's directory, or start tensorboard with "
                "--load_fast=false)"
            )
        raise errors.NotFoundError(f"{where} is unreadable: {failure}{hint}") from failure

    def all_graphs(
        self, ctx, experiment_id: str, run: str, layer: str, params: MapperArgs = ()
    ) -> list[tuple[Epoch, GraphEntry | None, str | None]]:
        """Every epoch of a layer with its graph, or None and the reason when that epoch is unreadable."""
        out = []
        for e in self.epochs(ctx, experiment_id, run, layer):
            try:
                out.append((e, self.load(ctx, experiment_id, run, layer, e, params), None))
            except errors.NotFoundError as err:
                out.append((e, None, str(err)))
        return out

    # ---------------------------------------------------------------------------------------- re-mapping
    def activation_epochs(
        self, ctx, experiment_id: str, run: str, layer: str, purpose: str = "its graphs cannot be re-mapped"
    ) -> tuple[str, list[Epoch]]:
        """The tag of ``layer``'s stored activations and its steps; ``NotFoundError`` saying why (and that
        ``purpose`` needs them) when there are none."""
        info = self.run(ctx, experiment_id, run)
        tag = info.activations.get(layer)
        if tag is None:
            tag = summary.activations_tag(layer)
            if tag in info.problems:
                raise errors.NotFoundError(
                    f"stored activations of layer {layer!r} in run {run!r} are unreadable: {info.problems[tag]}"
                )
            raise errors.NotFoundError(
                f"run {run!r} has no stored activations of layer {layer!r}, so {purpose} "
                "(train with TopoActMonitor(store_activations=...) allowing it)"
            )
        return tag, self._series(ctx, experiment_id, run, tag, info.versions[tag])

    def activation_step(
        self,
        ctx,
        experiment_id: str,
        run: str,
        layer: str,
        step: int,
        purpose: str = "its graphs cannot be re-mapped",
    ) -> tuple[str, list[Epoch], int]:
        """The tag of ``layer``'s stored activations, its steps (:meth:`activation_epochs`) and the index of
        ``step`` among them; ``NotFoundError`` listing the steps there are when ``step`` is not one."""
        tag, series = self.activation_epochs(ctx, experiment_id, run, layer, purpose)
        for k, e in enumerate(series):
            if e.step == step:
                return tag, series, k
        raise errors.NotFoundError(
            f"no stored activations of layer {layer!r} at epoch {step} in run {run!r} (epochs with stored "
            f"activations: {_span([e.step for e in series])})"
        )

    def activations(self, ctx, experiment_id: str, run: str, layer: str, step: int) -> np.ndarray:
        """The probe activation matrix stored beside ``layer``'s graph at ``step`` (float32 ``(n, d)``), cached.
        Raises ``NotFoundError`` saying why when there is none (not stored, or unreadable)."""
        where = f"stored activations of layer {layer!r} at epoch {step} in run {run!r}"
        tag, series, k = self.activation_step(ctx, experiment_id, run, layer, step)
        e = series[k]

        def decode() -> np.ndarray | Unreadable:
            blobs = [self._read_blob(ctx, run, k, where) for k in e.blob_keys]
            try:
                return summary.decode_activations(blobs)
            except Exception as err:  # SummaryFormatError, or whatever a crafted payload makes numpy raise
                return Unreadable(_unreadable(where, err))

        key = (experiment_id, run, tag, e.step, e.wall_time, e.blob_keys)
        value = self.activation_arrays.get_or_create(key, decode)
        if isinstance(value, Unreadable):
            raise errors.NotFoundError(value.message)
        return value

    def remap(
        self, ctx, experiment_id: str, run: str, layer: str, epoch: Epoch, params: MapperArgs
    ) -> GraphEntry:
        """The logged graph of ``epoch`` built again from its stored activations, with the Mapper parameters it
        was logged with overridden by ``params`` (and its labels, extras and class names); cached by (graph key,
        ``params``). ``eps=fixed`` is the layer's :meth:`fixed_eps`, recorded in the graph's params as
        ``eps_rule="fixed"`` and ``eps_fixed_from`` (the step it comes from). 400 when the parameters do not fit
        this graph (the engine's message names the fix), 404 when there are no stored activations or the graph is
        unreadable."""
        from topoact_lightning.engine.mapper import Mapper
        from topoact_lightning.engine.remap import logged_mapper_params
        from topoact_lightning.errors import TopoActConfigError

        base = self.load(ctx, experiment_id, run, layer, epoch)
        given = dict(params)
        fixed_from = None
        if given.get("eps") == FIXED_EPS:
            # Missing activations are the first reason to give (the graph could not be re-mapped with any eps).
            self.activations(ctx, experiment_id, run, layer, epoch.step)
            # Resolved now, not cached under "fixed": a newer logged epoch may bring another number.
            given["eps"], fixed_from = self.fixed_eps(ctx, experiment_id, run, layer)
        key = (base.key, tuple(given.items()), fixed_from)  # still sorted: only eps may change

        def build() -> GraphEntry:
            x = self.activations(ctx, experiment_id, run, layer, epoch.step)
            g = base.graph
            if len(x) != g.n_samples:
                raise errors.NotFoundError(
                    f"the stored activations of the {base.where} hold {len(x)} samples, the graph "
                    f"{g.n_samples}: they cannot be re-mapped together"
                )
            try:
                kwargs = logged_mapper_params(g.params, **given)
                mapper = Mapper(**kwargs)
                mapper.check_params()
            except (TopoActConfigError, ValueError, TypeError) as e:
                raise errors.InvalidArgumentError(f"the {base.where} cannot be re-mapped so: {e}") from e
            resolved = self.knee_eps(base.key, x, mapper.get_params())
            if resolved is not None:
                mapper.set_params(eps=resolved[0])
            graph = guarded(
                f"the re-mapping of the {base.where}",
                lambda: mapper.fit_graph(x, labels=g.labels, extras=g.extras, class_names=g.class_names),
            )
            if resolved is not None:
                graph.params["eps_rule"] = resolved[
                    1
                ]  # the engine's rule, not "given": it was handed the eps
            if fixed_from is not None:
                graph.params.update(eps_rule=FIXED_EPS, eps_fixed_from=fixed_from)
            return GraphEntry(
                graph,
                epoch.step,
                epoch.wall_time,
                key,
                base.annotations,
                f"re-mapped {base.where}",
                remapped=True,
            )

        return self.remapped.get_or_create(key, build)

    def knee_eps(self, key: Any, x: np.ndarray, params: dict[str, Any]) -> tuple[float, str] | None:
        """The automatic eps (``eps="auto"``) of the stored matrix ``x`` of the graph ``key`` and the engine's name
        for its rule (:func:`~topoact_lightning.engine.elements.resolve_eps`), worked out once per matrix and
        values of the parameters it depends on (:data:`~topoact_lightning.engine.elements.EPS_PARAMS`): a change
        of intervals, overlap, lens or cover leaves it as it was, and the knee rule's neighbour queries are about
        half of a re-map. None when the eps is given (nothing to work out), or when an unseeded sample
        (``random_state=None``) must be drawn afresh each time."""
        if params["eps"] != "auto" or params["random_state"] is None:
            return None
        from topoact_lightning.engine.elements import EPS_PARAMS, resolve_eps

        spec = tuple(params[name] for name in EPS_PARAMS)
        return self.knee_eps_values.get_or_create((key, spec), lambda: resolve_eps(x, params))

    def fixed_eps(self, ctx, experiment_id: str, run: str, layer: str) -> tuple[float, int]:
        """``eps=fixed`` of ``layer``: the DBSCAN eps its latest readable logged graph used (the number the
        automatic rule chose, or the one given), and that graph's step. Re-mapping every epoch with it gives one eps
        for the whole layer, so the epochs' graphs compare (TopoAct's "Epsilon-Fixed"). 404 when no logged graph
        has one."""
        for e in reversed(self.epochs(ctx, experiment_id, run, layer)):
            try:
                eps = self.load(ctx, experiment_id, run, layer, e).graph.params.get("eps")
            except errors.NotFoundError:
                continue
            if isinstance(eps, (int, float)) and not isinstance(eps, bool) and 0 < eps < float("inf"):
                return float(eps), e.step
        raise errors.NotFoundError(
            f"no logged graph of layer {layer!r} in run {run!r} records a DBSCAN eps to fix (eps=fixed); "
            "use a number or 'auto'"
        )

    # ------------------------------------------------------------------------------------------ thumbnails
    def thumbnails(self, ctx, experiment_id: str, run: str) -> np.ndarray:
        """The run's thumbnails as ``uint8`` of shape ``(n, height, width, channels)``."""
        info = self.run(ctx, experiment_id, run)
        if not info.thumbnails:
            if summary.THUMBNAILS_TAG in info.problems:
                raise errors.NotFoundError(
                    f"thumbnails of run {run!r} are unreadable: {info.problems[summary.THUMBNAILS_TAG]}"
                )
            raise errors.NotFoundError(f"run {run!r} has no thumbnails (pass thumbnails to TopoActMonitor)")
        series = self._series(
            ctx, experiment_id, run, summary.THUMBNAILS_TAG, info.versions[summary.THUMBNAILS_TAG]
        )
        if not series:
            raise errors.NotFoundError(f"run {run!r} has no thumbnails yet")
        latest = series[-1]

        where = f"thumbnails of run {run!r}"

        def decode() -> np.ndarray:
            if len(latest.blob_keys) != 2:
                raise errors.NotFoundError(
                    f"{where} are unreadable: expected 2 blobs, found {len(latest.blob_keys)}"
                )
            blobs = [self._read_blob(ctx, run, k, where) for k in latest.blob_keys]
            try:
                images = summary.decode_thumbnails(blobs)
            except summary.SummaryFormatError as e:
                raise errors.NotFoundError(f"{where} are unreadable: {e}") from e
            n, h, w, c = images.shape
            if h < 1 or w < 1 or c not in (1, 3):
                raise errors.NotFoundError(
                    f"{where} are unreadable: images of {h} x {w} pixels with {c} channels (expected at least "
                    "1 x 1, with 1 or 3 channels)"
                )
            return images

        key = (experiment_id, run, latest.step, latest.wall_time, latest.blob_keys)
        return self.thumbnail_arrays.get_or_create(key, decode)


def _checked(graph: MapperGraph) -> MapperGraph:
    """``graph`` if the routes can derive everything from it; raises ``ValueError`` for what the decoder lets
    through from a crafted payload (edges naming nodes that do not exist, histograms too large to build)."""
    if graph.n_edges and (graph.edges.min() < 0 or graph.edges.max() >= graph.n_nodes):
        raise ValueError(f"an edge refers to a node outside range({graph.n_nodes})")
    if graph.n_nodes * graph.n_classes > MAX_HISTOGRAM_CELLS:
        raise ValueError(
            f"{graph.n_nodes} nodes x {graph.n_classes} classes is too many class counts to show"
        )
    return graph


def _span(steps: list[int]) -> str:
    if not steps:
        return "none"
    if len(steps) <= 12:
        return ", ".join(map(str, steps))
    return f"{len(steps)} from {steps[0]} to {steps[-1]}"
