"""Findings: each fault kind found where it is and not in near misses, class findings on known graphs, the
tracker's one-warning-per-layer-and-kind rule across a resume, and properties over random activations."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

from topoact_lightning.engine.graph import MapperGraph
from topoact_lightning.engine.mapper import Mapper
from topoact_lightning.errors import TopoActConfigError
from topoact_lightning.monitor.findings import (
    CLASS_KINDS,
    FAULT_KINDS,
    Finding,
    FindingThresholds,
    FindingTracker,
    LayerHistory,
    class_confusion,
    class_findings,
    fault_findings,
    findings_markdown,
    saturated_units,
    saturation_bounds,
    separated_classes,
    suspect_samples,
    unit_states,
)


def kinds(findings) -> list[str]:
    return [f.kind for f in findings]


def relu_layer(n: int = 300, d_in: int = 16, units: int = 32, seed: int = 0) -> np.ndarray:
    """A healthy ReLU layer: He-initialised weights, zero bias, Gaussian inputs."""
    rng = np.random.default_rng(seed)
    return np.maximum(rng.normal(size=(n, d_in)) @ rng.normal(0, np.sqrt(2 / d_in), (d_in, units)), 0)


def history(step_acts: list[np.ndarray], losses: list[float | None], distances=None) -> list[LayerHistory]:
    distances = distances or [None] * len(step_acts)
    return [
        LayerHistory.from_activations(s, x, loss=loss, graph_distance=d)
        for s, (x, loss, d) in enumerate(zip(step_acts, losses, distances, strict=True))
    ]


# ---------------------------------------------------------------------------------------------- dead, constant
def test_a_relu_after_zero_weights_and_bias_one_is_constant_not_dead():
    # The case: every unit fires on every input, at the same value; the weights carry no signal.
    fc = nn.Linear(16, 32)
    with torch.no_grad():
        fc.weight.zero_()
        fc.bias.fill_(1.0)
    x = torch.relu(fc(torch.randn(200, 16))).detach().numpy()
    found = fault_findings(3, "fc", x)
    assert kinds(found) == ["constant"]
    (f,) = found
    assert f.details["share"] == 1.0 and f.details["values"][:3] == [1.0, 1.0, 1.0]
    assert "no signal" in f.message and f.fix and "weights" in f.fix


def test_a_relu_after_bias_minus_ten_is_dead_not_constant():
    fc = nn.Linear(16, 32)
    with torch.no_grad():
        fc.bias.fill_(-10.0)
    x = torch.relu(fc(torch.randn(200, 16))).detach().numpy()
    assert kinds(fault_findings(0, "fc", x)) == ["dead"]


def test_dead_share_at_the_threshold_is_found_and_below_it_is_not():
    x = relu_layer(units=10)
    x[:, :5] = 0.0
    (f,) = fault_findings(0, "fc", x)
    assert (f.kind, f.details["share"], f.details["units"]) == ("dead", 0.5, [0, 1, 2, 3, 4])
    x = relu_layer(units=10)
    x[:, :4] = 0.0
    assert fault_findings(0, "fc", x) == []


def test_a_unit_that_fires_on_one_sample_only_is_alive():
    x = np.zeros((100, 4))
    x[7] = [0.5, 0.1, 2.0, 1e-3]
    dead, constant = unit_states(x)
    assert not dead.any() and not constant.any()


def test_units_that_vary_a_little_are_not_constant():
    rng = np.random.default_rng(1)
    x = 1.0 + 1e-3 * rng.normal(size=(200, 8))  # tiny but real variation around 1
    assert "constant" not in kinds(fault_findings(0, "fc", x))


def test_a_layer_of_zeros_is_all_dead_and_a_varying_negative_unit_is_alive():
    assert kinds(fault_findings(0, "fc", np.zeros((10, 3)))) == ["dead"]
    dead, constant = unit_states(np.array([[-3.0, 5.0], [-1.0, 5.0], [-2.0, 5.0]]))
    assert dead.tolist() == [False, False] and constant.tolist() == [False, True]


# --------------------------------------------------------------------------------------------------- collapsed
def test_samples_along_one_direction_are_collapsed():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(200, 1)) @ rng.normal(size=(1, 16))
    (f,) = fault_findings(0, "fc", x)
    assert f.kind == "collapsed" and f.details["effective_dims"] == pytest.approx(1.0)


def test_samples_on_one_point_with_units_that_still_vary_are_collapsed():
    rng = np.random.default_rng(0)
    x = 5.0 + 1e-6 * rng.normal(size=(200, 16))
    (f,) = fault_findings(0, "fc", x)
    assert f.kind == "collapsed" and f.details["spread"] < 1e-3 and "one point" in f.message


def test_two_comparable_directions_are_not_collapsed():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(200, 2)) @ rng.normal(size=(2, 16))
    assert fault_findings(0, "fc", x) == []


def test_a_layer_of_constant_units_is_constant_not_collapsed():
    assert kinds(fault_findings(0, "fc", np.tile([1.0, 2.0, 3.0], (50, 1)))) == ["constant"]


# --------------------------------------------------------------------------------------------------- saturated
def test_tanh_units_driven_far_past_their_bounds_are_saturated():
    pre = 100 * np.random.default_rng(0).normal(size=(300, 16))
    (f,) = fault_findings(0, "fc", np.tanh(pre))
    assert f.kind == "saturated" and f.details["bounds"] == [-1.0, 1.0] and f.details["share"] == 1.0


def test_sigmoid_units_at_zero_and_one_are_saturated():
    pre = 100 * np.random.default_rng(0).normal(size=(300, 16))
    (f,) = fault_findings(0, "fc", 1 / (1 + np.exp(-pre)))
    assert f.kind == "saturated" and f.details["bounds"] == [0.0, 1.0]


def test_tanh_units_in_their_linear_range_are_not_saturated():
    assert fault_findings(0, "fc", np.tanh(np.random.default_rng(0).normal(size=(300, 16)))) == []


def test_tanh_units_stuck_at_a_bound_beside_swinging_ones_are_saturated_not_constant():
    x = np.tanh(100 * np.random.default_rng(0).normal(size=(300, 16)))
    x[:, :10] = 1.0  # tanh(10) is exactly 1 in float32: most units never leave the bound
    (f,) = fault_findings(0, "fc", x)
    assert f.kind == "saturated" and f.details["share"] == 1.0


def test_a_layer_that_is_merely_small_is_not_saturated():
    x = np.tanh(np.random.default_rng(0).normal(size=(300, 16))) * 0.01  # all within 0.02 of 0
    assert saturation_bounds(x) is None and saturation_bounds(np.abs(x)) is None
    assert fault_findings(0, "fc", x) == []


def test_a_relu_layer_below_one_is_not_taken_for_a_saturated_sigmoid():
    x = relu_layer()
    x = 0.9 * x / x.max()  # in [0, 0.9], many values within 0.02 of 0 and many exactly 0
    assert saturation_bounds(x) is None
    assert fault_findings(0, "fc", x) == []


# ------------------------------------------------------------------------------------------------ not_learning
def test_a_layer_that_stays_the_same_while_the_loss_falls_is_not_learning():
    x = relu_layer()
    found = fault_findings(2, "fc", x, history([x, x.copy(), x.copy()], [2.3, 2.0, 1.5]))
    assert kinds(found) == ["not_learning"]
    assert found[0].details["since_step"] == 0 and found[0].details["activation_change"] == 0.0


def test_not_learning_near_misses():
    x = relu_layer()
    moved = x * 1.001
    falling = [2.3, 2.0, 1.5]
    assert fault_findings(2, "fc", x, history([x, x, x], [2.0, 2.0, 2.0])) == []  # nothing learns at all
    assert fault_findings(2, "fc", x, history([x, moved, x], falling)) == []  # the layer moved
    assert fault_findings(1, "fc", x, history([x, x], falling[:2])) == []  # too few steps
    assert fault_findings(2, "fc", x, history([x, x, x], [None, 2.0, 1.5])) == []  # loss unknown at step 0
    assert fault_findings(2, "fc", x, history([x, x, x], falling, [None, 0.0, 0.3])) == []  # the graph moved


def test_a_frozen_first_layer_trained_in_torch_is_not_learning_and_the_others_are():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(8, 32), nn.ReLU(), nn.Linear(32, 32), nn.ReLU(), nn.Linear(32, 3))
    model[0].requires_grad_(False)
    x = torch.randn(256, 8)
    y = (x[:, 0] > 0).long() + (x[:, 1] > 0).long()  # learnable through the frozen random features
    opt = torch.optim.SGD([p for p in model.parameters() if p.requires_grad], lr=0.2)
    tracker = FindingTracker()
    found = []
    for step in range(4):
        if step:
            for _ in range(20):
                opt.zero_grad()
                loss = nn.functional.cross_entropy(model(x), y)
                loss.backward()
                opt.step()
        with torch.no_grad():
            h1 = model[1](model[0](x))
            h2 = model[3](model[2](h1))
            step_loss = float(nn.functional.cross_entropy(model(x), y)) if step else None
        for layer, acts in (("fc1", h1), ("fc2", h2)):
            found += tracker.observe(step, layer, acts.numpy(), loss=step_loss)
    assert [(f.layer, f.kind, f.step) for f in found] == [("fc1", "not_learning", 3)]


# --------------------------------------------------------------------------------------------------- exploding
def test_a_norm_grown_a_thousandfold_within_the_window_is_exploding():
    x = relu_layer()
    (f,) = fault_findings(2, "fc", 1500 * x, history([x, 10 * x, 1500 * x], [None] * 3))
    assert (
        f.kind == "exploding" and f.details["growth"] == pytest.approx(1500) and f.details["since_step"] == 0
    )


def test_exploding_near_misses():
    x = relu_layer()
    assert fault_findings(2, "fc", 900 * x, history([x, 10 * x, 900 * x], [None] * 3)) == []
    # Grown 5000x, but from a step outside the window of 3.
    steps = [x, 100 * x, 200 * x, 400 * x, 5000 * x]
    assert fault_findings(4, "fc", 5000 * x, history(steps, [None] * 5)) == []


def test_nan_activations_are_exploding_and_do_not_break_the_other_detectors():
    x = relu_layer()
    x[3, 2] = np.nan
    (f,) = fault_findings(1, "fc", x, history([relu_layer(), x], [None, None]))
    assert f.kind == "exploding" and f.details["non_finite"] == pytest.approx(1 / 300)


def test_only_the_layer_whose_weights_grow_and_the_layers_after_it_explode():
    torch.manual_seed(0)
    fc1, fc2, fc3 = nn.Linear(8, 32), nn.Linear(32, 32), nn.Linear(32, 16)
    x = torch.randn(200, 8)
    tracker = FindingTracker()
    found = []
    for step in range(4):
        with torch.no_grad():
            if step:
                fc2.weight.mul_(12.0)  # the fault: fc2's weights grow 12x per logged step
                fc2.bias.mul_(12.0)
            h1 = torch.relu(fc1(x))
            h2 = torch.relu(fc2(h1))
            h3 = torch.relu(fc3(h2))
        for layer, acts in (("fc1", h1), ("fc2", h2), ("fc3", h3)):
            found += tracker.observe(step, layer, acts.numpy())
    assert ("fc2", "exploding", 3) in [(f.layer, f.kind, f.step) for f in found]
    assert not [f for f in found if f.layer == "fc1"]


# ------------------------------------------------------------------------------------------ faults, layer by layer
@pytest.mark.parametrize("fault", ["dead", "constant", "collapsed", "saturated"])
def test_a_fault_injected_in_the_middle_layer_is_found_there_and_not_before_it(fault):
    torch.manual_seed(0)
    fc1, fc2 = nn.Linear(8, 32), nn.Linear(32, 32)
    act2: nn.Module = nn.ReLU()
    with torch.no_grad():
        if fault == "dead":
            fc2.bias.fill_(-10.0)
        elif fault == "constant":
            fc2.weight.zero_()
            fc2.bias.fill_(1.0)
        elif fault == "collapsed":
            fc2.weight.copy_(torch.randn(32, 1) @ torch.randn(1, 32))  # rank 1
            fc2.bias.zero_()
            act2 = nn.Identity()
        elif fault == "saturated":
            fc2.weight.mul_(100.0)
            act2 = nn.Tanh()
    x = torch.randn(300, 8)
    with torch.no_grad():
        h1 = torch.relu(fc1(x))
        h2 = act2(fc2(h1))
    assert fault_findings(0, "fc1", h1.numpy()) == []
    assert kinds(fault_findings(0, "fc2", h2.numpy())) == [fault]


# ------------------------------------------------------------------------------------------------ class findings
def blobs_graph(labels: np.ndarray, n_per_blob: int = 60, seed: int = 0) -> MapperGraph:
    """A Mapper graph of three well-separated 8-D blobs of ``n_per_blob`` samples each, with the given labels."""
    rng = np.random.default_rng(seed)
    centres = np.array([[0.0] * 8, [20.0] * 8, [-20.0] + [0.0] * 7])
    x = np.concatenate([c + rng.normal(size=(n_per_blob, 8)) for c in centres]).astype(np.float32)
    return Mapper(n_intervals=6, overlap=0.3).fit(x, labels=labels, class_names=["a", "b", "c"]).graph_


def test_two_classes_sharing_a_blob_are_the_top_confusion_and_the_third_is_separated():
    rng = np.random.default_rng(0)
    labels = np.concatenate([rng.integers(0, 2, 60), rng.integers(0, 2, 60), np.full(60, 2)])
    g = blobs_graph(labels)
    pairs = class_confusion(g)
    assert pairs[0]["classes"] == [0, 1] and pairs[0]["share"] > 0.9
    assert all(2 not in p["classes"] for p in pairs)
    assert list(separated_classes(g)) == [2]
    found = class_findings(5, "fc", g)
    assert kinds(found) == ["confusion"] and found[0].details["class_names"] == ["a", "b"]
    assert set(found[0].details["nodes"]) <= set(range(g.n_nodes))


def test_a_class_in_a_blob_of_its_own_has_a_component_and_one_sharing_nodes_has_none():
    labels = np.repeat([0, 1, 2], 60)
    sep = separated_classes(blobs_graph(labels))
    assert sorted(sep) == [0, 1, 2]
    assert all(r["shape"] == "component" and r["share"] >= 0.5 for r in sep.values())


def test_a_branch_attached_through_a_mixed_node_counts_as_separation():
    # Nodes 0-1 pure in class 0, node 2 mixed, node 3 pure in class 1: a path 0-1-2-3.
    members = [np.arange(0, 10), np.arange(8, 20), np.arange(18, 30), np.arange(28, 40)]
    labels = np.array([0] * 22 + [1] * 18)
    labels[24:28] = 0  # node 2 mixes both classes
    g = MapperGraph(n_samples=40, members=members, node_cover=np.arange(4),
                    cover_bounds=np.zeros((4, 1, 2)), lens=np.zeros(40), labels=labels)  # fmt: skip
    sep = separated_classes(g)
    assert sep[0] == {"nodes": [0, 1], "share": 20 / 26, "shape": "branch"}
    assert sep[1]["nodes"] == [3] and sep[1]["shape"] == "branch"
    assert 1 not in separated_classes(g, coverage=0.9)


def test_mislabelled_samples_in_a_pure_blob_are_suspect_and_border_samples_are_not():
    labels = np.repeat([0, 1, 2], 60)
    clean = blobs_graph(labels)
    assert suspect_samples(clean)["samples"].tolist() == []
    # Three samples of blob 0 that are in some node (DBSCAN leaves a few out) get the label of blob 2.
    flipped = np.setdiff1d(np.arange(60), clean.unassigned)[[3, 20, 40]]
    labels[flipped] = 2
    g = blobs_graph(labels)  # the same points, so the same nodes
    s = suspect_samples(g)
    assert s["samples"].tolist() == flipped.tolist() and s["labels"].tolist() == [2, 2, 2]
    assert s["node_classes"].tolist() == [0, 0, 0]
    (f,) = [f for f in class_findings(1, "fc", g) if f.kind == "suspect_labels"]
    assert f.details["samples"] == flipped.tolist() and f.details["count"] == 3
    # A sample also sitting in a mixed node is on a border, not suspect.
    members = [np.arange(0, 10), np.arange(9, 20)]
    y = np.array([0] * 9 + [1] + [1] * 10)
    y[15:20] = 0  # node 1 is mixed
    border = MapperGraph(n_samples=20, members=members, node_cover=np.arange(2),
                         cover_bounds=np.zeros((2, 1, 2)), lens=np.zeros(20), labels=y)  # fmt: skip
    assert suspect_samples(border)["samples"].tolist() == []


def test_graphs_without_labels_give_no_class_findings():
    x = np.random.default_rng(0).normal(size=(100, 4)).astype(np.float32)
    g = Mapper(n_intervals=4).fit(x).graph_
    assert class_findings(0, "fc", g) == [] and separated_classes(g) == {} and class_confusion(g) == []


# ---------------------------------------------------------------------------------------------------- tracker
def test_separation_is_reported_at_the_first_step_a_class_separates_and_never_again():
    rng = np.random.default_rng(0)
    mixed = rng.integers(0, 3, 180)
    separate = np.repeat([0, 1, 2], 60)
    tracker = FindingTracker()
    x = relu_layer(n=180)
    seps = []
    for step, labels in enumerate([mixed, separate, separate]):
        new = tracker.observe(step, "fc", x * (1 + step), loss=2.0 - step * 0.5, graph=blobs_graph(labels))
        seps += [(f.step, f.details["class"]) for f in new if f.kind == "separation"]
    assert seps == [(1, 0), (1, 1), (1, 2)]


def test_tracker_state_survives_a_resume_without_duplicates():
    dead = relu_layer()
    dead[:, :20] = 0.0
    g = blobs_graph(np.repeat([0, 1, 2], 60))
    run = FindingTracker()
    steps = [(s, dead * (1 + s), 2.0 - 0.1 * s) for s in range(5)]
    first = [f for s, x, loss in steps[:3] for f in run.observe(s, "fc", x, loss=loss, graph=g)]
    assert "dead" in kinds(first) and "separation" in kinds(first)
    state = json.loads(json.dumps(run.state_dict()))  # a checkpoint holds plain data only
    resumed = FindingTracker()
    resumed.load_state_dict(state)
    assert resumed.findings == run.findings
    # Lightning repeats the last saved step on resume: nothing is new, then the run goes on as if uninterrupted.
    again = [f for s, x, loss in steps[2:] for f in resumed.observe(s, "fc", x, loss=loss, graph=g)]
    rest = [f for s, x, loss in steps[3:] for f in run.observe(s, "fc", x, loss=loss, graph=g)]
    assert again == rest
    assert all(f.kind == "confusion" or f.kind == "suspect_labels" for f in again)
    keys = [f.key for f in resumed.findings]
    assert len(keys) == len(set(keys))


def test_tracker_replaces_history_of_a_repeated_step():
    tracker = FindingTracker()
    x = relu_layer()
    for step in (0, 1, 2, 1, 2):
        tracker.observe(step, "fc", x, loss=1.0)
    assert [h.step for h in tracker.history("fc")] == [0, 1, 2]


def test_bad_configuration_and_state_fail_with_a_clear_error():
    with pytest.raises(TopoActConfigError, match="dead_share must lie in"):
        FindingThresholds(dead_share=0.0)
    with pytest.raises(TopoActConfigError, match="still_steps must be an integer"):
        FindingThresholds(still_steps=0)
    with pytest.raises(TopoActConfigError, match="exploding_factor must be above 1"):
        FindingThresholds(exploding_factor=1.0)
    with pytest.raises(TopoActConfigError, match="history_length=2 is too short"):
        FindingTracker(history_length=2)
    with pytest.raises(ValueError, match="state version"):
        FindingTracker().load_state_dict({"version": 99})
    with pytest.raises(ValueError, match="unknown finding kind"):
        Finding(0, "fc", "sad", "?")
    with pytest.raises(TypeError, match="plain data"):
        Finding(0, "fc", "dead", "?", {"x": object()})
    with pytest.raises(ValueError, match="2-D"):
        fault_findings(0, "fc", np.zeros(5))


def test_findings_markdown_escapes_pipes_and_newlines():
    text = findings_markdown([Finding(1, "a|b", "dead", "x\ny")])
    assert text.splitlines()[-1] == "| 1 | a\\|b | dead | x y |"


# ------------------------------------------------------------------------------------------------- properties
@st.composite
def flat_and_varying(draw):
    """A matrix whose columns are exactly 0, exactly a non-zero constant, or clearly varying."""
    n = draw(st.integers(3, 40))
    kinds_ = draw(st.lists(st.sampled_from(["dead", "constant", "vary", "line"]), min_size=1, max_size=12))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    t = rng.normal(size=n)
    cols = []
    for k in kinds_:
        if k == "dead":
            cols.append(np.zeros(n))
        elif k == "constant":
            cols.append(np.full(n, draw(st.sampled_from([-3.0, 0.5, 1.0, 7.0]))))
        elif k == "vary":
            cols.append(rng.normal(size=n))
        else:
            cols.append(
                draw(st.sampled_from([-2.0, 1.0, 3.0])) * t
            )  # every "line" column follows one direction
    return np.stack(cols, axis=1)


@settings(max_examples=80, deadline=None)
@given(flat_and_varying(), st.floats(1e-3, 1e3))
def test_scaling_by_a_positive_factor_changes_no_dead_constant_or_collapsed_verdict(x, c):
    def verdict(m):
        dead, constant = unit_states(m)
        return dead.tolist(), constant.tolist(), kinds(fault_findings(0, "fc", m))

    # Saturation is about bounds, so it depends on the scale; these columns never sit at bounds.
    assert not saturated_units(x)[0].any() and not saturated_units(c * x)[0].any()
    assert verdict(x) == verdict(c * x)


@settings(max_examples=40, deadline=None)
@given(
    st.integers(0, 2**32 - 1), st.integers(60, 300), st.integers(4, 32), st.integers(4, 64)
)  # fmt: skip
def test_a_healthy_random_relu_layer_of_gaussian_inputs_has_no_fault(seed, n, d_in, units):
    x = relu_layer(n, d_in, units, seed)
    assert fault_findings(0, "fc", x) == []
    # Nor over a few steps of ordinary learning: small changes, a falling loss.
    rng = np.random.default_rng(seed)
    steps = [x * rng.uniform(0.8, 1.5) + 0.01 * rng.normal(size=x.shape) for _ in range(4)]
    tracker = FindingTracker()
    found = [f for s, xs in enumerate(steps) for f in tracker.observe(s, "fc", xs, loss=2.0 / (s + 1))]
    assert [f for f in found if f.is_fault] == []


observations = st.lists(
    st.tuples(
        st.integers(0, 6),  # step
        st.sampled_from(["a", "b"]),  # layer
        st.sampled_from(["healthy", "dead", "constant", "collapsed", "saturated"]),
    ),
    min_size=1,
    max_size=25,
)


def _acts(kind: str, step: int) -> np.ndarray:
    x = relu_layer(n=80, units=12, seed=step)
    if kind == "dead":
        x[:, :8] = 0
    elif kind == "constant":
        x[:] = 2.0
    elif kind == "collapsed":
        x = np.outer(np.arange(80.0), np.ones(12))
    elif kind == "saturated":
        x = np.tanh(100 * (x - 0.5))
    return x


@settings(max_examples=60, deadline=None)
@given(observations, st.integers(0, 25))
def test_the_tracker_never_repeats_a_layer_and_kind_even_across_a_resume(obs, cut):
    tracker = FindingTracker()
    reported = []
    for i, (step, layer, kind) in enumerate(obs):
        if i == cut:  # a checkpoint and a resume in the middle
            state = json.loads(json.dumps(tracker.state_dict()))
            tracker = FindingTracker()
            tracker.load_state_dict(state)
        reported += [(f.layer, f.kind) for f in tracker.observe(step, layer, _acts(kind, step)) if f.is_fault]
    assert len(reported) == len(set(reported))
    assert {(f.layer, f.kind) for f in tracker.findings if f.is_fault} == set(reported)


finding_details = st.dictionaries(
    st.text(min_size=1, max_size=8),
    st.one_of(
        st.integers(-(10**6), 10**6),
        st.floats(allow_nan=True, allow_infinity=True),
        st.text(max_size=10),
        st.lists(st.integers(0, 1000), max_size=5),
        st.none(),
    ),
    max_size=5,
)


@settings(max_examples=80, deadline=None)
@given(st.integers(0, 10**6), st.text(max_size=20), st.sampled_from(FAULT_KINDS + CLASS_KINDS), st.text(),
       finding_details)  # fmt: skip
def test_a_finding_round_trips_through_json(step, layer, kind, message, details):
    f = Finding(step, layer, kind, message, details)
    back = Finding.from_dict(json.loads(json.dumps(f.to_dict(), allow_nan=False)))
    assert back == f and hash(back) == hash(f)
