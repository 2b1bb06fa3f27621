"""Attribution rules (`attribution.rules`): the conservative rule holds normalisation scales and
softmax weights constant, so attribution through a LayerNorm adds up to what passed through it.
Checked analytically (a ViT's last block, GroupNorm and RMSNorm toys), against Captum on a shapes
ViT whose detaches are written by hand, in both AD modes, and on the shapes world's ground truth."""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch
import torch.nn.functional as F
import torchvision
from captum.attr import LayerGradientXActivation
from torch import nn

import neuroblocks as nb
from neuroblocks import attribution as attr
from neuroblocks import shapes
from neuroblocks.attribution import rules
from neuroblocks.models import live_heads
from neuroblocks.shapes.vit import Attention


def rel_err(ours: torch.Tensor, reference: torch.Tensor) -> float:
    ours, reference = ours.detach().double(), reference.detach().double()
    return float((ours - reference).norm() / reference.norm().clamp(min=1e-30))


@pytest.fixture(scope="module")
def vit() -> tuple[nb.Session, torch.Tensor]:
    torch.manual_seed(0)
    model = torchvision.models.vit_b_16(image_size=48, num_classes=10)
    return nb.Session(live_heads(model).eval(), input_size=48), torch.rand(3, 48, 48, generator=torch.Generator().manual_seed(1))


def test_through_a_vits_final_layernorm_attribution_adds_up_to_the_logit(vit):
    """torchvision's ViT reads the class token through `encoder.ln` into a linear head. With the
    norm's scale held constant, the last block's attributions sum to the logit less what the
    biases add; the plain gradient's sum to ~0 (LayerNorm ignores a token's scale)."""
    session, image = vit
    layer = "encoder.layers.encoder_layer_11"
    logits = session.trace(image).logits
    head, norm = session.model.heads.head, session.model.encoder.ln
    expected = (logits - head.bias - head.weight @ norm.bias).detach()
    conservative = torch.stack([attr.channel(session, image, layer, c).sum() for c in range(10)])
    plain = torch.stack([attr.channel(session, image, layer, c, rule="gradient").sum() for c in range(10)])
    assert nb.attribution.settings(session).rule == "conservative", "the default"
    assert rel_err(conservative, expected) <= 1e-5
    assert plain.abs().max() <= 1e-4 * expected.abs().max(), "the plain gradient's sum is degenerate"


def test_the_rule_holds_in_forward_and_reverse_mode_and_leaves_the_logits_alone(vit):
    session, image = vit
    layer = "encoder.layers.encoder_layer_5"
    forward = attr.to_classes(session, image, layer, mode="forward")
    reverse = attr.to_classes(session, image, layer, mode="reverse")
    assert rel_err(forward, reverse) <= 1e-4
    assert rel_err(forward[:9, 3], attr.spatial(session, image, layer, 3).flatten()) <= 1e-4, "the 3×3 patches, then the class token"
    assert rel_err(forward, attr.to_classes(session, image, layer, mode="forward", rule="gradient")) > 1e-2, "the rule changes the derivatives"
    above, a = session.above(image, layer), session.trace(image, layer)
    with rules.applied("conservative"):
        held = above(a[layer][None]).logits
    assert torch.equal(held, above(a[layer][None]).logits), "forward values are bit-identical"
    with pytest.raises(nb.errors.AttributionError, match="rule is 'conservative' .* or 'gradient'"):
        attr.spatial(session, image, layer, 3, rule="lrp")


class _HeldNorm(nn.Module):
    """LayerNorm with its scale held constant, written out: the reference's own code."""

    def __init__(self, norm: nn.LayerNorm) -> None:
        super().__init__()
        self.norm = norm

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        centred = x - x.mean(-1, keepdim=True)
        scale = (centred.pow(2).mean(-1, keepdim=True) + self.norm.eps).rsqrt().detach()
        return centred * scale * self.norm.weight + self.norm.bias


