"""Feature images: the parameterisation, the transforms, the layer target, the renderer and its bad input.

The slow tests train the digits CNN with the real callback, read the Mapper graphs it logged, and render the
largest nodes of a convolution and a linear layer.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

from topoact_lightning.errors import TopoActConfigError
from topoact_lightning.monitor.capture import BatchContext, reduce_output
from topoact_lightning.monitor.feature_images import (
    FeatureImages,
    check_feature_images,
    image_space,
    render_feature_images,
)
from topoact_lightning.monitor.feature_optimisation import direction_objective
from topoact_lightning.monitor.feature_target import FeatureImagesUnavailable, LayerTap, LayerTarget
from topoact_lightning.monitor.image_space import FourierImages, ImageSpace, colour_sqrt
from topoact_lightning.monitor.image_transforms import Robustness, _shift


def small_cnn(channels: int = 1, size: int = 8) -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(
        nn.Conv2d(channels, 8, 3, padding=1),
        nn.ReLU(),
        nn.Conv2d(8, 8, 3, padding=1),
        nn.ReLU(),
        nn.Flatten(),
        nn.Linear(8 * size * size, 6),
    )


def reachable_directions(
    model: nn.Module, layer_slice: slice, probe: torch.Tensor, centre: bool
) -> torch.Tensor:
    """Directions the model can reach: probe samples' activations (at the centre of a map)."""
    with torch.no_grad():
        out = model[layer_slice](probe)
    return out[:, :, out.shape[2] // 2, out.shape[3] // 2] if centre else out


# ------------------------------------------------------------------------------------------- image space
def test_image_space_reads_shape_range_and_colours_from_the_probe():
    torch.manual_seed(0)
    probe = torch.rand(50, 3, 6, 7) * torch.tensor([1.0, 2.0, 4.0])[:, None, None] - 1
    space = ImageSpace.from_inputs(list(probe.split(16)))  # batches give the same as one tensor
    assert space == ImageSpace.from_inputs(probe)
    assert space.shape == (3, 6, 7)
    np.testing.assert_allclose(space.low, probe.amin(dim=(0, 2, 3)).double().numpy(), rtol=1e-6)
    np.testing.assert_allclose(space.high, probe.amax(dim=(0, 2, 3)).double().numpy(), rtol=1e-6)
    # Independent channels of equal spread (in unit pixels): the colour matrix is close to the identity.
    np.testing.assert_allclose(space.colour, np.eye(3), atol=0.1)
    x = torch.rand(4, 3, 6, 7)
    torch.testing.assert_close(space.to_unit(space.to_model(x)), x)


def test_correlated_colours_are_decorrelated_by_the_covariance_square_root():
    rng = np.random.default_rng(0)
    a = rng.normal(size=(2000, 1))
    pixels = np.hstack([a, a + 0.1 * rng.normal(size=(2000, 1)), rng.normal(size=(2000, 1))])
    cov = np.cov(pixels.T)
    root = colour_sqrt(cov)
    np.testing.assert_allclose(root, root.T, atol=1e-12)
    assert np.linalg.norm(root, axis=0).max() == pytest.approx(1.0)
    # Its square is the covariance (plus the small ridge), up to the normalisation's scale.
    square, ridged = root @ root, cov + 0.01 * np.trace(cov) / 3 * np.eye(3)
    np.testing.assert_allclose(square / np.linalg.norm(square), ridged / np.linalg.norm(ridged), atol=1e-9)


def test_a_grey_probe_still_leaves_the_parameterisation_colour():
    grey = torch.rand(10, 1, 5, 5).expand(10, 3, 5, 5)
    colour = ImageSpace.from_inputs(grey).colour
    assert np.linalg.matrix_rank(colour) == 3


@given(
    seed=st.integers(0, 1000), channels=st.sampled_from([1, 3]), h=st.integers(2, 12), w=st.integers(2, 12)
)
@settings(max_examples=30, deadline=None)
def test_reset_to_reproduces_any_image_squeezed_off_the_sigmoid_tails(seed, channels, h, w):
    g = torch.Generator().manual_seed(seed)
    space = ImageSpace.from_shape((channels, h, w))
    images = FourierImages(3, space, g)
    target = torch.rand(3, channels, h, w, generator=g)
    images.reset_to(target, margin=0.02)
    torch.testing.assert_close(images(), 0.02 + 0.96 * target, atol=1e-4, rtol=0)


def test_fourier_images_start_grey_and_stay_in_the_unit_range():
    space = ImageSpace.from_shape((3, 16, 16))
    images = FourierImages(5, space, torch.Generator().manual_seed(0))
    x = images().detach()
    assert x.shape == (5, 3, 16, 16)
    # A small initial spectrum: every image starts near grey, as far from black and white as it can be.
    assert float((x - 0.5).abs().mean()) < 0.05 and float((x - 0.5).abs().max()) < 0.25
    with torch.no_grad():
        images.spectrum.mul_(1e4)
    x = images().detach()
    assert bool(((x >= 0) & (x <= 1)).all())


# ------------------------------------------------------------------------------------------- transforms
def test_robustness_by_image_size():
    assert Robustness.for_size(8, 8) == Robustness(jitter=1)
    assert not Robustness.for_size(8, 8).resamples
    mid = Robustness.for_size(32, 32)
    assert mid.jitter == 2 and mid.resamples and mid.degrees == 5.0
    assert Robustness.for_size(224, 224).jitter == 14


@given(dy=st.integers(-3, 3), dx=st.integers(-3, 3))
@settings(max_examples=30, deadline=None)
def test_integer_jitter_moves_pixels_exactly_and_replicates_the_border(dy, dx):
    x = torch.arange(2 * 6 * 7, dtype=torch.float32).reshape(1, 2, 6, 7)
    out = _shift(x, torch.tensor([[dy, dx]]))
    padded = F.pad(x, (3, 3, 3, 3), mode="replicate")
    expected = padded[:, :, 3 - dy : 3 - dy + 6, 3 - dx : 3 - dx + 7]
    assert torch.equal(out, expected)


def test_the_resampling_path_agrees_with_the_exact_shift_at_unit_scale_and_no_rotation():
    x = torch.rand(4, 3, 9, 9)
    exact = Robustness(jitter=2)
    # A scale range of width zero resamples through grid_sample; it must land on the same pixels.
    resampled = Robustness(jitter=2, scale=(1.0, 1.0), degrees=1e-9)
    assert resampled.resamples
    a = exact(x, torch.Generator().manual_seed(3))
    b = resampled(x, torch.Generator().manual_seed(3))
    torch.testing.assert_close(a, b, atol=1e-5, rtol=0)


# --------------------------------------------------------------------------------------------- objective
@given(
    a=st.lists(st.floats(-5, 5), min_size=4, max_size=4),
    d=st.lists(st.floats(-5, 5), min_size=4, max_size=4),
)
@settings(max_examples=50, deadline=None)
def test_the_objective_is_the_projection_scaled_by_the_floored_cosine_squared(a, d):
    a, d = torch.tensor([a]), torch.tensor([d])
    if float(d.norm()) < 1e-3:
        return
    value = float(direction_objective(a, d, 2.0))
    dot = float((a * d).sum() / d.norm())
    cos = dot / (float(a.norm()) + 1e-6)
    assert value == pytest.approx(dot * max(cos, 0.1) ** 2, rel=1e-4, abs=1e-5)
    assert value <= float(a.norm()) + 1e-4  # never more than the activation's own length


# ---------------------------------------------------------------------------------------------- targets
def test_the_target_reduces_as_the_capture_does_with_the_centre_for_random_position():
    x = torch.randn(3, 4, 5, 6)
    ctx = BatchContext(indices=torch.arange(3), n_total=3, layer="l", seed=0)
    for reduction in ("mean", "max", "flatten"):
        ours = LayerTarget("l", reduction, None, 0).vectors(x)
        assert torch.equal(ours, reduce_output(x, reduction, ctx))
    assert torch.equal(LayerTarget("l", "random_position", None, 0).vectors(x), x[:, :, 2, 3])
    # A map equal at every position: the centre gives what any random position gave the graph.
    flat = torch.randn(3, 4, 1, 1).expand(3, 4, 5, 6)
    assert torch.equal(
        LayerTarget("l", "random_position", None, 0).vectors(flat),
        reduce_output(flat, "random_position", ctx),
    )
    # The output selection of the capture: a tuple's first element.
    assert torch.equal(LayerTarget("l", "mean", None, 0).vectors((x, "extra")), x.mean(dim=(2, 3)))


def test_the_tap_stops_the_forward_at_the_layer_and_removes_its_hook():
    calls = []

    class Tail(nn.Module):
        def forward(self, x):
            calls.append(1)
            return x

    model = nn.Sequential(nn.Conv2d(1, 2, 3), Tail())
    with LayerTap(model[0]) as tap:
        out = tap.run(model, torch.zeros(1, 1, 5, 5))
    assert out.shape == (1, 2, 3, 3) and not calls
    assert not model[0]._forward_hooks


# ------------------------------------------------------------------------------------------- rendering
def test_renders_one_grey_image_per_direction_at_the_input_size():
    model = small_cnn()
    probe = torch.rand(32, 1, 8, 8)
    directions = reachable_directions(model, slice(0, 3), probe[:4], centre=True)
    result = render_feature_images(model, "2", directions, probe=probe, steps=48, attempts=1)
    assert isinstance(result, FeatureImages) and len(result) == 4
    assert result.images.shape == (4, 8, 8, 1) and result.images.dtype == np.uint8
    assert result.inputs.shape == (4, 1, 8, 8)
    assert result.reduction == "random_position" and result.steps == 48 and result.seed == 0
    assert not result.failed.any()
    assert (result.cosine > 0.9).all()
    # The reported cosine is that of the returned image, at the centre position.
    with torch.no_grad():
        acts = model[:3](result.inputs)[:, :, 4, 4]
    np.testing.assert_allclose(result.cosine, F.cosine_similarity(acts, directions).numpy(), atol=1e-5)
    # The display image is the input scaled from the probe's range.
    np.testing.assert_allclose(result.images[..., 0] / 255, result.inputs[:, 0].numpy(), atol=1 / 255)


def test_renders_rgb_in_the_probes_normalised_range():
    model = small_cnn(channels=3, size=12)
    mean, std = torch.tensor([0.5, 0.4, 0.3]), torch.tensor([0.2, 0.25, 0.3])
    probe = (torch.rand(40, 3, 12, 12) - mean[:, None, None]) / std[:, None, None]
    directions = reachable_directions(model, slice(0, 6), probe[:3], centre=False)
    result = render_feature_images(model, "5", directions, probe=probe, steps=48, attempts=1)
    assert result.images.shape == (3, 12, 12, 3)
    assert result.reduction == "flatten" and not result.failed.any()
    space = image_space(probe)
    low = torch.tensor(space.low)[:, None, None]
    high = torch.tensor(space.high)[:, None, None]
    assert bool(((result.inputs >= low - 1e-5) & (result.inputs <= high + 1e-5)).all())


def test_the_mean_convention_renders_for_all_positions():
    model = small_cnn()
    probe = torch.rand(16, 1, 8, 8)
    with torch.no_grad():
        directions = model[:3](probe[:2]).mean(dim=(2, 3))
    result = render_feature_images(
        model, "2", directions, probe=probe, reduction="mean", steps=64, attempts=1
    )
    assert result.reduction == "mean"
    with torch.no_grad():
        acts = model[:3](result.inputs).mean(dim=(2, 3))
    assert (F.cosine_similarity(acts, directions) > 0.9).all()


def test_the_same_seed_gives_the_same_images_and_another_seed_others():
    model = small_cnn()
    probe = torch.rand(16, 1, 8, 8)
    directions = reachable_directions(model, slice(0, 3), probe[:3], centre=True)
    first = render_feature_images(model, "2", directions, probe=probe, steps=24, seed=7)
    again = render_feature_images(model, "2", directions, probe=probe, steps=24, seed=7)
    other = render_feature_images(model, "2", directions, probe=probe, steps=24, seed=8)
    assert torch.equal(first.inputs, again.inputs)
    assert np.array_equal(first.images, again.images)
    assert np.array_equal(first.cosine, again.cosine)
    assert not torch.equal(first.inputs, other.inputs)


def test_the_model_is_left_as_it_was():
    model = nn.Sequential(
        nn.Conv2d(1, 4, 3, padding=1), nn.BatchNorm2d(4), nn.Dropout(0.5), nn.ReLU(), nn.Conv2d(4, 4, 3)
    )
    model.train()
    model[1].eval()  # mixed modes must come back as they were, module by module
    model[0].weight.requires_grad_(False)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    modes = [m.training for m in model.modules()]
    flags = [p.requires_grad for p in model.parameters()]
    probe = torch.rand(8, 1, 8, 8)
    with torch.no_grad():
        render_feature_images(model, "4", torch.rand(2, 4), probe=probe, steps=8, attempts=1)
    with torch.inference_mode():
        render_feature_images(model, "4", torch.rand(2, 4), probe=probe, steps=8, attempts=1)
    with pytest.raises(TopoActConfigError):
        render_feature_images(model, "4", torch.rand(2, 5), probe=probe, steps=8)  # fails inside the hooks
    after = model.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)  # BatchNorm statistics included
    assert [m.training for m in model.modules()] == modes
    assert [p.requires_grad for p in model.parameters()] == flags
    assert all(p.grad is None for p in model.parameters())
    assert all(not m._forward_hooks for m in model.modules())


