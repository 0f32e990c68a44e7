"""The TopoAct TensorBoard plugin: HTTP routes serving Mapper graphs, their metrics and comparisons as JSON.

All routes are ``GET`` under ``data/plugin/topoact/``. Errors are ``text/plain`` messages meant for the user:
400 for a missing or malformed parameter, 404 for an unknown run, layer, epoch or sample and for a payload this
version cannot read (the message says why, e.g. "upgrade topoact-lightning"). JSON never holds NaN (null instead).

========================================================  ===================================================
route                                                     answer
========================================================  ===================================================
``runs``                                                  ``[{"run", "layers": [..], "thumbnails", "problems"}]``
``epochs?run=&layer=``                                    ``{"run", "layer", "epochs": [steps, ascending]}``
``graph?run=&layer=&epoch=``                              ``MapperGraph.to_dict()`` + ``run, layer, epoch``
``compare?run=&layer=&epoch=&epoch2=[&run2=&layer2=]``    ``GraphComparison.to_dict()`` + ``a``, ``b``
``metrics?run=&layer=``                                   ``{"epochs", "metrics": {name: [value|null]}, "problems"}``
``track?run=&layer=&samples=1,2``                         ``{"epochs", "samples", "nodes": {epoch: {s: [ids]}}}``
``thumbnail?run=&sample=``                                ``image/png``
``thumbnails_info?run=``                                  ``{"n", "height", "width", "channels", ..}``
``static/<path>``                                         the front end's files
========================================================  ===================================================
"""

from __future__ import annotations

import functools
import gzip
import json
import logging
import math
import os
import re
from typing import Any

import numpy as np
from tensorboard import errors, plugin_util
from tensorboard.backend import http_util
from tensorboard.context import RequestContext
from tensorboard.plugins import base_plugin
from werkzeug import wrappers

from topoact_lightning import summary
from topoact_lightning.engine.metrics import GRAPH_METRICS
from topoact_tensorboard.data import GraphEntry, GraphStore, LRUCache, json_number
from topoact_tensorboard.png import encode_png, upscale

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
MAX_TRACKED_SAMPLES = 1000
DEFAULT_MIN_JACCARD = 0.1
_INT_RE = re.compile(r"^[0-9]{1,9}$")


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
            logger.exception("TopoAct plugin failed on %s", request.full_path)
            return http_util.Respond(
                request,
                "internal error in the TopoAct plugin; see the tensorboard log",
                "text/plain",
                code=500,
            )

    return route


def _arg(request, name: str, default: str | None = None) -> str:
    value = request.args.get(name)
    if value is None or value == "":
        if default is not None:
            return default
        raise errors.InvalidArgumentError(f"missing parameter {name!r}")
    return value


def _int_arg(request, name: str, default: int | None = None) -> int:
    value = request.args.get(name)
    if (value is None or value == "") and default is not None:
        return default
    value = _arg(request, name)
    if not _INT_RE.match(value):
        raise errors.InvalidArgumentError(f"parameter {name!r} must be a non-negative integer, got {value!r}")
    return int(value)


def _jaccard_arg(request, name: str, default: float) -> float:
    value = request.args.get(name)
    if value is None or value == "":
        return default
    try:
        x = float(value)
    except ValueError:
        x = math.nan
    if not (0.0 < x <= 1.0):  # also rejects NaN
        raise errors.InvalidArgumentError(f"parameter {name!r} must be a number in (0, 1], got {value!r}")
    return x


def _samples_arg(request) -> list[int]:
    raw = _arg(request, "samples")
    parts = [p.strip() for p in raw.split(",") if p.strip()]
    if not parts or not all(_INT_RE.match(p) for p in parts):
        raise errors.InvalidArgumentError(
            f"parameter 'samples' must be comma-separated non-negative integers, got {raw!r}"
        )
    if len(parts) > MAX_TRACKED_SAMPLES:
        raise errors.InvalidArgumentError(f"at most {MAX_TRACKED_SAMPLES} samples can be tracked at once")
    return list(dict.fromkeys(int(p) for p in parts))


def to_json(obj: Any) -> str:
    """Strict JSON (no NaN or Infinity, which ``JSON.parse`` rejects): such values become null."""
    try:
        return json.dumps(obj, allow_nan=False, separators=(",", ":"))
    except ValueError:
        return json.dumps(_strict(obj), allow_nan=False, separators=(",", ":"))