class _HeldAttention(Attention):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n, length, dim = x.shape
        q, k, v = self.qkv(x).reshape(n, length, 3, self.heads, dim // self.heads).permute(2, 0, 3, 1, 4)
        weights = (q @ k.transpose(-2, -1) * (dim // self.heads) ** -0.5).softmax(-1).detach()
        return self.proj((weights @ v).transpose(1, 2).reshape(n, length, dim))


def _held_by_hand(model: nn.Module) -> nn.Module:
    held = copy.deepcopy(model)
    for block in held.blocks:
        block.norm1, block.norm2 = _HeldNorm(block.norm1), _HeldNorm(block.norm2)
        block.attn.__class__ = _HeldAttention
    held.norm = _HeldNorm(held.norm)
    return held


@pytest.fixture(scope="module")
def shapes_vit_ln() -> nb.Session:
    return nb.Session.load("shapes-vit-ln")


@pytest.mark.parametrize("layer", ["blocks.1", "blocks.2", "blocks.3"])
def test_conservative_attribution_equals_captum_on_a_vit_held_by_hand(shapes_vit_ln, layer):
    scene = shapes.scene(7, classes=2)
    x = shapes_vit_ln.model_input(shapes_vit_ln.image(scene.image)[None])
    held = _held_by_hand(shapes_vit_ln.model)
    for label in scene.labels:
        c = shapes_vit_ln.class_index(label)
        native = LayerGradientXActivation(held, held.get_submodule(layer)).attribute(x, target=c)[0].detach()  # (65, 64): CLS, then 8×8
        assert rel_err(attr.neuron(shapes_vit_ln, scene.image, layer, c), native[1:].T.reshape(64, 8, 8)) <= 1e-4
        assert rel_err(attr.prefix_tokens(shapes_vit_ln, scene.image, layer, c), native[:1]) <= 1e-4
        assert rel_err(attr.to_classes(shapes_vit_ln, scene.image, layer)[:, c], torch.cat([native[1:].sum(1), native[:1].sum(1)])) <= 1e-4


def _on_object(session: nb.Session, layer: str, rule: str, scenes: int = 50) -> list[float]:
    """Each class's share of positive spatial attribution on its own object's cells, in held-out two-object scenes."""
    shares = []
    for seed in range(scenes):
        scene = shapes.scene(1000 + seed, classes=2)
        for label in scene.labels:
            positive = attr.spatial(session, scene.image, layer, label, rule=rule).clamp(min=0)
            cells = F.adaptive_max_pool2d(torch.from_numpy(scene.masks[label]).float()[None, None], 8)[0, 0] > 0
            shares.append(float((positive * cells).sum() / positive.sum().clamp(min=1e-30)))
    return shares


@pytest.mark.parametrize("layer", ["blocks.2", "blocks.3"])
def test_a_vit_with_a_final_layernorm_decides_from_the_objects(shapes_vit_ln, layer):
    """The ground truth for the architecture users bring: with the conservative rule, at the
    blocks the transformers notebook reads, a class's positive attribution lies on its object."""
    conservative = _on_object(shapes_vit_ln, layer, "conservative")
    plain = _on_object(shapes_vit_ln, layer, "gradient")
    print(f"\nshapes-vit-ln {layer}: on-object share, conservative mean {np.mean(conservative):.1%} (worst {min(conservative):.1%}), "
          f"plain gradient mean {np.mean(plain):.1%} (worst {min(plain):.1%})")
    assert np.mean(conservative) >= 0.7, f"mean share {np.mean(conservative):.2f}, worst {min(conservative):.2f}"


class _Toy(nn.Module):
    """conv → norm (GroupNorm on the maps, RMSNorm on each position's features) → mean → linear."""

    def __init__(self, norm: nn.Module) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 8, 3, padding=1)
        self.norm = norm
        self.head = nn.Linear(8, 4)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        a = self.conv(x)
        if isinstance(self.norm, nn.GroupNorm):
            return self.head(self.norm(a).mean((2, 3)))
        return self.head(self.norm(a.permute(0, 2, 3, 1)).mean((1, 2)))


@pytest.mark.parametrize("norm", [nn.GroupNorm(2, 8), nn.RMSNorm(8)], ids=["GroupNorm", "RMSNorm"])
def test_group_and_rms_norms_are_held_too(norm):
    """Through a norm held constant and a linear head, attributions sum to the logit less the biases."""
    torch.manual_seed(0)
    for p in norm.parameters():
        nn.init.normal_(p)
    session = nb.Session(_Toy(norm).eval(), input_size=12)
    image = torch.rand(3, 12, 12, generator=torch.Generator().manual_seed(2))
    logits = session.trace(image).logits
    shift = norm.bias if getattr(norm, "bias", None) is not None else torch.zeros(8)
    expected = (logits - session.model.head.bias - session.model.head.weight @ shift).detach()
    total = torch.stack([attr.channel(session, image, "conv", c).sum() for c in range(4)])
    assert rel_err(total, expected) <= 1e-5