# ------------------------------------------------------------------------------------------ bad input
def _unavailable(call) -> str:
    with pytest.raises(FeatureImagesUnavailable) as info:
        call()
    assert isinstance(info.value, TopoActConfigError)
    return str(info.value)


def test_a_tabular_model_has_no_feature_images():
    model = nn.Sequential(nn.Linear(20, 8), nn.ReLU(), nn.Linear(8, 2))
    message = _unavailable(
        lambda: render_feature_images(model, "0", torch.rand(1, 8), probe=torch.rand(30, 20))
    )
    assert "unavailable for this model" in message and "not float images (n, C, H, W)" in message


def test_a_token_model_has_no_feature_images():
    model = nn.Sequential(nn.Embedding(100, 16), nn.Linear(16, 16))
    tokens = torch.randint(0, 100, (10, 12))
    message = _unavailable(lambda: render_feature_images(model, "1", torch.rand(1, 16), probe=tokens))
    assert "torch.int64" in message and "not float images" in message


class PatchTokens(nn.Module):
    """An image model whose layer gives a sequence of patch tokens (a vision transformer's first steps)."""

    def __init__(self) -> None:
        super().__init__()
        self.patch = nn.Conv2d(3, 16, 4, stride=4)
        self.mix = nn.Linear(16, 16)

    def forward(self, x):
        return self.mix(self.patch(x).flatten(2).transpose(1, 2))


