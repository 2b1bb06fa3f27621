"""Feature visualization on real models: parameterisation, transforms, objectives that rise,
reproducibility, the icon cache (hits, misses, corruption, threads, weight changes), errors."""

from __future__ import annotations

import itertools
import os
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from torch import nn

import neuroblocks as nb
from neuroblocks import featurevis as fv
from neuroblocks import shapes
from neuroblocks.featurevis import transforms
from neuroblocks.featurevis.param import FourierImage
from neuroblocks.featurevis.redirected import redirected_gradients
from neuroblocks.featurevis.render import start_seeds


def test_parameterised_image_stays_in_unit_range_and_a_seed_fixes_the_start():
    p = FourierImage([3, 3], 32, 40)
    with torch.no_grad():
        p.spectrum.mul_(1e4)  # far outside the starting scale
    img = p()
    assert img.shape == (2, 3, 32, 40) and img.min() >= 0 and img.max() <= 1
    assert torch.equal(FourierImage([3], 8, 8).spectrum, FourierImage([3], 8, 8).spectrum)
    assert not torch.equal(FourierImage([3], 8, 8).spectrum, FourierImage([4], 8, 8).spectrum)


def test_distinct_objectives_start_alike_and_repeats_start_apart():
    a, b = fv.channel("conv3", 1), fv.channel("conv3", 2)
    assert start_seeds([a, b, a, a], 5) == [5, 5, 6, 7]


def test_transforms_are_differentiable_and_keep_roughly_the_size():
    x = torch.rand(2, 3, 64, 64, requires_grad=True)
    g = torch.Generator().manual_seed(0)
    out = transforms.standard(x, g)
    assert out.shape[:2] == (2, 3) and 60 <= out.shape[-1] <= 84
    (grad,) = torch.autograd.grad(out.sum(), x)
    assert grad.abs().sum() > 0
    assert torch.equal(transforms.rotate(x, 0), x)
    assert transforms.jitter(x, 8, g).shape[-2:] == (56, 56)


def test_redirected_relu_keeps_values_and_lets_dead_units_learn():
    x = torch.tensor([[-1.0, -2.0]], requires_grad=True)
    with redirected_gradients():
        y = nn.functional.relu(x)
    assert torch.equal(y, torch.zeros(1, 2))
    (g,) = torch.autograd.grad(-y.sum(), x)  # minimising −y wants y up
    assert torch.equal(g, torch.tensor([[-1.0, -1.0]])), "redirected: descent raises the inputs"
    assert nn.functional.relu is not None and nn.functional.relu(torch.tensor([-1.0])).item() == 0


def _values(session, objectives, **kwargs):
    seen = []
    fv.render(session, objectives, progress=lambda p: seen.append(p.values), **kwargs)
    return np.stack(seen)


@pytest.mark.parametrize(
    "make",
    [
        lambda s: fv.channel("conv3", 5),
        lambda s: fv.neuron("conv2", 3),
        lambda s: fv.direction("conv3", torch.rand(64, generator=torch.Generator().manual_seed(0))),
        lambda s: fv.direction("conv3", torch.rand(64, generator=torch.Generator().manual_seed(1)), cosine_power=1.0),
        lambda s: fv.class_logit("striped triangle"),
        lambda s: fv.channel("conv3", 5) - 0.01 * fv.total_variation(),
        lambda s: -fv.l2(0.5) / 10,
    ],
    ids=["channel", "neuron", "direction", "direction-cos", "class-logit", "channel-tv", "l2"],
)
def test_each_objective_rises_on_the_shapes_model(shapes_session, make):
    values = _values(shapes_session, [make(shapes_session)], size=48, steps=80)
    assert values[-10:].mean() > values[:5].mean(), values[[0, -1]]


