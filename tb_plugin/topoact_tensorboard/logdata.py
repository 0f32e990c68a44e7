"""What the logs hold, read through TensorBoard's data provider: the runs, each tag's series of steps, and blobs.

Everything goes through ``context.data_provider`` (list and read blob sequences, read blobs), so the plugin works
with both of TensorBoard's back ends: the Rust data server (default) and the Python event multiplexer
(``--load_fast=false``). The run/tag listing is read afresh at most once per ``listing_seconds``, so new epochs
appear when TensorBoard reloads its logdir; a series' blob keys are cached by the listing's (last step, wall time,
length) of that series, which changes whenever data is added. For a run whose blobs the Rust data server cannot
serve, a blob is read from the run's event files instead (:mod:`eventfiles`).

Failures are :mod:`tensorboard.errors` exceptions with a message for the user: ``NotFoundError`` (404) for an
unknown run, layer or epoch, and for a blob that cannot be read.

Example::

    logs = LogData(context.data_provider)
    tag, version = logs.layer_tag(ctx, experiment_id, run="mnist", layer="fc1")
    [e.step for e in logs.epochs(ctx, experiment_id, "mnist", "fc1")]
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from tensorboard import errors
from tensorboard.data import provider

from topoact_lightning.logformat import summary
from topoact_tensorboard.cache import LRUCache
from topoact_tensorboard.eventfiles import EventFileBlobs, blob_key_location, needs_event_files

#: Steps asked for when reading a blob sequence: more than any run has epochs, so nothing is downsampled away.
ALL_STEPS = 1_000_000


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


class LogData:
    """The runs, series and blobs of TopoAct's tags; see the module docstring.

    Args:
        data_provider: TensorBoard's ``DataProvider``.
        logdir: TensorBoard's ``--logdir``, for runs whose blobs the Rust data server cannot read.
        listing_seconds: how long one listing of the runs answers (0: list on every call).
        clock: seconds of a monotonic clock, for the listing's time windows (tests pass a stepped one).
    """

    def __init__(
        self,
        data_provider,
        logdir: str | None = None,
        listing_seconds: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.data_provider = data_provider
        self.listing_seconds = listing_seconds
        self.clock = clock
        #: The local log directory, if any: where :mod:`eventfiles` reads what the Rust data server cannot serve.
        self.logdir = logdir if logdir and os.path.isdir(logdir) else None
        self.event_file_blobs = EventFileBlobs()
        # On the Rust data server a gRPC call that follows another within ~40 ms waits ~40 ms for its answer
        # (the first of a burst takes 1-2 ms), however small: reread a series only when its listing changed, and
        # keep each listing for `listing_seconds`, so a burst of requests (graph, metrics, prefetch, projection)
        # lists once. TensorBoard reloads the logs every 5 s by default; a listing a second old is no staler.
        self.series_cache = LRUCache(256)
        self.listings = LRUCache(16)

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

    def series(
        self, ctx, experiment_id: str, run: str, tag: str, version: tuple | None = None
    ) -> list[Epoch]:
        """The steps of ``tag`` in ``run``, ascending, each with its blob keys; cached by the listing's ``version``
        of the series (None: read afresh)."""
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
        """The logged graph steps of ``layer`` (:meth:`series` of its tag)."""
        tag, version = self.layer_tag(ctx, experiment_id, run, layer)
        return self.series(ctx, experiment_id, run, tag, version)

    # --------------------------------------------------------------------------------- stored activations
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
        return tag, self.series(ctx, experiment_id, run, tag, info.versions[tag])

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
            f"activations: {span([e.step for e in series])})"
        )

    # ---------------------------------------------------------------------------------------------- blobs
    def read_blob(self, ctx, run: str, blob_key: str, where: str) -> bytes:
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


def span(steps: list[int]) -> str:
    """Steps as a message lists them: all of a few, or how many from the first to the last."""
    if not steps:
        return "none"
    if len(steps) <= 12:
        return ", ".join(map(str, steps))
    return f"{len(steps)} from {steps[0]} to {steps[-1]}"