def test_a_layer_reduced_over_tokens_has_no_feature_images():
    model = PatchTokens()
    probe = torch.rand(10, 3, 16, 16)
    message = _unavailable(lambda: render_feature_images(model, "mix", torch.rand(1, 16), probe=probe))
    assert "layer 'mix'" in message and "'random_token'" in message and "no spatial position" in message
    # The same layer reduced to its whole flattened output is a vector the image can be optimised for.
    result = render_feature_images(
        model, "mix", torch.rand(1, 256), probe=probe, reduction="flatten", steps=4, attempts=1
    )
    assert result.images.shape == (1, 16, 16, 3)


def test_the_check_before_training_resolves_the_layer_or_says_why_not():
    model = PatchTokens()
    probe = torch.rand(4, 3, 16, 16)
    training = model.training
    patch = check_feature_images(model, "patch", probe=probe)
    assert (patch.reduction, patch.width) == ("random_position", 16)
    assert check_feature_images(model, "patch", probe=probe, reduction="mean").reduction == "mean"
    with pytest.raises(FeatureImagesUnavailable, match="'random_token'"):
        check_feature_images(model, "mix", probe=probe)
    assert model.training == training and all(p.requires_grad for p in model.parameters())
    assert all(not m._forward_hooks for m in model.modules())