def _strict(obj: Any) -> Any:
    if isinstance(obj, dict):
        return {k: _strict(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_strict(v) for v in obj]
    if isinstance(obj, (float, np.generic)):
        return json_number(obj)
    return obj


def _respond_json(request, obj: Any):
    return http_util.Respond(request, to_json(obj), "application/json")


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
        self.store = GraphStore(context.data_provider)
        self.comparisons = LRUCache(32)
        self.static_dir = os.path.realpath(static_dir)

    # -------------------------------------------------------------------------------------- TBPlugin API
    def get_plugin_apps(self):
        return {
            "/runs": self._serve_runs,
            "/epochs": self._serve_epochs,
            "/graph": self._serve_graph,
            "/compare": self._serve_compare,
            "/metrics": self._serve_metrics,
            "/track": self._serve_track,
            "/thumbnail": self._serve_thumbnail,
            "/thumbnails_info": self._serve_thumbnails_info,
            "/static/*": self._serve_static,
        }

    def is_active(self) -> bool:
        # Only consulted when TensorBoard sees no data under our plugin name; kept honest anyway.
        try:
            listing = self.store.data_provider.list_blob_sequences(
                RequestContext(), experiment_id="", plugin_name=self.plugin_name
            )
        except Exception:  # a data provider that cannot answer yet: no data to show
            return False
        return any(listing.values())

    def frontend_metadata(self):
        return base_plugin.FrontendMetadata(es_module_path="/static/index.js", tab_name="TopoAct")

    # -------------------------------------------------------------------------------------------- routes
    @staticmethod
    def _where(request) -> tuple[Any, str]:
        return plugin_util.context(request.environ), plugin_util.experiment_id(request.environ)

    @_route
    def _serve_runs(self, request):
        ctx, eid = self._where(request)
        runs = self.store.runs(ctx, eid)
        return _respond_json(
            request,
            [
                {
                    "run": run,
                    # Network order (input side first) where the logs say it, names otherwise.
                    "layers": sorted(info.layers, key=lambda name: (info.positions.get(name, 1 << 30), name)),
                    "thumbnails": info.thumbnails,
                    "problems": info.problems,
                }
                for run, info in sorted(runs.items())
            ],
        )

    @_route
    def _serve_epochs(self, request):
        ctx, eid = self._where(request)
        run, layer = _arg(request, "run"), _arg(request, "layer")
        epochs = self.store.epochs(ctx, eid, run, layer)
        return _respond_json(request, {"run": run, "layer": layer, "epochs": [e.step for e in epochs]})

    @_route
    def _serve_graph(self, request):
        ctx, eid = self._where(request)
        run, layer, epoch = _arg(request, "run"), _arg(request, "layer"), _int_arg(request, "epoch")
        entry = self.store.graph(ctx, eid, run, layer, epoch)
        body = entry.gzipped_json
        if body is None:
            # A cached graph is served as stored gzip bytes: a 1,000-node graph's JSON is large, and
            # re-serializing and re-compressing it on every slider move would dominate the warm latency.
            # Only the compressed body is kept: the dict form of a large graph is several MB of Python objects.
            payload = dict(
                entry.graph.to_dict(),
                run=run,
                layer=layer,
                epoch=epoch,
                wall_time=entry.wall_time,
                annotations=entry.annotations,
            )
            body = gzip.compress(to_json(payload).encode(), compresslevel=3, mtime=0)
            entry.gzipped_json = body
        return http_util.Respond(request, body, "application/json", content_encoding="gzip")

    @_route
    def _serve_compare(self, request):
        ctx, eid = self._where(request)
        run, layer, epoch = _arg(request, "run"), _arg(request, "layer"), _int_arg(request, "epoch")
        run2, layer2 = _arg(request, "run2", run), _arg(request, "layer2", layer)
        epoch2 = _int_arg(request, "epoch2")
        min_jaccard = _jaccard_arg(request, "min_jaccard", DEFAULT_MIN_JACCARD)
        a = self.store.graph(ctx, eid, run, layer, epoch)
        b = self.store.graph(ctx, eid, run2, layer2, epoch2)
        if a.graph.n_samples != b.graph.n_samples:
            raise errors.InvalidArgumentError(
                f"these graphs were built from different probe sets ({a.graph.n_samples} and "
                f"{b.graph.n_samples} samples) and cannot be compared node by node"
            )

        result = self._comparison(a, b, min_jaccard)
        payload = dict(
            result,
            min_jaccard=min_jaccard,
            a={"run": run, "layer": layer, "epoch": epoch, "nodes": a.graph.n_nodes},
            b={"run": run2, "layer": layer2, "epoch": epoch2, "nodes": b.graph.n_nodes},
        )
        return _respond_json(request, payload)

    def _comparison(self, a: GraphEntry, b: GraphEntry, min_jaccard: float) -> dict[str, Any]:
        def compare() -> dict[str, Any]:
            from topoact_lightning.engine.compare import compare_graphs

            return compare_graphs(a.graph, b.graph, min_jaccard=min_jaccard).to_dict()

        return self.comparisons.get_or_create((a.key, b.key, min_jaccard), compare)

    @_route
    def _serve_metrics(self, request):
        ctx, eid = self._where(request)
        run, layer = _arg(request, "run"), _arg(request, "layer")
        rows = self.store.all_graphs(ctx, eid, run, layer)
        names = [*GRAPH_METRICS, "unassigned", "dead_units", "effective_rank", "distance", "accuracy", "mean_loss"]
        present = {k for _, entry, _ in rows if entry for k in entry.metrics} | {"distance"}
        names = [n for n in names if n in present] + sorted(present - set(names))
        metrics = {n: [entry.metrics.get(n) if entry else None for _, entry, _ in rows] for n in names}
        # How much the graph changed since the previous logged epoch (compare_graphs' distance, 0 = same nodes).
        change: list[float | None] = [None]
        for (_, prev, _), (_, cur, _) in zip(rows[:-1], rows[1:], strict=True):
            ok = prev is not None and cur is not None and prev.graph.n_samples == cur.graph.n_samples
            change.append(self._comparison(prev, cur, DEFAULT_MIN_JACCARD)["distance"] if ok else None)
        metrics["distance"] = change[: len(rows)]
        return _respond_json(
            request,
            {
                "run": run,
                "layer": layer,
                "epochs": [e.step for e, _, _ in rows],
                "wall_times": [e.wall_time for e, _, _ in rows],
                "metrics": metrics,
                "errors": {str(e.step): msg for e, _, msg in rows if msg},
                # The monitor's health warnings for this layer, by epoch (the tab's badge).
                "problems": {str(e.step): entry.problem for e, entry, _ in rows if entry and entry.problem},
            },
        )

    @_route
    def _serve_track(self, request):
        ctx, eid = self._where(request)
        run, layer = _arg(request, "run"), _arg(request, "layer")
        samples = _samples_arg(request)
        rows = self.store.all_graphs(ctx, eid, run, layer)
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
        return _respond_json(
            request,
            {
                "run": run,
                "layer": layer,
                "samples": samples,
                "labels": {str(s): (int(labels[s]) if labels is not None else None) for s in samples},
                "epochs": [e.step for e, _, _ in rows],
                "nodes": {
                    str(e.step): ({str(s): entry.nodes_of(s) for s in samples} if entry else None)
                    for e, entry, _ in rows
                },
                "errors": {str(e.step): msg for e, _, msg in rows if msg},
            },
        )

    @staticmethod
    def _thumbnail_scale(height: int, width: int) -> int:
        return max(1, min(8, math.ceil(MIN_THUMBNAIL_SIDE / max(height, width, 1))))

    @_route
    def _serve_thumbnails_info(self, request):
        ctx, eid = self._where(request)
        run = _arg(request, "run")
        images = self.store.thumbnails(ctx, eid, run)
        n, h, w, c = images.shape
        scale = self._thumbnail_scale(h, w)
        return _respond_json(
            request,
            {
                "run": run,
                "n": n,
                "height": h,
                "width": w,
                "channels": c,
                "png_height": h * scale,
                "png_width": w * scale,
            },
        )

    @_route
    def _serve_thumbnail(self, request):
        ctx, eid = self._where(request)
        run, sample = _arg(request, "run"), _int_arg(request, "sample")
        images = self.store.thumbnails(ctx, eid, run)
        if sample >= len(images):
            raise errors.NotFoundError(
                f"run {run!r} has thumbnails for samples 0 to {len(images) - 1}, not {sample}"
            )
        image = images[sample]
        png = encode_png(upscale(image, self._thumbnail_scale(*image.shape[:2])))
        # Thumbnails never change for a given run; let the browser keep them while the page is open.
        return http_util.Respond(request, png, "image/png", expires=300)

    @_route
    def _serve_static(self, request):
        # Search for the route itself: whatever precedes it (a --path_prefix, /experiment/<id>) is not ours.
        marker = f"/data/plugin/{self.plugin_name}/static/"
        path = request.path
        rel = path[path.index(marker) + len(marker) :] if marker in path else ""
        parts = rel.split("/")
        if not rel or any(p in ("", ".", "..") or p.startswith(".") or "\\" in p for p in parts):
            raise errors.NotFoundError("no such file among the TopoAct front-end files")
        full = os.path.realpath(os.path.join(self.static_dir, *parts))
        if os.path.commonpath([full, self.static_dir]) != self.static_dir or not os.path.isfile(full):
            raise errors.NotFoundError("no such file among the TopoAct front-end files")
        content_type = MIME_TYPES.get(os.path.splitext(full)[1].lower(), "application/octet-stream")
        with open(full, "rb") as f:
            return http_util.Respond(request, f.read(), content_type)
