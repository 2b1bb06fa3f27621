"""Icons that fit the model: layers ending in a clamp are optimised before it, gradients are
redirected through clamps as through ReLUs, the default size gives a deep layer a grid of
several cells, and an icon can be shown to the model at its input size."""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

import neuroblocks as nb
from neuroblocks import featurevis as fv
from neuroblocks.featurevis import clamps, sizes
from neuroblocks.featurevis.icon_cache import icon_service
from neuroblocks.featurevis.redirected import redirected_gradients


@pytest.fixture(scope="module")
def relu6_session(shapes_session) -> nb.Session:
    """The shapes model with conv3 ending in ReLU6, its normalisation scaled ×8 so that a unit
    optimised for reaches the ceiling within a short render (MobileNetV2's features.18 does at 128 px)."""
    model = copy.deepcopy(shapes_session.model)
    model.conv3[2] = nn.ReLU6(inplace=True)
    with torch.no_grad():
        model.conv3[1].weight.mul_(8)
        model.conv3[1].bias.mul_(8)
    return nb.Session(model, input_size=64, labels=shapes_session.labels)


def _render(session, objectives, **kwargs):
    seen = []
    icons = fv.render(session, objectives, progress=lambda p: seen.append(p.values), **kwargs)
    return icons, np.stack(seen)


def _layer_means(session, layer, icons, channels):
    x = torch.as_tensor(icons).permute(0, 3, 1, 2).float() / 255
    with torch.no_grad():
        a = session.forward(x, capture=[layer], stop=True).activations[layer]
    return a, np.array([a[i, c].mean().item() for i, c in enumerate(channels)])


def test_a_clamped_layer_is_found_through_its_block_and_said_in_the_key(relu6_session):
    assert clamps.trailing_clamp(relu6_session, "conv3") == "conv3.2"
    assert clamps.trailing_clamp(relu6_session, "conv3.2") == "conv3.2"
    assert clamps.trailing_clamp(relu6_session, "conv2") is None, "a ReLU has no ceiling: read as it is"
    assert clamps.note(relu6_session, ["conv3", "conv2"]) == "conv3 read before its ReLU6"
    service = icon_service(relu6_session)
    keys = {service.key(fv.channel("conv3", 10), 48, 128, 0, at) for at in ("native", "input")}
    assert len(keys) == 2


def test_the_objective_keeps_rising_past_the_ceiling_and_the_icon_is_not_flat(relu6_session):
    channels = [5, 10]
    objectives = [fv.channel("conv3", c) for c in channels]
    unclamped, rising = _render(relu6_session, objectives, size=48, steps=128)
    clamped, stuck = _render(relu6_session, objectives, size=48, steps=128, before_clamp=False)
    assert stuck.max() <= 6.0, "the clamped output cannot pass the ceiling"
    assert rising[-1, 1] > 6.0 and rising[-1, 1] > rising[-33, 1], f"channel 10 before the clamp: {rising[[0, 63, -1], 1]}"
    a, reached = _layer_means(relu6_session, "conv3", unclamped, channels)
    _, reached_clamped = _layer_means(relu6_session, "conv3", clamped, channels)
    saturated = np.array([(a[i, c] >= 6).float().mean().item() for i, c in enumerate(channels)])
    print(f"clamped output on its icon: before the clamp {reached.round(2)} (saturated share {saturated.round(2)}), after {reached_clamped.round(2)}")
    assert (reached > reached_clamped).all(), "optimising before the clamp drives the layer's own output higher"
    assert (unclamped.reshape(2, -1).std(1) > 30).all(), "the icon is a picture, not a flat patch"