def test_other_unavailable_cases_say_why():
    probe4 = torch.rand(5, 4, 8, 8)
    assert "4 channels" in _unavailable(
        lambda: render_feature_images(nn.Sequential(nn.Conv2d(4, 2, 3)), "0", torch.rand(1, 2), probe=probe4)
    )

    class Constant(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.conv = nn.Conv2d(1, 2, 3)
            self.bias = nn.Linear(1, 3)

        def forward(self, x):
            return self.conv(x).sum() + self.bias(torch.ones(1, 1))

    message = _unavailable(
        lambda: render_feature_images(Constant(), "bias", torch.rand(1, 3), probe=torch.rand(4, 1, 8, 8))
    )
    assert "no gradient reaches" in message

    class WantsAMask(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.conv = nn.Conv2d(1, 2, 3)

        def forward(self, x, mask):
            return self.conv(x * mask)

    message = _unavailable(
        lambda: render_feature_images(WantsAMask(), "conv", torch.rand(1, 2), probe=torch.rand(4, 1, 8, 8))
    )
    assert "does not take image tensors" in message


def test_configuration_errors_name_the_fix():
    model = small_cnn()
    probe = torch.rand(8, 1, 8, 8)
    with pytest.raises(TopoActConfigError, match=r"no module named 'feature\.2'.*did you mean"):
        render_feature_images(nn.Sequential(model), "feature.2", torch.rand(1, 8), probe=probe)
    with pytest.raises(TopoActConfigError, match="directions have 5 values but layer '2' gives 8"):
        render_feature_images(model, "2", torch.rand(2, 5), probe=probe)
    with pytest.raises(TopoActConfigError, match="probe=... or input_shape"):
        render_feature_images(model, "2", torch.rand(2, 8))
    with pytest.raises(TopoActConfigError, match="steps >= 1"):
        render_feature_images(model, "2", torch.rand(2, 8), probe=probe, steps=0)


def test_a_nan_direction_is_a_warning_and_a_missing_image_only_for_it():
    model = small_cnn()
    probe = torch.rand(16, 1, 8, 8)
    directions = reachable_directions(model, slice(0, 3), probe[:3], centre=True)
    directions[1, 0] = float("nan")
    with pytest.warns(UserWarning, match=r"1 of 3 optimisations at layer '2' failed.*directions \[1\]"):
        result = render_feature_images(model, "2", directions, probe=probe, steps=16, attempts=1)
    assert result.failed.tolist() == [False, True, False]
    assert np.isnan(result.cosine[1]) and bool(torch.isnan(result.inputs[1]).all())
    assert not result.images[1].any() and result.images[[0, 2]].any()


class TurnsNaN(nn.Module):
    """A convolution whose output turns NaN (or that raises) once the dry run is over."""

    def __init__(self, raise_instead: bool = False) -> None:
        super().__init__()
        self.conv = nn.Conv2d(1, 4, 3, padding=1)
        self.calls = 0
        self.raise_instead = raise_instead

    def forward(self, x):
        self.calls += 1
        out = self.conv(x)
        if self.calls > 1:
            if self.raise_instead:
                raise RuntimeError("the device went away")
            return out * float("nan")
        return out


@pytest.mark.parametrize("raise_instead", [False, True])
def test_a_failing_optimisation_is_a_warning_and_missing_images_never_a_crash(raise_instead):
    model = nn.Sequential(TurnsNaN(raise_instead), nn.ReLU())
    expected = "the device went away" if raise_instead else "2 of 2 optimisations at layer '0' failed"
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = render_feature_images(model, "0", torch.rand(2, 4), probe=torch.rand(4, 1, 8, 8), steps=8)
    assert any(expected in str(w.message) for w in caught), [str(w.message) for w in caught]
    assert result.failed.all() and np.isnan(result.cosine).all() and not result.images.any()


# ------------------------------------------------------------------------------ a real model and its graph
@pytest.fixture(scope="module")
def trained_digits(tmp_path_factory: pytest.TempPathFactory):
    """The digits CNN trained 3 epochs with the callback watching a convolution and a linear layer.

    Returns the model, the probe images, and per layer the last logged graph with each node's mean direction
    (members' reduced activations taken again with the callback's own capture and seed).
    """
    from _training import probe_pair, read_run, train_digits

    from topoact_lightning import TopoActMonitor
    from topoact_lightning.monitor.capture import ActivationCapture

    layers = ["features.2", "fc1"]
    logdir = tmp_path_factory.mktemp("feature_images")
    monitor = TopoActMonitor(layers=layers, probe=probe_pair(), schedule=3, log_untrained=False)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # Lightning's hints about workers and small data sets
        trainer = train_digits(logdir, callbacks=[monitor], epochs=3)
    model = trainer.lightning_module.eval()
    graphs = {layer: steps[max(steps)] for layer, steps in read_run(logdir / "run")["graphs"].items()}
    x, _ = probe_pair()
    modules = dict(model.named_modules())
    with ActivationCapture({n: modules[n] for n in layers}, {}, {}, seed=0) as capture, torch.no_grad():
        capture.begin_batch(BatchContext(torch.arange(len(x)), len(x), "", 0))
        model(x)
    activations = {k: v.numpy() for k, v in capture.collect().items()}
    return model, x, graphs, activations


def _largest_node_means(graph, activations: np.ndarray, count: int) -> np.ndarray:
    order = np.argsort(-graph.node_sizes, kind="stable")[:count]
    return np.stack([activations[graph.members[i]].mean(axis=0) for i in order])


def _cosines(rows: np.ndarray, directions: np.ndarray) -> np.ndarray:
    rows = rows / np.linalg.norm(rows, axis=-1, keepdims=True).clip(1e-12)
    return rows @ (directions / np.linalg.norm(directions, axis=1, keepdims=True)).T


@pytest.mark.slow
@pytest.mark.parametrize("layer", ["features.2", "fc1"])
def test_each_rendered_node_points_the_layer_closer_to_its_mean_than_any_probe_sample(trained_digits, layer):
    model, x, graphs, activations = trained_digits
    graph = graphs[layer]
    means = _largest_node_means(graph, activations[layer], count=8)
    result = render_feature_images(model, layer, means, probe=x)  # the default recipe
    assert not result.failed.any()
    # The image's activation, taken again from the model as the graph's reduction takes it (the centre for the
    # convolution's random positions; the vector for the linear layer).
    with torch.no_grad():
        if layer == "fc1":
            image_acts = model.fc1(model.features(result.inputs).flatten(1)).numpy()
        else:
            image_acts = model.features[:3](result.inputs)[:, :, 4, 4].numpy()
    image_cos = np.diag(_cosines(image_acts, means))
    np.testing.assert_allclose(image_cos, result.cosine, atol=1e-5)
    best_sample = _cosines(activations[layer], means).max(axis=0)
    assert (image_cos > best_sample).all(), list(zip(image_cos.round(4), best_sample.round(4), strict=True))
    if layer == "features.2":
        # Stronger: better than every position of every probe sample, not only the positions the graph drew.
        with torch.no_grad():
            maps = model.features[:3](x).permute(0, 2, 3, 1).reshape(-1, means.shape[1]).numpy()
        assert (image_cos > _cosines(maps, means).max(axis=0)).all()


@pytest.mark.slow
def test_re_rendering_a_trained_layer_with_the_same_seed_gives_the_same_images(trained_digits):
    model, x, graphs, activations = trained_digits
    means = _largest_node_means(graphs["fc1"], activations["fc1"], count=3)
    first = render_feature_images(model, "fc1", means, probe=x, steps=64, seed=3)
    second = render_feature_images(model, "fc1", means, probe=x, steps=64, seed=3)
    assert torch.equal(first.inputs, second.inputs) and np.array_equal(first.images, second.images)
