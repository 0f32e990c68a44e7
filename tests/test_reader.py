"""LogReader and stored activations: what the callback wrote in a real fit reads back equal."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pytest
from _training import DIGITS_CLASSES, DIGITS_LAYERS, probe_pair, read_run, train_digits
from conftest import TRAINED_EPOCHS

from topoact_lightning import LogReader, Mapper
from topoact_lightning.engine.remap import logged_mapper_params, node_agreement
from topoact_lightning.logformat.summary import (
    ACTIVATIONS_TAG_PREFIX,
    SummaryFormatError,
    activations_tag,
    decode_activations,
    encode_activations,
    layer_of_tag,
)


# ------------------------------------------------------------------------------------------ the codec
def test_activations_round_trip_within_the_documented_precision():
    rng = np.random.default_rng(0)
    x = (rng.normal(size=(50, 17)) * rng.lognormal(0, 4, size=(50, 1))).astype(np.float32)
    x[3] = 0.0
    y = decode_activations(encode_activations(x))
    assert y.shape == x.shape and y.dtype == np.float32
    bound = 2**-11 * np.abs(x).max(axis=1, keepdims=True)
    assert np.all(np.abs(y - x) <= bound)
    assert np.all(y[3] == 0)
    # Row norms (the L2-norm lens) stay within 0.05%.
    norms = np.linalg.norm(x, axis=1)
    assert np.allclose(np.linalg.norm(y, axis=1), norms, rtol=5e-4, atol=0)


def test_large_activations_do_not_overflow_float16():
    x = np.array([[1e9, -3e8, 1.0]], dtype=np.float32)
    y = decode_activations(encode_activations(x))
    assert np.isfinite(y).all() and abs(y[0, 0] - 1e9) <= 1e9 * 2**-11


@pytest.mark.parametrize("bad", [np.ones(3), np.array([[np.nan, 1.0]])])
def test_encoding_refuses_what_it_cannot_store(bad):
    with pytest.raises(ValueError, match="activations must be"):
        encode_activations(bad)


def test_corrupt_activation_blobs_raise_a_format_error():
    blobs = encode_activations(np.ones((4, 3), dtype=np.float32))
    with pytest.raises(SummaryFormatError, match="unreadable activations"):
        decode_activations([blobs[0], blobs[1], blobs[2][:-3]])
    with pytest.raises(SummaryFormatError, match="unknown encoding"):
        decode_activations([b'{"n": 4, "d": 3, "encoding": "f8"}', blobs[1], blobs[2]])


def test_activation_tags_are_encoded_like_graph_tags():
    name = '100% "odd"\\name\n'
    tag = activations_tag(name)
    assert tag.startswith(ACTIVATIONS_TAG_PREFIX) and '"' not in tag and "\n" not in tag
    assert layer_of_tag(tag) == name


# ------------------------------------------------------------------------------------------ a real fit
@pytest.fixture(scope="module")
def fitted(tmp_path_factory: pytest.TempPathFactory):
    """One epoch on the digits with the probe's exact fc1 activations of the trained model kept."""
    from topoact_lightning import TopoActMonitor

    logdir = tmp_path_factory.mktemp("reader_logs")
    inputs, labels = probe_pair()
    monitor = TopoActMonitor(layers=DIGITS_LAYERS, probe=(inputs, labels), class_names=DIGITS_CLASSES)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        trainer = train_digits(logdir, callbacks=[monitor], epochs=1)
    model = trainer.lightning_module.eval()
    captured = {}

    def keep(module, args, output) -> None:  # a hook returning a value would replace the output
        captured["fc1"] = output.detach().numpy()

    handle = model.fc1.register_forward_hook(keep)
    import torch

    with torch.no_grad():
        model(inputs)
    handle.remove()
    return logdir / "run", captured["fc1"]