@pytest.mark.parametrize("name, layer, size", [("shapes_session", "conv3", 48), ("googlenet", "inception3a", 64)])
def test_diversity_rises_across_a_batch(name, layer, size, request):
    values = _values(request.getfixturevalue(name), [fv.diversity(layer)] * 3, size=size, steps=30)
    assert values[-5:].mean() > values[:3].mean(), values[[0, -1]]


@pytest.mark.parametrize(
    "objective",
    [fv.channel("inception4a", 3), fv.neuron("inception3b", 10), fv.direction("inception4a", torch.ones(512)), -1e-3 * fv.total_variation()],
    ids=["channel", "neuron", "direction", "total-variation"],
)
def test_each_objective_rises_on_random_googlenet(googlenet, objective):
    """(Class logits are left to the shapes model: randomly initialised GoogLeNet's activations
    shrink to ~1e-9 by the top, so its logits are its biases, numerically constant.)"""
    values = _values(googlenet, [objective], size=64, steps=12)
    assert values[-3:].mean() > values[:2].mean(), values[[0, -1]]


def test_a_seed_reproduces_the_image_exactly(shapes_session):
    objectives = [fv.channel("conv2", 1), fv.channel("conv3", 2)]
    a = fv.render(shapes_session, objectives, size=32, steps=10, seed=7)
    b = fv.render(shapes_session, objectives, size=32, steps=10, seed=7)
    c = fv.render(shapes_session, objectives, size=32, steps=10, seed=8)
    assert a.shape == (2, 32, 32, 3) and a.dtype == np.uint8
    assert np.array_equal(a, b) and not np.array_equal(a, c)


def test_progress_thresholds_and_cancellation(shapes_session):
    seen = []
    fv.render(shapes_session, fv.channel("conv3", 1), size=32, steps=6, thresholds=(2, 6), progress=seen.append)
    assert [p.step for p in seen] == [1, 2, 3, 4, 5, 6]
    assert [p.images is not None for p in seen] == [False, True, False, False, False, True]
    stop = threading.Event()

    def halt(p):
        if p.step == 3:
            stop.set()

    with pytest.raises(nb.work.Cancelled) as info:
        fv.render(shapes_session, fv.channel("conv3", 1), size=32, steps=100, progress=halt, cancel=stop)
    assert info.value.step == 3 and info.value.images.shape == (1, 32, 32, 3)


def test_the_forward_pass_stops_at_the_deepest_layer_needed(shapes_session):
    calls = [0]
    handle = shapes_session.model.fc.register_forward_hook(lambda *_: calls.__setitem__(0, calls[0] + 1))
    try:
        fv.render(shapes_session, fv.channel("conv3", 0), size=32, steps=3)
        assert calls[0] == 0
        fv.render(shapes_session, fv.class_logit(0), size=32, steps=3)
        assert calls[0] == 3
    finally:
        handle.remove()


def test_icons_of_colour_units_show_the_colour_each_unit_prefers(shapes_session):
    """For each colour of the world, the conv1 unit whose response to a uniform patch of it most
    exceeds its response to the other three. Independently of feature visualization, a sweep of
    uniform patches over the RGB cube (6 levels per channel) finds the colour each unit prefers.
    The icon's mean colour, as a direction away from grey, must point to that colour.

    Measured (256 steps): cosines 0.30 (red unit, preferring red), 0.84 (the green-selective unit,
    which prefers cyan: it was never taught to reject a colour the world lacks), 1.00 (blue), 0.95
    (yellow)."""
    palette = torch.tensor(list(shapes.COLORS.values()), dtype=torch.float32)
    cube = torch.tensor(list(itertools.product(np.linspace(0, 1, 6), repeat=3)), dtype=torch.float32)

    def response(colours):
        with torch.no_grad():
            x = colours[:, :, None, None].expand(len(colours), 3, 64, 64)
            return shapes_session.forward(x, capture=["conv1"], stop=True).activations["conv1"].mean((2, 3))

    world = response(palette)
    units = [int((world[i] - torch.cat([world[:i], world[i + 1 :]]).max(0).values).argmax()) for i in range(4)]
    preferred = cube[response(cube)[:, units].argmax(0)].numpy() - 0.5
    icons = fv.render(shapes_session, [fv.channel("conv1", u) for u in units], size=64, steps=256)
    leaning = np.stack([icon.reshape(-1, 3).mean(0) / 255 - 0.5 for icon in icons])
    cos = (leaning * preferred).sum(1) / (np.linalg.norm(leaning, axis=1) * np.linalg.norm(preferred, axis=1))
    assert (cos > 0.25).all() and cos.mean() > 0.7, cos.round(2)
    assert np.allclose(preferred[[0, 2, 3]] + 0.5, palette[[0, 2, 3]].numpy().round()), "red, blue, yellow units prefer their colour"


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("NEUROBLOCKS_CACHE", str(tmp_path))
    return tmp_path


