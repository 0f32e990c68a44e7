"""The ``projection`` route: each epoch's stored activations in 2-D (PCA, or t-SNE), aligned along the epochs.

Synthetic runs through the plugin in process (fast), the shared real training run checked against the engine
applied to ``LogReader.activations`` (slow: the fixture trains), and real ``tensorboard`` processes on both data
back ends (slow).
"""

from __future__ import annotations

import json
import os

import numpy as np
import pytest
from tensorboard import errors
from tensorboard.context import RequestContext
from topoact_tensorboard import projections
from topoact_tensorboard.payloads import round_coordinates
from torch.utils.tensorboard import SummaryWriter

from tests._tensorboard import fetch, tensorboard_process
from tests.test_plugin_routes import BASE, get_error, get_json, make_app, synthetic_graph
from topoact_lightning import LogReader
from topoact_lightning.engine.projection import pca_2d, procrustes_align, tsne_2d
from topoact_lightning.logformat import summary

N = 30  # the synthetic graphs' sample count
STEPS = [0, 1, 2, 5]


def activations_at(step: int) -> np.ndarray:
    """A 3-cluster cloud in 6-D whose orientation turns and flips from one step to the next."""
    rng = np.random.default_rng(step)
    base = np.random.default_rng(99).normal(size=(N, 6)) * [4.0, 2.0, 1.0, 0.3, 0.2, 0.1]
    q, _ = np.linalg.qr(rng.normal(size=(6, 6)))
    return (base @ q + 0.01 * rng.normal(size=(N, 6))).astype(np.float32)


def write_projection_logs(logdir) -> dict[int, np.ndarray]:
    """Run ``proj``: graphs of ``fc1`` at :data:`STEPS` with stored activations, except step 2's, which are
    corrupt; run ``bare``: a graph without stored activations. Returns the matrices as stored (decoded)."""
    stored = {}
    writer = SummaryWriter(os.path.join(logdir, "proj"))
    for step in STEPS:
        g = synthetic_graph(step)
        summary.write_summary(writer, summary.graph_summary("fc1", g.to_bytes()), step)
        blobs = summary.encode_activations(activations_at(step))
        if step == 2:
            blobs = [blobs[0], b"not zlib", blobs[2]]
        else:
            stored[step] = summary.decode_activations(blobs)
        summary.write_summary(writer, summary.activations_summary("fc1", blobs), step)
    writer.close()
    writer = SummaryWriter(os.path.join(logdir, "bare"))
    summary.write_summary(writer, summary.graph_summary("fc1", synthetic_graph(0).to_bytes()), 0)
    writer.close()
    return stored


@pytest.fixture(scope="module")
def logs(tmp_path_factory):
    logdir = tmp_path_factory.mktemp("projection")
    return logdir, write_projection_logs(logdir)


@pytest.fixture(scope="module")
def app(logs):
    return make_app(logs[0])


@pytest.fixture(scope="module")
def client(app):
    return app[0]


def coords(body: dict) -> np.ndarray:
    return np.column_stack([body["x"], body["y"]])


def close(got: np.ndarray, want: np.ndarray) -> None:
    # The route keeps 4 significant digits of the largest coordinate (and float32 in its cache).
    np.testing.assert_allclose(got, want, atol=1e-3 * np.abs(want).max(), rtol=0)


# ------------------------------------------------------------------------------------------- synthetic runs
def test_the_answer_and_the_alignment_chain(client, logs):
    _, stored = logs
    first = get_json(client, "projection", run="proj", layer="fc1", epoch=0)
    assert set(first) == {"run", "layer", "epoch", "method", "x", "y", "labels", "aligned_to"}
    assert (first["run"], first["layer"], first["epoch"], first["method"]) == ("proj", "fc1", 0, "pca")
    assert first["aligned_to"] is None and len(first["x"]) == len(first["y"]) == N
    assert first["labels"] == synthetic_graph(0).labels.tolist()
    close(coords(first), pca_2d(stored[0]))
    second = get_json(client, "projection", run="proj", layer="fc1", epoch=1)
    assert second["aligned_to"] == 0
    close(coords(second), procrustes_align(pca_2d(stored[1]), coords(first)))
    # Aligned, the two epochs (the same cloud turned and flipped) are nearly the same picture; unaligned not.
    assert np.abs(coords(second) - coords(first)).max() < 0.05 * np.abs(coords(first)).max()
    assert np.abs(pca_2d(stored[1]) - coords(first)).max() > 0.3 * np.abs(coords(first)).max()


