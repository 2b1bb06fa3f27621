"""Layer layouts (docs/guides/transformers.md) on torchvision's own transformers and modern CNNs, random weights: the
layout each layer is read with, and channels-last grids giving the numbers the same model gives
with the layer permuted to channels-first by hand (the Swin/ConvNeXt misreading this replaces
read (N, 14, 14, 1536) as 14 channels of a 14 × 1536 grid)."""

from __future__ import annotations

import pytest
import torch
import torchvision
from captum.attr import LayerGradientXActivation
from torch import nn
from torchvision.ops.misc import Permute

import neuroblocks as nb
from neuroblocks import attribution as attr
from neuroblocks.layer_layout import LayoutError

BLOCK = "features.5.2.block"  # a ConvNeXt block: dw conv, permute, LayerNorm, Linear (3), GELU (4), Linear, permute


def rel_err(ours: torch.Tensor, reference: torch.Tensor) -> float:
    ours, reference = ours.detach().double(), reference.detach().double()
    return float((ours - reference).norm() / reference.norm().clamp(min=1e-30))


@pytest.fixture(scope="module")
def convnext():
    torch.manual_seed(0)
    return torchvision.models.convnext_tiny(weights=None).eval()


@pytest.fixture(scope="module")
def convnext_session(convnext):
    return nb.Session(convnext, input_size=96)


@pytest.fixture(scope="module")
def permuted_by_hand(convnext):
    """The same network with block.3's output turned channels-first, and turned back before block.4."""
    model = torchvision.models.convnext_tiny(weights=None).eval()
    model.load_state_dict(convnext.state_dict())
    block = model.get_submodule(BLOCK)
    block[3] = nn.Sequential(block[3], Permute([0, 3, 1, 2]))
    block[4] = nn.Sequential(Permute([0, 2, 3, 1]), block[4])
    return nb.Session(model, input_size=96)


def test_layouts_are_read_from_the_shapes(convnext_session):
    torch.manual_seed(0)
    swin = nb.Session(torchvision.models.swin_t(weights=None).eval(), input_size=112)
    stage = swin.layout("features.1")
    assert (stage.kind, stage.native, swin.layer_shape("features.1")) == ("channels_last", (28, 28, 96), (96, 28, 28))
    assert stage.how == "inferred from inputs 112×112 and 192×112"  # the second probe is taller: what moved is the grid
    inner = convnext_session.layout(f"{BLOCK}.3")
    assert (inner.kind, convnext_session.layer_shape(f"{BLOCK}.3")) == ("channels_last", (1536, 6, 6))
    assert convnext_session.layout(f"{BLOCK}.0").kind == "channels_first"
    vit = nb.Session(torchvision.models.vit_b_16(weights=None).eval(), input_size=224)
    tokens = vit.layout("encoder.layers.encoder_layer_5")
    assert (tokens.kind, tokens.prefix, tokens.native) == ("tokens", 1, (197, 768))
    assert vit.layer_shape("encoder.layers.encoder_layer_5") == (768, 14, 14) and "encoder.layers.encoder_layer_5" in vit.readable_layers()
    assert nb.Session.load("shapes").layout("conv3").kind == "channels_first"


def test_channels_last_attribution_equals_captum_after_the_permutation(convnext_session):
    image = torch.rand(3, 96, 96, generator=torch.Generator().manual_seed(1))
    layer = f"{BLOCK}.3"
    captum = LayerGradientXActivation(lambda x: convnext_session.model(x), convnext_session.model.get_submodule(layer))
    reference = captum.attribute(convnext_session.image(image)[None], target=7)[0].permute(2, 0, 1)  # (H, W, C) → (C, H, W)
    plain = dict(rule="gradient")  # Captum's derivative; the views' default holds LayerNorm's scale constant
    assert rel_err(attr.neuron(convnext_session, image, layer, 7, **plain), reference) <= 1e-4
    assert rel_err(attr.channel(convnext_session, image, layer, 7, **plain), reference.sum((1, 2))) <= 1e-4
    assert attr.spatial(convnext_session, image, layer, 7).shape == (6, 6)