def test_icon_cache_hits_misses_and_survives_corruption(cache):
    session = nb.Session.load("shapes")
    first = nb.icons(session, "conv3", [1, 2], size=32, steps=6)
    service = nb.featurevis.icon_service(session)
    assert first.shape == (2, 32, 32, 3) and service.rendered == 2
    assert np.array_equal(nb.icons(session, "conv3", [2, 1], size=32, steps=6), first[::-1]) and service.rendered == 2, "memory hit"
    files = sorted((cache / "icons").glob("*.png"))
    assert len(files) == 2
    fresh = nb.Session.load("shapes")
    assert np.array_equal(nb.icons(fresh, "conv3", [1, 2], size=32, steps=6), first) and nb.featurevis.icon_service(fresh).rendered == 0, "disk hit"
    assert nb.icons(fresh, "conv3", [1], size=32, steps=7).shape == (1, 32, 32, 3) and nb.featurevis.icon_service(fresh).rendered == 1, "other settings miss"
    for f in files:
        f.write_bytes(f.read_bytes()[:40])  # truncated, as by a crash mid-write elsewhere
    again = nb.Session.load("shapes")
    assert np.array_equal(nb.icons(again, "conv3", [1, 2], size=32, steps=6), first) and nb.featurevis.icon_service(again).rendered == 2
    assert not list((cache / "icons").glob("*.tmp"))


def unusable_cache(kind: str, root: Path, monkeypatch) -> Path:
    """A cache directory the way users end up with one that cannot be written."""
    if kind == "a file in its place":
        (root / "occupied").write_text("not a directory")
        return root / "occupied" / "neuroblocks"
    if kind == "writes refused (EACCES)":  # a read-only home; simulated, since root may write anywhere
        def refuse(*_args, **_kwargs):
            raise PermissionError(13, "Permission denied")

        monkeypatch.setattr(os, "replace", refuse)
    else:  # a full disk: every PNG goes to /dev/full, which fails each write with ENOSPC
        save = Image.Image.save
        monkeypatch.setattr(Image.Image, "save", lambda self, _fp, *a, **k: save(self, "/dev/full", *a, **k))
    return root / "cache"


def test_an_icon_keeps_how_far_its_render_raised_the_objective_on_disk_too(cache):
    """What lets a view mark a unit that barely responds instead of showing a gray square as if
    it were a picture: the objective at the render's first and last step, kept with the icon."""
    session = nb.Session.load("shapes")
    live, flat = fv.channel("conv3", 1), fv.channel("conv3", 1) * 0  # the second cannot be raised
    nb.featurevis.icon_service(session).get([live, flat], 32, 12)
    (first, last), flat_response = (nb.featurevis.icon_service(session).response(o, 32, 12) for o in (live, flat))
    assert last > first and flat_response == (0.0, 0.0)
    fresh = nb.featurevis.icon_service(nb.Session.load("shapes"))
    assert fresh.cached(live, 32, 12) is not None and fresh.response(live, 32, 12) == (first, last), "read back from the PNG"
    assert fresh.rendered == 0