def test_an_unreadable_epoch_is_a_404_and_the_next_one_starts_a_new_chain(client, logs):
    _, stored = logs
    assert "unreadable" in get_error(client, "projection", 404, run="proj", layer="fc1", epoch=2)
    after = get_json(client, "projection", run="proj", layer="fc1", epoch=5)
    assert after["aligned_to"] is None
    close(coords(after), pca_2d(stored[5]))


def test_the_chain_is_the_same_whatever_was_asked_first(logs):
    # A fresh plugin asked for epoch 1 first computes the chain from epoch 0: the same answer as step by step.
    client, plugin = make_app(logs[0])
    direct = get_json(client, "projection", run="proj", layer="fc1", epoch=1)
    assert len(plugin.projections.aligned) == 2
    plugin.projections.aligned.clear()
    get_json(client, "projection", run="proj", layer="fc1", epoch=0)
    assert get_json(client, "projection", run="proj", layer="fc1", epoch=1) == direct
    misses = plugin.projections.aligned.misses
    assert get_json(client, "projection", run="proj", layer="fc1", epoch=1) == direct
    assert plugin.projections.aligned.misses == misses  # cached


def test_tsne_is_aligned_onto_its_epochs_pca_and_cached(app, logs):
    client, plugin = app
    _, stored = logs
    body = get_json(client, "projection", run="proj", layer="fc1", epoch=1, method="tsne")
    assert body["method"] == "tsne" and body["aligned_to"] == 1
    # t-SNE is chaotic in its start: the aligned PCA exactly as the route keeps it (float32), not as it answers.
    pca0 = pca_2d(stored[0]).astype(np.float32)
    pca = procrustes_align(pca_2d(stored[1]), pca0).astype(np.float32).astype(np.float64)
    close(coords(body), procrustes_align(tsne_2d(stored[1], init=pca), pca))
    misses = plugin.projections.tsne.misses
    assert get_json(client, "projection", run="proj", layer="fc1", epoch=1, method="tsne") == body
    assert plugin.projections.tsne.misses == misses


