"""Models whose input is not RGB: grayscale (the bundled shapes-gray model, MNIST-style nets),
RGB-D (4 channels) and multispectral (13 channels), through images, every block and every view."""

from __future__ import annotations

import io

import numpy as np
import pytest
import torch
import torchvision
from captum.attr import LayerGradientXActivation
from PIL import Image
from torch import nn

import neuroblocks as nb
from neuroblocks import attribution as attr
from neuroblocks import dissection as D
from neuroblocks import featurevis as fv
from neuroblocks import shapes
from neuroblocks.channels import ChannelError
from neuroblocks.featurevis import icon_cache as icons_module
from neuroblocks.featurevis.param import COLOR_MIX, FourierImage
from neuroblocks.widgets.payload import unpack

SCENE = shapes.scene(3, classes=2)
SIDE = 64  # the multi-channel models' input side: small enough for every view on 2 cores


def stem_swapped_resnet(channels: int) -> nn.Module:
    """ResNet-18 with its first convolution taking `channels` bands: how RGB-D and satellite
    models are usually made."""
    torch.manual_seed(channels)
    model = torchvision.models.resnet18(num_classes=10)
    model.conv1 = nn.Conv2d(channels, 64, 7, 2, 3, bias=False)
    return model


def bands(channels: int, seed: int = 0) -> torch.Tensor:
    """A smooth random C×H×W image in [0, 1] (upsampled noise, so units see structure)."""
    coarse = torch.rand(1, channels, 8, 8, generator=torch.Generator().manual_seed(seed))
    return torch.nn.functional.interpolate(coarse, size=(SIDE, SIDE), mode="bilinear", align_corners=False)[0]


@pytest.fixture(scope="module", params=[1, 4, 13], ids=["gray", "rgbd", "multispectral"])
def case(request, shapes_gray):
    """(session, image, lower layer, upper layer, two classes) for each channel count."""
    if request.param == 1:
        return shapes_gray, SCENE.image, "conv3", "conv4", tuple(SCENE.labels)
    session = nb.Session(stem_swapped_resnet(request.param), input_size=SIDE)
    return session, bands(request.param), "layer2", "layer3", (1, 2)


# -- how many channels, and images made to match ------------------------------------------------


def test_the_channel_count_is_read_from_the_model(shapes_gray, shapes_session):
    lenet = nn.Sequential(nn.Conv2d(1, 6, 5), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(6, 10))
    mlp = nn.Sequential(nn.Flatten(), nn.Linear(28 * 28, 32), nn.ReLU(), nn.Linear(32, 10))
    assert (nb.Session(lenet, input_size=28).channels, nb.Session(lenet, input_size=28).channels_source) == (1, "0.in_channels")
    assert (nb.Session(mlp, input_size=28).channels, nb.Session(mlp, input_size=28).channels_source) == (1, "1.in_features / (28×28)")
    assert nb.Session(stem_swapped_resnet(13), input_size=SIDE).channels == 13
    assert shapes_gray.channels == 1 and shapes_session.channels == 3
    # The pass, not the registration order, says which convolution the input reaches first.
    class HeadRegisteredFirst(nn.Module):
        def __init__(self):
            super().__init__()
            self.head = nn.Conv2d(8, 10, 1)
            self.stem = nn.Conv2d(1, 8, 3)

        def forward(self, x):
            return self.head(self.stem(x)).mean((2, 3))

    late = nb.Session(HeadRegisteredFirst(), input_size=28)
    assert (late.channels, late.channels_source) == (1, "stem.in_channels")
    assert len(late.predict(np.zeros((28, 28, 3), np.uint8))) == 5


def test_a_wrong_channel_count_fails_at_once_naming_both_counts(shapes_gray):
    lenet = nn.Sequential(nn.Conv2d(1, 6, 5), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(6, 10))
    with pytest.raises(ChannelError, match=r"fails on a 3-channel 28×28 input \(channels given\).*channels=N"):
        nb.Session(lenet, input_size=28, channels=3).layers
    with pytest.raises(ChannelError, match="number of input channels"):
        nb.Session(lenet, channels=0)
    with pytest.raises(ChannelError, match=r"takes 1-channel images \(N, 1, H, W\); got 3-channel images of shape \(2, 3, 64, 64\)"):
        shapes_gray.forward(torch.zeros(2, 3, 64, 64))
    rgbd = nb.Session(stem_swapped_resnet(4), input_size=SIDE)
    for rgb in (SCENE.image, Image.fromarray(SCENE.image), torch.rand(3, SIDE, SIDE)):
        with pytest.raises(nb.ImageError, match="this model takes 4 input channels, but the image has 3.*H×W×4 array or a 4×H×W tensor"):
            rgbd.predict(rgb)