@pytest.mark.parametrize("kind", ["a file in its place", "writes refused (EACCES)", "a full disk (ENOSPC)"])
def test_an_unusable_cache_directory_keeps_icons_in_memory_and_warns_once(kind, tmp_path, monkeypatch):
    folder = unusable_cache(kind, tmp_path, monkeypatch)
    monkeypatch.setenv("NEUROBLOCKS_CACHE", str(folder))
    session = nb.Session.load("shapes")
    with pytest.warns(RuntimeWarning, match="NEUROBLOCKS_CACHE") as warned:
        icons = nb.icons(session, "conv3", [1, 2], size=32, steps=6)
        again = nb.icons(session, "conv3", [3], size=32, steps=6)
    assert len(warned) == 1, "one warning, not one per icon"
    assert str(folder / "icons") in str(warned[0].message)
    assert icons.shape == (2, 32, 32, 3) and icons.std() > 0 and again.shape == (1, 32, 32, 3)
    service = nb.featurevis.icon_service(session)
    assert np.array_equal(nb.icons(session, "conv3", [2, 1], size=32, steps=6), icons[::-1]) and service.rendered == 3, "kept in memory"
    assert not [p for p in tmp_path.rglob("*") if p.name.endswith(".tmp")], "no half-written file left"


def test_concurrent_requests_render_an_icon_once(cache):
    session = nb.Session.load("shapes")
    barrier = threading.Barrier(4)

    def ask(_):
        barrier.wait()
        return nb.icons(session, "conv2", [4, 5], size=32, steps=8)

    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(ask, range(4)))
    assert nb.featurevis.icon_service(session).rendered == 2
    assert all(np.array_equal(r, results[0]) for r in results)


def test_changed_weights_miss_the_icon_cache(cache):
    session = nb.Session.load("shapes")
    before = nb.icons(session, "conv3", [3], size=32, steps=6)
    with torch.no_grad():
        session.model.conv1[0].weight.mul_(-1)
    after = nb.icons(session, "conv3", [3], size=32, steps=6)
    assert nb.featurevis.icon_service(session).rendered == 2 and not np.array_equal(before, after)


def test_direction_icons(cache, shapes_session):
    groups = nb.factorize(shapes_session, shapes.scene(0, classes=2).image, "conv3", 2)
    icons = nb.direction_icons(shapes_session, "conv3", groups.channels, size=32, steps=6)
    assert icons.shape == (2, 32, 32, 3)


class _Constant(nn.Module):
    def __init__(self):
        super().__init__()
        self.value = nn.Parameter(torch.ones(4))

    def forward(self, x):
        return self.value[None, :, None, None].expand(x.shape[0], 4, 2, 2)


def test_errors_say_what_to_do(shapes_session, googlenet):
    with pytest.raises(fv.FeatureVisError, match="channel 64 is out of range: layer 'conv3' has 64 channels"):
        fv.render(shapes_session, fv.channel("conv3", 64), steps=1)
    with pytest.raises(fv.FeatureVisError, match="needs 64 values .*not 10"):
        fv.render(shapes_session, fv.direction("conv3", torch.ones(10)), steps=1)
    with pytest.raises(nb.UnknownLayerError, match="unknown layer 'conv9'"):
        fv.render(shapes_session, fv.channel("conv9", 0), steps=1)
    with pytest.raises(fv.FeatureVisError, match="too small for this network"):
        fv.render(googlenet, fv.channel("inception5b", 0), size=1, steps=1)
    model = nn.Sequential()
    model.add_module("stem", nn.Conv2d(3, 4, 3))
    model.add_module("constant", _Constant())
    model.add_module("pool", nn.AdaptiveAvgPool2d(1))
    model.add_module("flat", nn.Flatten())
    with pytest.raises(fv.FeatureVisError, match="no gradient path from the image"):
        fv.render(nb.Session(model, input_size=16), fv.channel("constant", 0), size=16, steps=1)
