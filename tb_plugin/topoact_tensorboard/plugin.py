"""The TopoAct TensorBoard plugin: HTTP routes serving Mapper graphs, their metrics and comparisons as JSON.

All routes are ``GET`` under ``data/plugin/topoact/``. Errors are ``text/plain`` messages meant for the user, never
a traceback: 400 for a missing or malformed parameter, 404 for an unknown run, layer, epoch or sample and for a
payload this version cannot read (the message says why: corrupt, crafted, or "upgrade topoact-lightning"). In
``metrics`` and ``track`` an unreadable epoch is listed under ``errors`` (step -> reason) and the other epochs still
answer; in ``findings`` an unreadable annotations blob or a malformed finding is listed there (layer -> step ->
reason) and skipped. JSON never holds NaN (null instead). Steps are any 64-bit integers, as TensorBoard lists them.

As in TensorBoard's ``scalars_plugin.py``, each ``<name>_route`` method unwraps the request (parameters, response)
and a ``<name>_impl`` method does the work with plain arguments and returns data.

========================================================  ===================================================
route                                                     answer
========================================================  ===================================================
``runs``                                                  ``[{"run", "layers": [..], "thumbnails", "problems",
                                                          "activations": [layers with stored activations]}]``
``epochs?run=&layer=``                                    ``{"run", "layer", "epochs": [steps, ascending]}``
``graph?run=&layer=&epoch=``                              :func:`payloads.graph_payload` + ``run, layer,
                                                          epoch, wall_time, annotations``
``compare?run=&layer=&epoch=&epoch2=[&run2=&layer2=]``    :func:`payloads.comparison_payload` + ``a``, ``b``
``metrics?run=&layer=``                                   ``{"epochs", "wall_times", "metrics": {name:
                                                          [value|null]}, "errors", "problems"}``
``track?run=&layer=&samples=1,2``                         ``{"epochs", "samples", "labels", "nodes": {epoch:
                                                          {s: [ids]} | null}, "errors"}``
``findings?run=[&layer=&kind=]``                          ``{"run", "layers": [watch order], "findings":
                                                          [{"step", "layer", "kind", "fault", "message",
                                                          "details"}], "errors": {layer: {step: reason}}}``
``projection?run=&layer=&epoch=[&method=pca|tsne]``       ``{"run", "layer", "epoch", "method", "x": [..], "y":
                                                          [..], "labels": [class id|-1] | null,
                                                          "aligned_to": step | null}``
``params``                                                ``{"parameters": {name: {"type", "min"?, "max"?,
                                                          "min_exclusive"?, "max_exclusive"?, "options"?}}}``
``thumbnail?run=&sample=``                                ``image/png``
``thumbnails_info?run=``                                  ``{"n", "height", "width", "channels", ..}``
``static/<path>``                                         the front end's files
========================================================  ===================================================

Projection: the probe's stored activations at one epoch in 2-D, PCA by default or t-SNE, for the tab's projection
panel (:mod:`projections`): sample ``i`` is at ``(x[i], y[i])`` (4 significant digits) with class ``labels[i]``.
A PCA is aligned (rotation or reflection) onto the previous epoch's, ``aligned_to``; a t-SNE starts from its
epoch's aligned PCA and is aligned onto it (``aligned_to`` is its own epoch). 404 when the layer has no stored
activations at that epoch; 400 for an unknown method or a t-SNE of more than 5,000 samples.

Parameters: ``params`` states what each Mapper parameter a route takes accepts (:func:`arguments.request_parameters`:
the engine's constraint table with the server's per-request caps), so the tab checks its fields against the server's
own rules; ``type`` is ``integer``, ``number`` or ``choice``, bounds appear where there are bounds, ``options`` lists
the strings a parameter also takes.

Re-mapping: ``graph``, ``compare``, ``metrics`` and ``track`` also take Mapper parameters ``n_intervals``,
``overlap``, ``eps`` (a number, ``auto``, or ``fixed``: the eps of the layer's latest logged graph for every
epoch), ``min_samples``, ``lens``, ``metric`` and ``cover``
(:func:`arguments.mapper_args`; a bad value or combination is a 400 with the engine's reason). With any of them,
every graph the route reads is built again from the epoch's stored activations (``topoact_activations/<layer>``)
with the logged parameters so overridden (:meth:`remapping.Remapper.remap`; 404 where none were stored), and the
``graph`` answer adds ``"remapped": true``.
"""