def test_colour_becomes_luminance_as_pillow_computes_it(shapes_gray, tmp_path):
    photo = SCENE.image
    reference = torch.from_numpy(np.asarray(Image.fromarray(photo).convert("L"), np.float32) / 255)
    for given in (photo, Image.fromarray(photo), torch.from_numpy(photo).permute(2, 0, 1)):
        gray = nb.load_image(given, channels=1)
        assert gray.shape == (1, 64, 64) and (gray[0] - reference).abs().max() <= 1 / 255 + 1e-6
    assert torch.equal(shapes_gray.image(photo), nb.load_image(photo, channels=1))
    # One-band files keep their values, 16-bit ones included; alpha is composited over white first.
    ramp = (np.arange(64 * 64, dtype=np.uint16).reshape(64, 64) * 16)
    path = tmp_path / "ramp16.png"
    Image.fromarray(ramp).save(path)
    assert torch.allclose(nb.load_image(path, channels=1)[0], torch.from_numpy(ramp / 65535).float())
    clear = np.zeros((4, 4, 4), np.uint8)
    assert torch.equal(nb.load_image(clear, channels=1), torch.ones(1, 4, 4)), "transparent reads as white paper"


def test_multi_channel_data_comes_either_way_round_with_every_band_kept():
    data = torch.rand(13, 20, 30, generator=torch.Generator().manual_seed(0))
    assert torch.equal(nb.load_image(data, channels=13), data)
    assert torch.equal(nb.load_image(data.permute(1, 2, 0).numpy(), channels=13), data)
    assert torch.equal(nb.load_image(data.numpy(), channels=13), data), "a C×H×W numpy array too"
    sixteen = (data[:4].numpy() * 65535).astype(np.uint16)
    assert torch.allclose(nb.load_image(sixteen, channels=4), torch.from_numpy(sixteen / 65535).float())
    rgba = np.dstack([np.full((4, 4, 3), 200, np.uint8), np.full((4, 4), 51, np.uint8)])
    assert torch.allclose(nb.load_image(rgba, channels=4)[3], torch.full((4, 4), 0.2)), "a 4th band is data, not alpha"
    assert nb.load_image(data, size=16, channels=13).shape == (13, 16, 16)


# -- every block --------------------------------------------------------------------------------


def test_predict_and_attribution_equal_captum(case):
    session, image, layer, _, (a, _) = case
    assert len(session.predict(image, 3)) == 3
    x = session.image(image)[None]
    target = session.class_index(a)
    module = dict(session.model.named_modules())[layer]
    reference = LayerGradientXActivation(lambda z: session.model(z), module).attribute(x, target=target)[0].detach()
    for ours, theirs in [
        (attr.neuron(session, image, layer, a), reference),
        (attr.spatial(session, image, layer, a), reference.sum(0)),
        (attr.channel(session, image, layer, a), reference.sum((1, 2))),
    ]:
        assert float((ours - theirs).norm() / theirs.norm()) <= 1e-5


def test_factorization_reconstructs_the_layer(case):
    session, image, layer, _, _ = case
    groups = nb.factorize(session, image, layer, 4)
    acts = session.trace(image, layer)[layer]
    assert groups.masks.shape == (4, *acts.shape[1:])
    fewer = nb.factorize(session, image, layer, 2)
    assert groups.error < fewer.error < 1.0


def test_feature_visualization_rises_and_is_drawn_as_the_session_draws_inputs(case):
    session, _, layer, _, _ = case
    values = []
    images = fv.render(session, fv.channel(layer, 3), size=48, steps=40, progress=lambda p: values.append(float(p.values[0])))
    assert images.shape == (1, 48, 48, 3)
    assert np.mean(values[-5:]) > np.mean(values[:3]), (values[0], values[-1])
    if session.channels == 1:
        assert np.array_equal(images[..., 0], images[..., 1]) and np.array_equal(images[..., 1], images[..., 2]), "gray"


