"""The plugin's store of decoded TopoAct payloads: graphs, annotations, stored activations and thumbnails, each
decoded once and kept in a bounded cache.

:class:`GraphStore` reads through :class:`~topoact_tensorboard.logdata.LogData` (the data provider: runs, series,
blobs) and hands graphs with a request's Mapper parameters to :class:`~topoact_tensorboard.remapping.Remapper`.
What is cached is keyed by what cannot change unseen: decoded graphs and each step's annotations (read alone by
the findings route) by their blob key and wall time, stored activation matrices likewise. A payload that cannot be
read is cached as its reason (:class:`~topoact_tensorboard.entries.Unreadable`), so a broken epoch is not decoded
again on every request; it is a ``NotFoundError`` (404) saying why, for that epoch alone. Every cache is a bounded
LRU.

Example::

    store = GraphStore(context.data_provider)
    entry = store.graph(ctx, experiment_id, run="mnist", layer="fc1", epoch=3)
    entry.graph.n_nodes
"""

from __future__ import annotations

import time
from collections.abc import Callable

import numpy as np
from tensorboard import errors

from topoact_lightning.engine.graph import MapperGraph
from topoact_lightning.logformat import summary
from topoact_tensorboard.arguments import MapperArgs
from topoact_tensorboard.cache import LRUCache
from topoact_tensorboard.entries import GraphEntry, Unreadable, checked, unreadable
from topoact_tensorboard.logdata import Epoch, LogData, span
from topoact_tensorboard.remapping import Remapper