from __future__ import annotations

import contextlib
import functools
import gzip
import logging
import math
import os
from typing import Any

from tensorboard import errors, plugin_util
from tensorboard.backend import http_util
from tensorboard.context import RequestContext
from tensorboard.plugins import base_plugin
from werkzeug import wrappers

from topoact_lightning.engine.metrics import GRAPH_METRICS
from topoact_lightning.logformat import findings, summary
from topoact_tensorboard.arguments import (
    MapperArgs,
    arg,
    choice_arg,
    index_arg,
    jaccard_arg,
    kinds_arg,
    mapper_args,
    request_parameters,
    samples_arg,
    step_arg,
)
from topoact_tensorboard.cache import LRUCache
from topoact_tensorboard.data import GraphStore
from topoact_tensorboard.entries import GraphEntry, guarded
from topoact_tensorboard.logdata import RunInfo
from topoact_tensorboard.payloads import (
    comparison_payload,
    graph_payload,
    round_coordinates,
    to_json,
)
from topoact_tensorboard.png import encode_png, upscale
from topoact_tensorboard.projections import METHODS, ProjectionStore

logger = logging.getLogger("tensorboard.plugins.topoact")

STATIC_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "static")
#: Explicit types: ``mimetypes`` depends on the host's configuration, and a module script served with a
#: non-JavaScript type is refused by browsers (TensorBoard sends ``X-Content-Type-Options: nosniff``).
MIME_TYPES = {
    ".js": "text/javascript",
    ".mjs": "text/javascript",
    ".css": "text/css",
    ".html": "text/html",
    ".json": "application/json",
    ".map": "application/json",
    ".svg": "image/svg+xml",
    ".png": "image/png",
    ".woff2": "font/woff2",
    ".txt": "text/plain",
}
#: Thumbnails smaller than this (pixels, longest side) are enlarged, pixel-exact, before encoding.
MIN_THUMBNAIL_SIDE = 64
DEFAULT_MIN_JACCARD = 0.1
NO_SUCH_STATIC_FILE = "no such file among the TopoAct front-end files"


def _route(handler):
    """Turn ``handler(self, request) -> Response`` into a WSGI route that never leaks a traceback.

    TensorBoard already maps ``PublicError`` to its status code, but answering here keeps the plugin's
    behaviour the same in any WSGI host, and turns an unexpected failure into a logged, opaque 500.
    """

    @functools.wraps(handler)
    @wrappers.Request.application
    def route(self, request):
        try:
            return handler(self, request)
        except errors.PublicError as e:
            return http_util.Respond(request, str(e), "text/plain", code=e.http_code)
        except Exception:  # a bug: log it with its traceback, tell the client only that it happened
            # %r: the path is the client's, and may hold control characters meant for the log.
            logger.exception("TopoAct plugin failed on %r", request.full_path)
            return http_util.Respond(
                request,
                "internal error in the TopoAct plugin; see the tensorboard log",
                "text/plain",
                code=500,
            )

    return route


def _respond_json(request, obj: Any):
    return http_util.Respond(request, to_json(obj), "application/json")


def _watch_order(info: RunInfo) -> list[str]:
    """A run's layers in network order (input side first) where the logs say it, by name otherwise."""
    return _watch_order_of(info, info.layers)


