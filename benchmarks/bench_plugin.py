"""Latency of the TopoAct plugin's graph route for a 1,000-node graph, beside reading the raw blob alone.

For each of TensorBoard's data back ends (the Python event multiplexer and the Rust data server over gRPC):

- ``raw``: ``data_provider.read_blob`` of the graph's payload, the floor any route must pay;
- ``cold``: the ``graph`` route on a graph not yet decoded (read + decode + payload + JSON + gzip);
- ``warm``: the same route again (decoded graph and response body cached).

First through TensorBoard's WSGI app in this process, then through a real ``tensorboard`` process over HTTP
(``--load_fast=auto`` and ``--load_fast=false``), where the ratio is to the in-process raw read of the same back
end. Requests send ``Accept-Encoding: gzip`` as browsers do.

Run: ``.venv/bin/python benchmarks/bench_plugin.py`` (about a minute; ``--quick`` for a smoke run).
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import statistics
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import numpy as np
from tensorboard.backend import application
from tensorboard.backend.event_processing import data_ingester, data_provider, plugin_event_multiplexer
from tensorboard.context import RequestContext
from tensorboard.data import provider as tb_provider
from tensorboard.data import server_ingester
from tensorboard.plugins import base_plugin
from tensorboard.util import grpc_util
from topoact_tensorboard.plugin import TopoActPlugin
from torch.utils.tensorboard import SummaryWriter
from werkzeug import test as werkzeug_test
from werkzeug import wrappers

from topoact_lightning.engine.graph import MapperGraph
from topoact_lightning.logformat import summary

RUN, LAYER = "bench", "features"
ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # for tests._tensorboard, the tensorboard-process helper the tests use too


def big_graph(seed: int, n_nodes: int = 1000, n_samples: int = 10_000) -> MapperGraph:
    """A graph shaped like a fine 1-D Mapper cover: overlapping windows of 10-40 samples, 10 classes, 2 extras."""
    rng = np.random.default_rng(seed)
    starts = np.sort(rng.integers(0, n_samples - 40, n_nodes))
    members = [np.arange(s, s + rng.integers(10, 40)) for s in starts]
    n_elements = n_nodes // 2
    lo = np.linspace(0.0, 1.0, n_elements, endpoint=False)
    return MapperGraph(
        n_samples=n_samples,
        members=members,
        node_cover=np.minimum(np.arange(n_nodes) // 2, n_elements - 1),
        cover_bounds=np.stack([lo, lo + 3.0 / n_elements], axis=1)[:, None, :],
        lens=np.linspace(0.0, 1.0, n_samples, dtype=np.float32),
        labels=rng.integers(0, 10, n_samples),
        class_names=[f"class {i}" for i in range(10)],
        extras={"loss": rng.random(n_samples), "correct": (rng.random(n_samples) > 0.2).astype(np.float32)},
        params={"seed": seed},
    )


def write_logs(logdir: str, epochs: int) -> MapperGraph:
    writer = SummaryWriter(os.path.join(logdir, RUN))
    for e in range(epochs):
        g = big_graph(e)
        summary.write_summary(writer, summary.graph_summary(LAYER, g.to_bytes()), e)
    writer.close()
    return g


def ms(xs: list[float]) -> float:
    return 1000.0 * statistics.median(xs)


def timed(fn) -> float:
    t = time.perf_counter()
    fn()
    return time.perf_counter() - t


# ----------------------------------------------------------------------------------------------- providers
def multiplexer_provider(logdir: str):
    mux = plugin_event_multiplexer.EventMultiplexer(
        size_guidance=data_ingester.DEFAULT_SIZE_GUIDANCE,
        tensor_size_guidance={**data_ingester.DEFAULT_TENSOR_SIZE_GUIDANCE, summary.PLUGIN_NAME: 0},
    )
    mux.AddRunsFromDirectory(logdir)
    mux.Reload()
    return data_provider.MultiplexerDataProvider(mux, logdir)


def rust_provider(logdir: str, epochs: int):
    """The Rust data server TensorBoard would start (``--load_fast=auto``), reached over gRPC from here."""
    ingester = server_ingester.SubprocessServerDataIngester(
        server_binary=server_ingester.get_server_binary(),
        logdir=logdir,
        reload_interval=0,  # load once
        channel_creds_type=grpc_util.ChannelCredsType.LOCAL,
        samples_per_plugin={summary.PLUGIN_NAME: 0},
    )
    ingester.start()
    dp = ingester.data_provider
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:  # the server loads the logdir in the background
        seqs = dp.read_blob_sequences(
            RequestContext(), experiment_id="", plugin_name=summary.PLUGIN_NAME, downsample=1000
        )
        if len(seqs.get(RUN, {}).get(summary.graph_tag(LAYER), [])) == epochs:
            return dp
        time.sleep(0.2)
    raise RuntimeError("the data server did not load the benchmark logs in 60 s")


def first_blob_key(dp) -> str:
    seqs = dp.read_blob_sequences(
        RequestContext(),
        experiment_id="",
        plugin_name=summary.PLUGIN_NAME,
        downsample=1000,
        run_tag_filter=tb_provider.RunTagFilter(runs=[RUN], tags=[summary.graph_tag(LAYER)]),
    )
    return seqs[RUN][summary.graph_tag(LAYER)][0].values[0].blob_key


def cold_breakdown(dp, repeats: int) -> dict[str, float]:
    """Medians (ms) of the steps of a cold graph request, outside any route."""
    from topoact_tensorboard.payloads import graph_payload, to_json

    key, ctx = first_blob_key(dp), RequestContext()
    steps: dict[str, list[float]] = {"read_blob": [], "from_bytes": [], "payload": [], "json": [], "gzip": []}
    for _ in range(repeats):
        t0 = time.perf_counter()
        data = dp.read_blob(ctx, blob_key=key)
        t1 = time.perf_counter()
        g = MapperGraph.from_bytes(data)
        t2 = time.perf_counter()
        d = graph_payload(g)
        t3 = time.perf_counter()
        text = to_json(d).encode()
        t4 = time.perf_counter()
        gzip.compress(text, compresslevel=3, mtime=0)
        t5 = time.perf_counter()
        for name, dt in zip(steps, (t1 - t0, t2 - t1, t3 - t2, t4 - t3, t5 - t4), strict=True):
            steps[name].append(dt)
    return {k: ms(v) for k, v in steps.items()}


def raw_read_seconds(dp, repeats: int) -> list[float]:
    ctx = RequestContext()
    seqs = dp.read_blob_sequences(
        ctx,
        experiment_id="",
        plugin_name=summary.PLUGIN_NAME,
        downsample=1000,
        run_tag_filter=tb_provider.RunTagFilter(runs=[RUN], tags=[summary.graph_tag(LAYER)]),
    )
    key = seqs[RUN][summary.graph_tag(LAYER)][0].values[0].blob_key
    return [timed(lambda: dp.read_blob(ctx, blob_key=key)) for _ in range(repeats)]


def wsgi_seconds(dp, logdir: str, epochs: int, repeats: int) -> tuple[list[float], list[float]]:
    plugin = TopoActPlugin(base_plugin.TBContext(logdir=logdir, data_provider=dp))
    client = werkzeug_test.Client(application.TensorBoardWSGI([plugin], data_provider=dp), wrappers.Response)

    def get(epoch: int):
        r = client.get(
            "/data/plugin/topoact/graph",
            query_string={"run": RUN, "layer": LAYER, "epoch": epoch},
            headers={"Accept-Encoding": "gzip"},
        )
        assert r.status_code == 200, r.get_data(as_text=True)
        r.get_data()

    cold = []
    for i in range(repeats):
        plugin.store.graphs.clear()
        cold.append(timed(lambda i=i: get(i % epochs)))
    get(0)
    warm = [timed(lambda: get(0)) for _ in range(repeats)]
    return cold, warm


# ------------------------------------------------------------------------------------------ real process
def http_get(url: str) -> bytes:
    req = urllib.request.Request(url, headers={"Accept-Encoding": "gzip"})
    with urllib.request.urlopen(req, timeout=60) as r:
        body = r.read()
        return gzip.decompress(body) if r.headers.get("Content-Encoding") == "gzip" else body


def server_seconds(logdir: str, epochs: int, repeats: int, *args: str):
    from tests._tensorboard import tensorboard_process

    with tensorboard_process(logdir, *args) as tb:
        plugin = tb.base + "/data/plugin/topoact/"
        tb.wait_for(
            lambda: len(json.loads(http_get(plugin + f"epochs?run={RUN}&layer={LAYER}"))["epochs"]) == epochs,
            f"tensorboard {' '.join(args)} to serve every epoch",
        )
        floor = [timed(lambda: http_get(plugin + "runs")) for _ in range(repeats)]
        cold = [
            timed(lambda e=e: http_get(plugin + f"graph?run={RUN}&layer={LAYER}&epoch={e}"))
            for e in range(epochs)
        ]
        warm = [
            timed(lambda: http_get(plugin + f"graph?run={RUN}&layer={LAYER}&epoch=0")) for _ in range(repeats)
        ]
        return floor, cold, warm


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--epochs", type=int, default=6, help="graphs logged (each is one cold request)")
    parser.add_argument("--quick", action="store_true", help="3 repeats, 3 epochs")
    parser.add_argument("--no-server", action="store_true", help="skip the real tensorboard processes")
    a = parser.parse_args()
    repeats, epochs = (3, 3) if a.quick else (a.repeats, a.epochs)

    with tempfile.TemporaryDirectory(prefix="bench_plugin_") as logdir:
        g = write_logs(logdir, epochs)
        print(
            f"graph: {g.n_nodes} nodes, {g.n_edges} edges, {g.n_samples} samples, payload {len(g.to_bytes()) / 1e3:.0f} kB"
        )
        print(
            f"{epochs} epochs, {repeats} repeats, medians in ms; ratio = route / raw blob read of the same back end\n"
        )
        print(f"{'path':44s} {'raw':>8s} {'cold':>8s} {'warm':>8s} {'cold/raw':>9s} {'warm/raw':>9s}")
        raws = {}
        for name, make in (
            ("python", lambda: multiplexer_provider(logdir)),
            ("rust", lambda: rust_provider(logdir, epochs)),
        ):
            dp = make()
            raw = ms(raw_read_seconds(dp, repeats))
            raws[name] = raw
            cold, warm = (ms(x) for x in wsgi_seconds(dp, logdir, epochs, repeats))
            label = f"WSGI in-process, {name} data provider"
            print(f"{label:44s} {raw:8.2f} {cold:8.2f} {warm:8.2f} {cold / raw:9.1f} {warm / raw:9.1f}")
            if name == "python":
                parts = cold_breakdown(dp, repeats)
                breakdown = ", ".join(f"{k} {v:.1f}" for k, v in parts.items())
        print(f"\ncold path, step by step (python provider, ms): {breakdown}")
        if a.no_server:
            return
        for name, args in (("rust", ()), ("python", ("--load_fast=false",))):
            floor, cold, warm = server_seconds(logdir, epochs, repeats, *args)
            raw, cold, warm = raws[name], ms(cold), ms(warm)
            label = f"tensorboard process, {name} back end"
            print(f"{label:44s} {raw:8.2f} {cold:8.2f} {warm:8.2f} {cold / raw:9.1f} {warm / raw:9.1f}")
            print(f"{'  (HTTP floor: the tiny /runs route)':44s} {'':8s} {'':8s} {ms(floor):8.2f}")
        print(
            "\nwarm = cached: the response body is kept gzipped beside the decoded graph; listings are re-read"
        )


if __name__ == "__main__":
    main()