@pytest.mark.parametrize(
    "fn, below, above",
    # (Called through F at run time: the swap replaces the functions there.)
    [(lambda x: F.relu6(x), -1.0, 7.0), (nn.ReLU6(), -1.0, 7.0), (lambda x: F.hardsigmoid(x), -4.0, 4.0), (lambda x: F.hardtanh(x, -1.0, 1.0), -2.0, 2.0), (lambda x: F.hardswish(x), -4.0, None)],
    ids=["relu6", "ReLU6-module", "hardsigmoid", "hardtanh", "hardswish"],
)
def test_redirected_clamps_keep_values_and_move_stuck_inputs_back_into_range(fn, below, above):
    x = torch.tensor([[below, below]], requires_grad=True)
    with redirected_gradients():
        y = fn(x)
    assert torch.equal(y, fn(x.detach())), "forward values are the function's own"
    (g,) = torch.autograd.grad(-y.sum(), x)  # minimising −y wants y up: descent must raise the inputs
    assert (g < 0).all(), g
    (plain,) = torch.autograd.grad(-fn(x).sum(), x)
    assert torch.equal(plain, torch.zeros_like(plain)), "without redirection no gradient passes"
    if above is not None:
        x = torch.tensor([[above, above]], requires_grad=True)
        with redirected_gradients():
            y = fn(x)
        (down,) = torch.autograd.grad(y.sum(), x)  # minimising y wants it lower: back into the range
        (up,) = torch.autograd.grad(-fn(x).sum(), x)
        assert (down > 0).all() and torch.equal(up, torch.zeros_like(up))
        with redirected_gradients():
            (still,) = torch.autograd.grad(-fn(x).sum(), x)
        assert torch.equal(still, torch.zeros_like(still)), "a push further past the ceiling stays blocked"


def test_the_default_size_gives_a_deep_layer_several_cells(shapes_session):
    mobilenet = nb.Session.load("mobilenet_v2", weights="random")
    assert sizes.default_size(mobilenet, ["features.18"]) == 128, "stride 32: 4 cells a side"
    assert sizes.default_size(mobilenet, ["features.14.conv.0"]) == 64, "stride 16 keeps the session's size"
    assert sizes.default_size(mobilenet, ["features.14.conv.0", "features.18"]) == 128, "the coarsest layer decides"
    assert sizes.default_size(mobilenet, ["logits"]) == 64 and sizes.default_size(mobilenet, ["features.18"], base=200) == 200
    assert sizes.default_size(shapes_session, ["classmap"]) == 48, "an 8×8 grid at 64 px: 6 cells at 48 px"
    assert sizes.default_size(shapes_session, ["classmap"], base=24) == 32
    assert fv.render(mobilenet, fv.channel("features.18", 0), steps=1).shape == (1, 128, 128, 3)
    grid = nb.ActivationGrid(shapes_session, np.random.default_rng(0).integers(0, 255, (64, 64, 3), dtype=np.uint8), "classmap", icon_steps=0)
    assert grid.icon_size == 32, "the grid's half-size icons grow to 4 cells too"
    grid.close()


def test_at_input_shows_the_model_the_icon_enlarged_to_its_input_size(shapes_session):
    seen = []
    handle = shapes_session.model.conv1.register_forward_pre_hook(lambda m, inputs: seen.append(tuple(inputs[0].shape[-2:])))
    try:
        fv.render(shapes_session, fv.channel("conv3", 1), size=32, steps=2, at="input")
        enlarged = list(seen)
        seen.clear()
        fv.render(shapes_session, fv.channel("conv3", 1), size=32, steps=2)
    finally:
        handle.remove()
    assert enlarged == [(64, 64)] * 2, "the model's input size, whatever the transforms left"
    assert all(side != (64, 64) for side in seen), "native: the model sees the icon's own size"
    with pytest.raises(fv.FeatureVisError, match="native.*input"):
        fv.render(shapes_session, fv.channel("conv3", 1), size=32, steps=2, at="model")


@pytest.mark.parametrize("context", [torch.no_grad, torch.inference_mode])
def test_rendering_works_inside_no_grad_and_inference_mode(shapes_session, context):
    outside = fv.render(shapes_session, fv.channel("conv3", 1), size=32, steps=4)
    with context():
        inside = fv.render(shapes_session, fv.channel("conv3", 1), size=32, steps=4)
    assert np.array_equal(inside, outside)