def _watch_order_of(info: RunInfo, layers) -> list[str]:
    """``layers`` (names) in the run's watch order (see :func:`_watch_order`)."""
    return sorted(layers, key=lambda name: (info.positions.get(name, 1 << 30), name))


def _where(request) -> tuple[Any, str]:
    """The request's context and experiment id, the first two arguments of every ``*_impl`` method."""
    return plugin_util.context(request.environ), plugin_util.experiment_id(request.environ)


class TopoActPlugin(base_plugin.TBPlugin):
    """Serves the TopoAct tab. See the module docstring for the routes.

    Args:
        context: TensorBoard's ``TBContext``; only ``context.data_provider`` is used.
        static_dir: where the front end's files are (the package's ``static/`` by default).
    """

    plugin_name = summary.PLUGIN_NAME

    def __init__(self, context: base_plugin.TBContext, *, static_dir: str = STATIC_DIR) -> None:
        if context.data_provider is None:
            raise ValueError("the TopoAct plugin needs TensorBoard's data provider (TensorBoard >= 2.5)")
        self.store = GraphStore(context.data_provider, logdir=context.logdir)
        self.comparisons = LRUCache(32)
        self.projections = ProjectionStore(self.store)
        self.static_dir = os.path.realpath(static_dir)

    # -------------------------------------------------------------------------------------- TBPlugin API
    def get_plugin_apps(self):
        return {
            "/runs": self.runs_route,
            "/epochs": self.epochs_route,
            "/graph": self.graph_route,
            "/compare": self.compare_route,
            "/metrics": self.metrics_route,
            "/track": self.track_route,
            "/findings": self.findings_route,
            "/params": self.params_route,
            "/projection": self.projection_route,
            "/thumbnail": self.thumbnail_route,
            "/thumbnails_info": self.thumbnails_info_route,
            "/static/*": self.static_route,
        }

    def is_active(self) -> bool:
        # Only consulted when TensorBoard sees no data under our plugin name; kept honest anyway.
        try:
            listing = self.store.logs.data_provider.list_blob_sequences(
                RequestContext(), experiment_id="", plugin_name=self.plugin_name
            )
        except Exception:  # a data provider that cannot answer yet: no data to show
            return False
        return any(listing.values())

    def frontend_metadata(self):
        return base_plugin.FrontendMetadata(es_module_path="/static/index.js", tab_name="TopoAct")

    # ------------------------------------------------------------------------------------------ runs, epochs
    @_route
    def runs_route(self, request):
        return _respond_json(request, self.runs_impl(*_where(request)))

    def runs_impl(self, ctx, experiment: str) -> list[dict[str, Any]]:
        """Every run with TopoAct data: its layers in network order (input side first, where the logs say it,
        by name otherwise), whether it has thumbnails, and its unreadable tags (tag -> reason)."""
        return [
            {
                "run": run,
                "layers": _watch_order(info),
                "thumbnails": info.thumbnails,
                "problems": info.problems,
                "activations": _watch_order_of(info, info.activations),
            }
            for run, info in sorted(self.store.logs.runs(ctx, experiment).items())
        ]

    @_route
    def epochs_route(self, request):
        run, layer = arg(request, "run"), arg(request, "layer")
        return _respond_json(request, self.epochs_impl(*_where(request), run, layer))

    def epochs_impl(self, ctx, experiment: str, run: str, layer: str) -> dict[str, Any]:
        epochs = self.store.logs.epochs(ctx, experiment, run, layer)
        return {"run": run, "layer": layer, "epochs": [e.step for e in epochs]}

    # ------------------------------------------------------------------------------------------------ graph
    @_route
    def graph_route(self, request):
        run, layer, epoch = arg(request, "run"), arg(request, "layer"), step_arg(request, "epoch")
        entry = self.store.graph(*_where(request), run, layer, epoch, mapper_args(request))
        body = entry.gzipped_json
        if body is None:
            # A cached graph is served as stored gzip bytes: a 1,000-node graph's JSON is large, and
            # re-serializing and re-compressing it on every slider move would dominate the warm latency.
            # Only the compressed body is kept: the dict form of a large graph is several MB of Python objects.
            payload = self._graph_payload(entry, run, layer)
            body = gzip.compress(to_json(payload).encode(), compresslevel=3, mtime=0)
            entry.gzipped_json = body
        return http_util.Respond(request, body, "application/json", content_encoding="gzip")

    def graph_impl(
        self, ctx, experiment: str, run: str, layer: str, epoch: int, params: MapperArgs = ()
    ) -> dict[str, Any]:
        """The graph of ``layer`` at step ``epoch``: :func:`payloads.graph_payload` plus where it is from, its wall
        time and the monitor's annotations. With ``params`` (Mapper parameters), the graph re-mapped from the
        stored activations with the logged parameters so overridden, marked ``"remapped": true``."""
        return self._graph_payload(self.store.graph(ctx, experiment, run, layer, epoch, params), run, layer)

    @staticmethod
    def _graph_payload(entry: GraphEntry, run: str, layer: str) -> dict[str, Any]:
        remapped = {"remapped": True} if entry.remapped else {}
        return dict(
            entry.derive(lambda: graph_payload(entry.graph)),
            run=run,
            layer=layer,
            epoch=entry.step,
            wall_time=entry.wall_time,
            annotations=entry.annotations,
            **remapped,
        )

    # ---------------------------------------------------------------------------------------------- compare
    @_route
    def compare_route(self, request):
        run, layer, epoch = arg(request, "run"), arg(request, "layer"), step_arg(request, "epoch")
        run2, layer2 = arg(request, "run2", run), arg(request, "layer2", layer)
        epoch2 = step_arg(request, "epoch2")
        min_jaccard = jaccard_arg(request, "min_jaccard", DEFAULT_MIN_JACCARD)
        params = mapper_args(request)
        payload = self.compare_impl(
            *_where(request), run, layer, epoch, run2, layer2, epoch2, min_jaccard, params
        )
        return _respond_json(request, payload)

    def compare_impl(
        self,
        ctx,
        experiment: str,
        run: str,
        layer: str,
        epoch: int,
        run2: str,
        layer2: str,
        epoch2: int,
        min_jaccard: float = DEFAULT_MIN_JACCARD,
        params: MapperArgs = (),
    ) -> dict[str, Any]:
        """How the graph of ``(run2, layer2, epoch2)`` relates to that of ``(run, layer, epoch)``, node by node:
        :func:`payloads.comparison_payload` plus ``a`` and ``b`` (where each graph is from, its node count); both
        graphs re-mapped with ``params`` when given."""
        a = self.store.graph(ctx, experiment, run, layer, epoch, params)
        b = self.store.graph(ctx, experiment, run2, layer2, epoch2, params)
        if a.graph.n_samples != b.graph.n_samples:
            raise errors.InvalidArgumentError(
                f"these graphs were built from different probe sets ({a.graph.n_samples} and "
                f"{b.graph.n_samples} samples) and cannot be compared node by node"
            )
        return dict(
            self._comparison(a, b, min_jaccard),
            min_jaccard=min_jaccard,
            a={"run": run, "layer": layer, "epoch": epoch, "nodes": a.graph.n_nodes},
            b={"run": run2, "layer": layer2, "epoch": epoch2, "nodes": b.graph.n_nodes},
        )

    def _comparison(self, a: GraphEntry, b: GraphEntry, min_jaccard: float) -> dict[str, Any]:
        def compare() -> dict[str, Any]:
            from topoact_lightning.engine.compare import compare_graphs

            where = f"the comparison of the {a.where} with the {b.where}"
            return guarded(where, lambda: comparison_payload(compare_graphs(a.graph, b.graph, min_jaccard)))

        return self.comparisons.get_or_create((a.key, b.key, min_jaccard), compare)

    # ---------------------------------------------------------------------------------------- metrics, track
    def _readable(
        self, ctx, experiment: str, run: str, layer: str, derive, params: MapperArgs = ()
    ) -> tuple[list, dict[str, str]]:
        """Every epoch of a layer as ``(epoch, entry, derive(entry))``, entry and value None where the epoch is
        unreadable or ``derive`` fails on it; and those epochs' reasons by step (the routes' ``errors``)."""
        rows, problems = [], {}
        for e, entry, reason in self.store.all_graphs(ctx, experiment, run, layer, params):
            value = None
            if entry is not None:
                try:
                    value = entry.derive(functools.partial(derive, entry))
                except errors.NotFoundError as err:
                    entry, reason = None, str(err)
            if reason:
                problems[str(e.step)] = reason
            rows.append((e, entry, value))
        return rows, problems

    @_route
    def metrics_route(self, request):
        run, layer = arg(request, "run"), arg(request, "layer")
        return _respond_json(request, self.metrics_impl(*_where(request), run, layer, mapper_args(request)))

    def metrics_impl(
        self, ctx, experiment: str, run: str, layer: str, params: MapperArgs = ()
    ) -> dict[str, Any]:
        """Every epoch's metrics (:attr:`GraphEntry.metrics`, null where unreadable), ``distance`` to the previous
        epoch, unreadable epochs under ``errors`` and the monitor's health warnings under ``problems``."""
        rows, problems = self._readable(ctx, experiment, run, layer, lambda entry: entry.metrics, params)
        names = [
            *GRAPH_METRICS,
            "unassigned",
            "dead_units",
            "effective_rank",
            "distance",
            "accuracy",
            "mean_loss",
        ]
        present = {k for _, _, m in rows if m for k in m} | {"distance"}
        names = [n for n in names if n in present] + sorted(present - set(names))
        metrics = {n: [m.get(n) if m else None for _, _, m in rows] for n in names}
        # How much the graph changed since the previous logged epoch (compare_graphs' distance, 0 = same nodes).
        change: list[float | None] = [None]
        for (_, prev, _), (_, cur, _) in zip(rows[:-1], rows[1:], strict=True):
            distance = None
            if prev is not None and cur is not None and prev.graph.n_samples == cur.graph.n_samples:
                # A pair that cannot be compared has no distance; both epochs still chart.
                with contextlib.suppress(errors.NotFoundError):
                    distance = self._comparison(prev, cur, DEFAULT_MIN_JACCARD)["distance"]
            change.append(distance)
        metrics["distance"] = change[: len(rows)]
        return {
            "run": run,
            "layer": layer,
            "epochs": [e.step for e, _, _ in rows],
            "wall_times": [e.wall_time for e, _, _ in rows],
            "metrics": metrics,
            "errors": problems,
            # The monitor's health warnings for this layer, by epoch (the tab's badge).
            "problems": {str(e.step): entry.problem for e, entry, _ in rows if entry and entry.problem},
        }

    @_route
    def track_route(self, request):
        run, layer, samples = arg(request, "run"), arg(request, "layer"), samples_arg(request)
        params = mapper_args(request)
        return _respond_json(request, self.track_impl(*_where(request), run, layer, samples, params))

    def track_impl(
        self, ctx, experiment: str, run: str, layer: str, samples: list[int], params: MapperArgs = ()
    ) -> dict[str, Any]:
        """The nodes holding each of ``samples`` at every epoch (null where the epoch is unreadable), with the
        samples' labels; samples must be in the probe set of the latest readable graph."""
        rows, problems = self._readable(ctx, experiment, run, layer, lambda entry: entry.sample_index, params)
        readable = [entry for _, entry, _ in rows if entry]
        if not readable:
            raise errors.NotFoundError(f"run {run!r} has no readable graph of layer {layer!r}")
        latest = readable[-1].graph
        outside = [s for s in samples if s >= latest.n_samples]
        if outside:
            raise errors.NotFoundError(
                f"sample {outside[0]} is not in the probe set of run {run!r} (samples 0 to {latest.n_samples - 1})"
            )
        labels = latest.labels
        return {
            "run": run,
            "layer": layer,
            "samples": samples,
            "labels": {str(s): (int(labels[s]) if labels is not None else None) for s in samples},
            "epochs": [e.step for e, _, _ in rows],
            "nodes": {
                str(e.step): ({str(s): entry.nodes_of(s) for s in samples} if entry else None)
                for e, entry, _ in rows
            },
            "errors": problems,
        }

    # --------------------------------------------------------------------------------------------- findings
    @_route
    def findings_route(self, request):
        run, layer = arg(request, "run"), arg(request, "layer", "") or None
        kinds = kinds_arg(request, "kind", findings.KINDS)
        return _respond_json(request, self.findings_impl(*_where(request), run, layer, kinds))

    def findings_impl(
        self, ctx, experiment: str, run: str, layer: str | None = None, kinds: tuple[str, ...] | None = None
    ) -> dict[str, Any]:
        """The monitor's findings for ``run`` (one ``layer``, some ``kinds``, or all), by step then watch order,
        read from the graph steps' annotations alone (no graph is decoded). Logs without findings give an
        empty list."""
        info = self.store.logs.run(ctx, experiment, run)
        layers = _watch_order(info)
        if layer is not None:
            self.store.logs.layer_tag(
                ctx, experiment, run, layer
            )  # the 404 for an unknown or unreadable layer
        found: list[tuple[int, int, int, dict[str, Any]]] = []
        problems: dict[str, dict[str, str]] = {}
        for position, name in enumerate(layers):
            if layer is not None and name != layer:
                continue
            for e in self.store.logs.epochs(ctx, experiment, run, name):
                reasons = []
                try:
                    entries = self.store.annotations(ctx, experiment, run, name, e).get("findings", [])
                except errors.NotFoundError as err:
                    entries, reasons = [], [str(err)]
                if not isinstance(entries, list):
                    entries, reasons = [], ["its findings are not a list"]
                for i, raw in enumerate(entries):
                    try:
                        entry = findings.read_logged(raw, e.step, name)
                    except ValueError as err:
                        reasons.append(f"finding {i} is malformed: {err}")
                        continue
                    if kinds is None or entry["kind"] in kinds:
                        found.append((e.step, position, len(found), entry))
                if reasons:
                    problems.setdefault(name, {})[str(e.step)] = "; ".join(reasons)
        found.sort(key=lambda row: row[:3])
        return {"run": run, "layers": layers, "findings": [row[3] for row in found], "errors": problems}

    # ----------------------------------------------------------------------------------------------- params
    @_route
    def params_route(self, request):
        return _respond_json(request, self.params_impl())

    def params_impl(self) -> dict[str, Any]:
        """What each Mapper parameter of a request accepts (see the module docstring); the same for every run."""
        return {"parameters": request_parameters()}

    # ------------------------------------------------------------------------------------------- projection
    @_route
    def projection_route(self, request):
        run, layer, epoch = arg(request, "run"), arg(request, "layer"), step_arg(request, "epoch")
        method = choice_arg(request, "method", METHODS, METHODS[0])
        return _respond_json(request, self.projection_impl(*_where(request), run, layer, epoch, method))

    def projection_impl(
        self, ctx, experiment: str, run: str, layer: str, epoch: int, method: str = "pca"
    ) -> dict[str, Any]:
        """The probe's stored activations of ``layer`` at ``epoch`` in 2-D (``method`` ``pca`` or ``tsne``),
        aligned along the epochs (:class:`projections.ProjectionStore`), with each sample's class (-1 unknown;
        null when the graph logged no labels or is unreadable)."""
        p = self.projections.projection(ctx, experiment, run, layer, epoch, method)
        labels = None
        with contextlib.suppress(errors.NotFoundError):
            graph = self.store.graph(ctx, experiment, run, layer, epoch).graph
            if graph.labels is not None and len(graph.labels) == len(p.coords):
                labels = graph.labels.astype(int).tolist()
        return {
            "run": run,
            "layer": layer,
            "epoch": epoch,
            "method": method,
            "x": round_coordinates(p.coords[:, 0]),
            "y": round_coordinates(p.coords[:, 1]),
            "labels": labels,
            "aligned_to": p.aligned_to,
        }

    # ------------------------------------------------------------------------------------------- thumbnails
    @staticmethod
    def _thumbnail_scale(height: int, width: int) -> int:
        return max(1, min(8, math.ceil(MIN_THUMBNAIL_SIDE / max(height, width, 1))))

    @_route
    def thumbnails_info_route(self, request):
        return _respond_json(request, self.thumbnails_info_impl(*_where(request), arg(request, "run")))

    def thumbnails_info_impl(self, ctx, experiment: str, run: str) -> dict[str, Any]:
        images = self.store.thumbnails(ctx, experiment, run)
        n, h, w, c = images.shape
        scale = self._thumbnail_scale(h, w)
        return {
            "run": run,
            "n": n,
            "height": h,
            "width": w,
            "channels": c,
            "png_height": h * scale,
            "png_width": w * scale,
        }

    @_route
    def thumbnail_route(self, request):
        run, sample = arg(request, "run"), index_arg(request, "sample")
        png = self.thumbnail_impl(*_where(request), run, sample)
        # Thumbnails never change for a given run; let the browser keep them while the page is open.
        return http_util.Respond(request, png, "image/png", expires=300)

    def thumbnail_impl(self, ctx, experiment: str, run: str, sample: int) -> bytes:
        """Sample ``sample``'s thumbnail as a PNG, enlarged pixel-exact to at least 64 pixels on its longer side."""
        images = self.store.thumbnails(ctx, experiment, run)
        if sample >= len(images):
            raise errors.NotFoundError(
                f"run {run!r} has thumbnails for samples 0 to {len(images) - 1}, not {sample}"
                if len(images)
                else f"run {run!r} has no thumbnails (its thumbnails record holds no image)"
            )
        image = images[sample]
        return guarded(
            f"thumbnail {sample} of run {run!r}",
            lambda: encode_png(upscale(image, self._thumbnail_scale(*image.shape[:2]))),
        )

    # ----------------------------------------------------------------------------------------------- static
    @_route
    def static_route(self, request):
        # Search for the route itself: whatever precedes it (a --path_prefix, /experiment/<id>) is not ours.
        marker = f"/data/plugin/{self.plugin_name}/static/"
        path = request.path
        body, content_type = self.static_impl(
            path[path.index(marker) + len(marker) :] if marker in path else ""
        )
        return http_util.Respond(request, body, content_type)

    def static_impl(self, rel: str) -> tuple[bytes, str]:
        """The front-end file at ``rel`` (``/``-separated, inside the static directory) and its content type."""
        parts = rel.split("/")
        if not rel or any(
            p in ("", ".", "..")
            or p.startswith(".")
            or "\\" in p
            or any(ord(ch) < 0x20 or ch == "\x7f" for ch in p)
            for p in parts
        ):
            raise errors.NotFoundError(NO_SUCH_STATIC_FILE)
        full = os.path.realpath(os.path.join(self.static_dir, *parts))
        if os.path.commonpath([full, self.static_dir]) != self.static_dir or not os.path.isfile(full):
            raise errors.NotFoundError(NO_SUCH_STATIC_FILE)
        content_type = MIME_TYPES.get(os.path.splitext(full)[1].lower(), "application/octet-stream")
        with open(full, "rb") as f:
            return f.read(), content_type