@pytest.mark.slow
def test_reader_reads_back_what_the_callback_wrote(fitted):
    run_dir, exact_fc1 = fitted
    log = LogReader(run_dir)
    expected = read_run(run_dir)
    assert log.layers == DIGITS_LAYERS  # watch order
    assert log.class_names == DIGITS_CLASSES
    _, labels = probe_pair()
    assert np.array_equal(log.labels, labels.numpy())
    for layer in DIGITS_LAYERS:
        assert log.steps(layer) == [0, 1] == log.activation_steps(layer)
        for step in (0, 1):
            assert log.graph(layer, step).to_bytes() == expected["graphs"][layer][step].to_bytes()
            assert set(log.annotations(layer, step)) == {"diagnostics", "problem", "findings"}
            x = log.activations(layer, step)
            assert x.shape[0] == len(labels) and x.dtype == np.float32
        metrics = log.metrics(layer)
        assert sorted(metrics) == [0, 1]
        assert metrics[1]["nodes"] == log.graph(layer, 1).n_nodes
        assert "effective_rank" in metrics[1]
    # The stored matrix is the one the graph was built from, within the documented precision.
    stored = log.activations("fc1", 1)
    assert stored.shape == exact_fc1.shape
    assert np.all(np.abs(stored - exact_fc1) <= 2**-11 * np.abs(exact_fc1).max(axis=1, keepdims=True) + 1e-6)
    assert log.thumbnails().shape[0] == len(labels)


@pytest.mark.slow
def test_remapping_the_stored_activations_reproduces_the_logged_graph(fitted):
    log = LogReader(fitted[0])
    for layer in DIGITS_LAYERS:
        logged = log.graph(layer, 1)
        again = Mapper(**logged_mapper_params(logged.params)).fit_graph(
            log.activations(layer, 1), labels=log.labels, class_names=log.class_names
        )
        assert node_agreement(logged, again) > 0.95


@pytest.mark.slow
def test_store_activations_false_writes_no_activation_tag(tmp_path: Path):
    from topoact_lightning import TopoActMonitor

    monitor = TopoActMonitor(layers=["fc1"], probe=probe_pair(), store_activations=False)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        train_digits(tmp_path, callbacks=[monitor], epochs=1)
    log = LogReader(tmp_path / "run")
    assert log.steps("fc1") == [0, 1] and log.activation_steps("fc1") == []
    with pytest.raises(KeyError, match="no stored activations"):
        log.activations("fc1", 1)


@pytest.mark.slow
def test_a_matrix_over_the_budget_is_not_stored_and_warned_once_per_layer(tmp_path: Path):
    from topoact_lightning import TopoActMonitor

    monitor = TopoActMonitor(layers=["fc1"], probe=probe_pair(), store_activations=100)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        train_digits(tmp_path, callbacks=[monitor], epochs=1)
    said = [str(w.message) for w in caught if "store_activations' budget of 100 bytes" in str(w.message)]
    assert len(said) == 1 and "'fc1'" in said[0], said
    log = LogReader(tmp_path / "run")
    assert log.steps("fc1") == [0, 1] and log.activation_steps("fc1") == []


def test_reader_names_runs_below_a_dir_without_event_files(tmp_path: Path):
    (tmp_path / "version_0").mkdir()
    (tmp_path / "version_0" / "events.out.tfevents.1").write_bytes(b"")
    with pytest.raises(FileNotFoundError, match="version_0"):
        LogReader(tmp_path)


@pytest.mark.slow
def test_the_shared_trained_run_stores_activations_for_every_graph(trained_logdir: Path):
    log = LogReader(trained_logdir / "run")
    for layer in DIGITS_LAYERS:
        assert log.activation_steps(layer) == log.steps(layer) == list(range(TRAINED_EPOCHS + 1))


@pytest.mark.slow
def test_the_readme_example_runs_on_a_real_run(trained_logdir: Path, tmp_path: Path, monkeypatch, capsys):
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    section = readme[readme.index("## Stored activations and `LogReader`") :]
    code = section[
        section.index("```python") + len("```python") : section.index("```\n", section.index("```python") + 9)
    ]
    monkeypatch.chdir(tmp_path)
    exec(code.replace('"lightning_logs/version_0"', repr(str(trained_logdir / "run"))), {})
    logged, finer = (int(v) for v in capsys.readouterr().out.split()[:2])
    assert finer > logged  # 30 half-overlapping intervals instead of 20 x 30%
    assert (tmp_path / "finer.bin").stat().st_size > 0