def test_every_view_builds_and_exports(case, tmp_path):
    session, image, layer, upper, classes = case
    items = [(bands(session.channels, seed) if session.channels > 1 else shapes.scene(seed).image, _masks(seed)) for seed in range(6)]
    result = D.dissect(session, layer, items)
    examples = D.dataset_examples(session, layer, items, k=2)
    options = dict(icon_size=32, icon_steps=4)
    views = [
        nb.SemanticDictionary(session, image, layer, **options),
        nb.ActivationGrid(session, image, layer, **options),
        nb.SpatialAttribution(session, image, layer, upper, classes=list(classes)),
        nb.ChannelAttribution(session, image, layer, **options),
        nb.ClassComparison(session, image, layer, list(classes), **options),
        nb.NeuronGroups(session, image, layer, 3, **options),
        nb.GroupFlow(session, image, [layer, upper], 3, **options),
        nb.FeatureVis(session, layer=layer, channel=1, size=32, steps=4),
        nb.DissectionView(session, result, examples, units=3, **options),
    ]
    for view in views:
        view.wait(icons=True)
        assert not view.error, f"{type(view).__name__}: {view.error}"
    note = session.display_note
    pictures = [v.picture for v in views if v.picture]
    assert len(pictures) == 7 and all(p["note"] == note for p in pictures) and views[7].drawn == note
    drawn = np.asarray(Image.open(io.BytesIO(pictures[0]["png"])))
    assert drawn.shape == (*session.image(image).shape[1:], 3)
    expected = (session.display(session.image(image)).permute(1, 2, 0) * 255).round().byte().numpy()
    assert np.abs(drawn.astype(int) - expected).max() <= 1
    assert unpack(views[-1].maps).shape[1] == 2
    page = nb.to_html(tmp_path / "views.html", *views).read_text()
    assert page.count(note) >= 7, "each input picture keeps its note in the exported page"


def _masks(seed: int) -> dict[str, np.ndarray]:
    """Two made-up concepts per image: its left half and a seeded blob."""
    side = SIDE
    left = np.zeros((side, side), bool)
    left[:, : side // 2] = True
    blob = np.random.default_rng(seed).random((side, side)) > 0.8
    return {"left": left, "blob": blob}


# -- how such inputs are optimised and drawn ----------------------------------------------------


def test_estimated_decorrelation_is_a_square_root_of_the_data_covariance():
    mixing = torch.tensor([[1.0, 0.0, 0.0, 0.0], [0.8, 0.3, 0.0, 0.0], [0.1, 0.2, 0.5, 0.0], [0.0, 0.0, 0.4, 0.1]])
    z = torch.randn(4, 8 * 32 * 32, generator=torch.Generator().manual_seed(0))
    images = (mixing @ z).reshape(4, 8, 32, 32).transpose(0, 1)  # 8 images, 4 correlated channels
    mix = fv.estimate_decorrelation(images)
    covariance = torch.from_numpy(np.cov(images.transpose(0, 1).reshape(4, -1).numpy())).float()
    # Scaled as ImageNet's: its largest column has norm 1, so mix mixᵀ = covariance / its top eigenvalue.
    assert torch.allclose(mix @ mix.T, covariance / torch.linalg.eigvalsh(covariance).max(), atol=1e-4)
    assert torch.allclose(FourierImage([0], 8, 8, channels=3).mix, COLOR_MIX)
    assert torch.equal(FourierImage([0], 8, 8, channels=13).mix, torch.eye(13))


def test_a_given_decorrelation_and_composite_change_what_is_rendered_and_cached(tmp_path, monkeypatch):
    monkeypatch.setenv("NEUROBLOCKS_CACHE", str(tmp_path))
    net = stem_swapped_resnet(4)
    plain = nb.Session(net, input_size=SIDE)
    correlated = fv.configure(nb.Session(net, input_size=SIDE), decorrelation=fv.estimate_decorrelation(torch.stack([bands(4, s) for s in range(4)])))
    swapped = nb.Session(net, input_size=SIDE, display_channels=(3, 2, 1))
    objective = fv.channel("layer1", 0)
    images = [fv.render(s, objective, size=32, steps=6) for s in (plain, correlated, swapped)]
    assert not np.array_equal(images[0], images[1]), "the channel mix shapes the optimisation"
    assert not np.array_equal(images[0], images[2]), "another composite draws other channels"
    keys = {icons_module.IconService(s).key(objective, 32, 6, 0) for s in (plain, correlated, swapped)}
    assert len(keys) == 3, "icons drawn or mixed differently are cached apart"
    x = bands(4)
    assert torch.equal(swapped.display(x), x[[3, 2, 1]])
    assert swapped.display_note == "4-channel input: channel 3 as red, channel 2 as green, channel 1 as blue"
    with pytest.raises(ChannelError, match=r"3 input channels drawn as red, green and blue, each in 0…3"):
        plain.display_channels = (0, 1, 4)
    with pytest.raises(ChannelError, match=r"a 4×4 matrix for this 4-channel model, not \(3, 3\)"):
        fv.configure(nb.Session(net, input_size=SIDE), decorrelation=torch.eye(3))