def test_channels_last_results_equal_the_model_permuted_by_hand(convnext_session, permuted_by_hand):
    image = torch.rand(3, 96, 96, generator=torch.Generator().manual_seed(2))
    layer = f"{BLOCK}.3"
    assert permuted_by_hand.layout(layer).kind == "channels_first"
    for a, b in [
        (convnext_session.trace(image, layer)[layer], permuted_by_hand.trace(image, layer)[layer]),
        (attr.to_classes(convnext_session, image, layer, "channels", only=range(8)), attr.to_classes(permuted_by_hand, image, layer, "channels", only=range(8))),
        (attr.to_classes(convnext_session, image, layer, "positions"), attr.to_classes(permuted_by_hand, image, layer, "positions")),
        (attr.layer_to_layer(convnext_session, image, layer, "features.7"), attr.layer_to_layer(permuted_by_hand, image, layer, "features.7")),
    ]:
        assert a.shape == b.shape and rel_err(a, b) <= 1e-5
    before = convnext_session.trace(image).logits
    with nb.ablate(convnext_session, layer, [0, 5, 9]) as ablation:
        change = ablation.change(image)
    with nb.ablate(permuted_by_hand, layer, [0, 5, 9]) as by_hand:
        assert rel_err(change, by_hand.change(image)) <= 1e-5 and change.abs().max() > 0
    torch.testing.assert_close(convnext_session.trace(image).logits, before)  # restored after the ablation


def test_every_view_builds_on_a_channels_last_layer(convnext_session):
    image = torch.rand(3, 96, 96, generator=torch.Generator().manual_seed(3))
    layer = f"{BLOCK}.3"
    for view in (
        nb.SemanticDictionary(convnext_session, image, layer, icon_steps=0),
        nb.ActivationGrid(convnext_session, image, layer, icon_steps=0),
        nb.SpatialAttribution(convnext_session, image, layer, "features.7", classes=[1, 2], icon_steps=0),
        nb.ChannelAttribution(convnext_session, image, layer, icon_steps=0),
        nb.NeuronGroups(convnext_session, image, layer, k=3, method="pca", icon_steps=0),
    ):
        assert view.error == "", (type(view).__name__, view.error)


def test_a_layout_the_shapes_cannot_tell_must_be_stated():
    """An 8×8-input model (its head fixes the size) with a Linear over an (8, 8, 8) tensor: either layout fits."""

    class Model(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv2d(3, 8, 3, padding=1)
            self.mix = nn.Linear(8, 8)
            self.head = nn.Linear(8 * 64, 4)

        def forward(self, x):
            return self.head(self.mix(self.conv(x).permute(0, 2, 3, 1)).flatten(1))

    torch.manual_seed(0)
    session = nb.Session(Model().eval(), input_size=8)
    assert session.layout("conv").kind == "channels_first"  # a convolution's output, by convention
    with pytest.raises(LayoutError, match=r"layouts=\{'mix': 'channels_first'\}"):
        session.layer_shape("mix")
    assert "mix" not in session.readable_layers()
    stated = nb.Session(session.model, input_size=8, layouts={"mi*": "channels_last"})
    assert (stated.layout("mix").kind, stated.layout("mix").how, stated.layer_shape("mix")) == ("channels_last", "stated", (8, 8, 8))
    image = torch.rand(3, 8, 8)
    captum = LayerGradientXActivation(lambda x: stated.model(x), stated.model.mix).attribute(stated.image(image)[None], target=1)[0]
    assert rel_err(attr.neuron(stated, image, "mix", 1), captum.permute(2, 0, 1)) <= 1e-4
    with pytest.raises(LayoutError, match="cannot be tokens"):
        nb.Session(session.model, input_size=8, layouts={"mix": "tokens:1"}).layout("mix")
    with pytest.raises(LayoutError, match="say 'channels_first'"):
        nb.Session(session.model, input_size=8, layouts={"mix": "sideways"}).layout("mix")