def test_concurrent_tsne_requests_compute_it_once(logs, monkeypatch):
    import threading
    import time

    client, plugin = make_app(logs[0])
    calls = []
    real = projections.tsne_2d

    def counted(*args, **kwargs):
        calls.append(1)
        return real(*args, **kwargs)

    class SlowRelease:
        """The t-SNE lock, with every request waiting on it before the first t-SNE ends, and a pause after each
        release: a request that stored its result only after releasing the lock would let a waiting one find
        the cache empty and run the same t-SNE again."""

        def __init__(self) -> None:
            self.lock, self.waiting = threading.Lock(), threading.Semaphore(0)

        def __enter__(self):
            self.waiting.release()
            self.lock.acquire()
            return self

        def __exit__(self, *exc) -> None:
            self.lock.release()
            time.sleep(0.2)

    gate = SlowRelease()

    def counted_once_all_wait(*args, **kwargs):
        if not calls:
            for _ in range(3):  # every request at the lock (or the test's threads failed to start: go on)
                gate.waiting.acquire(timeout=10)
        return counted(*args, **kwargs)

    monkeypatch.setattr(projections, "tsne_2d", counted_once_all_wait)
    monkeypatch.setattr(plugin.projections, "_tsne_lock", gate)
    get_json(client, "projection", run="proj", layer="fc1", epoch=0)  # the PCA chain, before the race
    answers = []

    def ask():
        answers.append(plugin.projection_impl(RequestContext(), "", "proj", "fc1", 0, "tsne"))

    threads = [threading.Thread(target=ask) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(calls) == 1 and len(answers) == 3
    assert answers[0] == answers[1] == answers[2]


@pytest.mark.parametrize(
    ("params", "status", "reason"),
    [
        ({"run": "proj", "layer": "fc1"}, 400, "missing parameter 'epoch'"),
        ({"run": "proj", "layer": "fc1", "epoch": "x"}, 400, "integer step"),
        ({"run": "proj", "layer": "fc1", "epoch": "0", "method": "umap"}, 400, "pca, tsne"),
        ({"run": "proj", "layer": "fc1", "epoch": "3"}, 404, "epochs with stored activations: 0, 1, 2, 5"),
        ({"run": "proj", "layer": "fc9", "epoch": "0"}, 404, "no stored activations of layer 'fc9'"),
        ({"run": "nope", "layer": "fc1", "epoch": "0"}, 404, "no TopoAct data for run 'nope'"),
        ({"run": "bare", "layer": "fc1", "epoch": "0"}, 404, "store_activations"),
    ],
)
def test_bad_requests(client, params, status, reason):
    assert reason in get_error(client, "projection", status, **params)


def test_tsne_of_too_many_samples_is_refused(client, monkeypatch):
    monkeypatch.setattr(projections, "MAX_TSNE_SAMPLES", N - 1)
    text = get_error(client, "projection", 400, run="proj", layer="fc1", epoch=0, method="tsne")
    assert "use method=pca" in text


def test_the_caches_stay_bounded(logs, monkeypatch):
    client, plugin = make_app(logs[0])
    computed = []
    real = projections.pca_2d
    monkeypatch.setattr(projections, "pca_2d", lambda x: computed.append(1) or real(x))
    plugin.projections.aligned.maxsize = 2
    first = {}
    for step in (0, 1, 5, 0, 1):
        body = get_json(client, "projection", run="proj", layer="fc1", epoch=step)
        assert len(plugin.projections.aligned) <= 2
        # Epochs 0 and 1 were evicted by epoch 5's chain: computed again, they are the answers given first.
        assert first.setdefault(step, body) == body
    assert len(computed) == 5  # 0, 1, 5 (step 2 is unreadable), then 0 and 1 again: they had been evicted


def test_impl_answers_without_http(app):
    client, plugin = app
    body = plugin.projection_impl(RequestContext(), "", "proj", "fc1", 1, "pca")
    assert json.loads(json.dumps(body)) == get_json(client, "projection", run="proj", layer="fc1", epoch=1)
    with pytest.raises(errors.NotFoundError, match="store_activations"):
        plugin.projection_impl(RequestContext(), "", "bare", "fc1", 0)


def test_round_coordinates_keeps_four_significant_digits():
    values = np.array([1234.5678, 0.012345, -99.99])
    assert round_coordinates(values) == [1235.0, 0.0, -100.0]
    assert round_coordinates(np.array([0.5, 0.123456])) == [0.5, 0.1235]
    assert round_coordinates(np.array([])) == []


def test_chain_keys_name_every_earlier_epoch_in_constant_size():
    from topoact_tensorboard.logdata import Epoch

    series = [Epoch(step, 100.0 + step, (f"k{step}",)) for step in range(2000)]
    keys = projections._chain_keys("", "run", "tag", series)
    assert len(keys) == len(series) and len(set(keys)) == len(keys)
    assert max(len(repr(k)) for k in keys) <= 2 * len(repr(keys[1]))  # not growing with the epoch
    # A rewritten early epoch (a new wall time) changes the key of every epoch after it, and none before it.
    rewritten = [series[0], Epoch(1, 999.0, ("k1",)), *series[2:]]
    again = projections._chain_keys("", "run", "tag", rewritten)
    assert again[0] == keys[0] and all(a != b for a, b in zip(again[1:], keys[1:], strict=True))
    assert projections._chain_keys("", "run", "tag", series[:10]) == keys[:10]


# ------------------------------------------------------------------------------------------ the real training
@pytest.mark.slow
def test_the_trained_run_matches_the_engine_on_logreader_activations(trained_logdir):
    client, _ = make_app(trained_logdir)
    log = LogReader(trained_logdir / "run")
    for layer in log.layers:
        prev, prev_step = None, None
        for step in log.activation_steps(layer):
            body = get_json(client, "projection", run="run", layer=layer, epoch=step)
            raw = pca_2d(log.activations(layer, step))
            close(coords(body), raw if prev is None else procrustes_align(raw, prev))
            assert body["aligned_to"] == prev_step
            assert body["labels"] == log.labels.tolist()
            prev, prev_step = coords(body), step


@pytest.mark.slow
@pytest.mark.parametrize("backend", [[], ["--load_fast=false"]], ids=["rust", "python"])
def test_a_real_tensorboard_serves_projections(logs, backend):
    logdir, stored = logs
    with tensorboard_process(logdir, *backend) as tb:
        url = f"{tb.base}{BASE}projection?run=proj&layer=fc1&epoch="
        status, ctype, body = tb.wait_for(lambda: (r := fetch(url + "1"))[0] == 200 and r, "the projection")
        assert ctype.startswith("application/json")
        second = json.loads(body)
        first = json.loads(fetch(url + "0")[2])
        assert second["aligned_to"] == 0
        close(coords(first), pca_2d(stored[0]))
        close(coords(second), procrustes_align(pca_2d(stored[1]), coords(first)))
        tsne = json.loads(fetch(url + "1&method=tsne")[2])
        assert tsne["method"] == "tsne" and len(tsne["x"]) == N
        assert fetch(url + "1&method=umap")[0] == 400
        assert fetch(url + "3")[0] == 404 and fetch(url + "2")[0] == 404
        assert b"store_activations" in fetch(f"{tb.base}{BASE}projection?run=bare&layer=fc1&epoch=0")[2]