class GraphStore:
    """Decoded TopoAct payloads for the plugin's routes; see the module docstring.

    Args:
        data_provider: TensorBoard's ``DataProvider``.
        cache_size: decoded graphs kept in memory.
        logdir: TensorBoard's ``--logdir``, for runs whose blobs the Rust data server cannot read.
        remap_cache_size: re-mapped graphs (see :meth:`load`'s ``params``) kept in memory.
        listing_seconds: how long one listing of the runs answers (0: list on every call).
        clock: seconds of a monotonic clock, for the listing's time windows (tests pass a stepped one).

    Attributes:
        logs: the runs, series and blobs (:class:`~topoact_tensorboard.logdata.LogData`).
        remapper: re-mapped graphs (:class:`~topoact_tensorboard.remapping.Remapper`).
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
        self.logs = LogData(data_provider, logdir, listing_seconds, clock)
        self.remapper = Remapper(self, remap_cache_size)
        self.graphs = LRUCache(cache_size)
        self.thumbnail_arrays = LRUCache(8)
        #: Each graph step's annotations (blob 1), keyed like :attr:`graphs`: the findings route reads every step's
        #: annotations, and decoding every graph for that would be slow and evict the graphs being viewed.
        self.annotation_dicts = LRUCache(4096)
        #: Decoded stored activation matrices (each up to a few MB).
        self.activation_arrays = LRUCache(8)

    # ---------------------------------------------------------------------------------------------- graphs
    def graph(
        self, ctx, experiment_id: str, run: str, layer: str, epoch: int, params: MapperArgs = ()
    ) -> GraphEntry:
        """The graph of ``layer`` at step ``epoch`` (:meth:`load`); ``NotFoundError`` listing the epochs there are
        when ``epoch`` is not one."""
        epochs = self.logs.epochs(ctx, experiment_id, run, layer)
        for e in epochs:
            if e.step == epoch:
                return self.load(ctx, experiment_id, run, layer, e, params)
        raise errors.NotFoundError(
            f"no graph of layer {layer!r} at epoch {epoch} in run {run!r} (epochs: {span([e.step for e in epochs])})"
        )

    def load(
        self, ctx, experiment_id: str, run: str, layer: str, epoch: Epoch, params: MapperArgs = ()
    ) -> GraphEntry:
        """The decoded graph of one listed epoch, from the cache when possible; with ``params`` (Mapper
        parameters, sorted ``(name, value)`` pairs) the graph re-mapped from its stored activations instead
        (:meth:`Remapper.remap <topoact_tensorboard.remapping.Remapper.remap>`).

        Raises ``NotFoundError`` with the reason when the epoch is unreadable; the failure is cached like a
        graph (a broken epoch is not decoded again on every metrics request).
        """
        if params:
            return self.remapper.remap(ctx, experiment_id, run, layer, epoch, params)
        where = f"graph of layer {layer!r} at epoch {epoch.step} in run {run!r}"
        if len(epoch.blob_keys) not in (1, 2):
            raise errors.NotFoundError(
                f"{where} is unreadable: expected 1 or 2 blobs, found {len(epoch.blob_keys)}"
            )
        blob_key = epoch.blob_keys[0]

        def decode() -> GraphEntry | Unreadable:
            data = self.logs.read_blob(ctx, run, blob_key, where)
            try:
                graph = checked(MapperGraph.from_bytes(data))
            except Exception as e:  # anything a crafted payload makes numpy, zipfile or json raise
                return Unreadable(unreadable(where, e))
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
                return summary.decode_annotations(self.logs.read_blob(ctx, run, blob_key, where))
            except summary.SummaryFormatError as e:
                return Unreadable(f"{where} are unreadable: {e}")
            except errors.NotFoundError as e:
                return Unreadable(str(e))
            except (
                Exception
            ) as e:  # what a crafted blob makes json raise besides a decode error: RecursionError
                return Unreadable(unreadable(where, e))

        key = (experiment_id, run, layer, epoch.step, epoch.wall_time, blob_key)
        value = self.annotation_dicts.get_or_create(key, decode)
        if isinstance(value, Unreadable):
            raise errors.NotFoundError(value.message)
        return value

    def all_graphs(
        self, ctx, experiment_id: str, run: str, layer: str, params: MapperArgs = ()
    ) -> list[tuple[Epoch, GraphEntry | None, str | None]]:
        """Every epoch of a layer with its graph, or None and the reason when that epoch is unreadable."""
        out = []
        for e in self.logs.epochs(ctx, experiment_id, run, layer):
            try:
                out.append((e, self.load(ctx, experiment_id, run, layer, e, params), None))
            except errors.NotFoundError as err:
                out.append((e, None, str(err)))
        return out

    # ---------------------------------------------------------------------------------- stored activations
    def activations(self, ctx, experiment_id: str, run: str, layer: str, step: int) -> np.ndarray:
        """The probe activation matrix stored beside ``layer``'s graph at ``step`` (float32 ``(n, d)``), cached.
        Raises ``NotFoundError`` saying why when there is none (not stored, or unreadable)."""
        where = f"stored activations of layer {layer!r} at epoch {step} in run {run!r}"
        tag, series, k = self.logs.activation_step(ctx, experiment_id, run, layer, step)
        e = series[k]

        def decode() -> np.ndarray | Unreadable:
            blobs = [self.logs.read_blob(ctx, run, k, where) for k in e.blob_keys]
            try:
                return summary.decode_activations(blobs)
            except Exception as err:  # SummaryFormatError, or whatever a crafted payload makes numpy raise
                return Unreadable(unreadable(where, err))

        key = (experiment_id, run, tag, e.step, e.wall_time, e.blob_keys)
        value = self.activation_arrays.get_or_create(key, decode)
        if isinstance(value, Unreadable):
            raise errors.NotFoundError(value.message)
        return value

    # ------------------------------------------------------------------------------------------ thumbnails
    def thumbnails(self, ctx, experiment_id: str, run: str) -> np.ndarray:
        """The run's thumbnails as ``uint8`` of shape ``(n, height, width, channels)``."""
        info = self.logs.run(ctx, experiment_id, run)
        if not info.thumbnails:
            if summary.THUMBNAILS_TAG in info.problems:
                raise errors.NotFoundError(
                    f"thumbnails of run {run!r} are unreadable: {info.problems[summary.THUMBNAILS_TAG]}"
                )
            raise errors.NotFoundError(f"run {run!r} has no thumbnails (pass thumbnails to TopoActMonitor)")
        series = self.logs.series(
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
            blobs = [self.logs.read_blob(ctx, run, k, where) for k in latest.blob_keys]
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
