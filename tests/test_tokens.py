"""Token layers (docs/guides/transformers.md) on the models people study, random weights, no downloads: torchvision's
ViT, Swin, ConvNeXt and MaxViT, timm's ViT and a timm ViT with register tokens, and a small
Hugging Face ViT. For each: the layout read, attribution equal to Captum's
LayerGradientXActivation after the layout's permutation (prefix tokens included), spatial maps
on the patch grid, the views on a middle block, and an ablation that restores the logits."""

from __future__ import annotations

import pytest
import timm
import torch
import torchvision
from captum.attr import LayerGradientXActivation
from timm.models.vision_transformer import VisionTransformer
from transformers import ViTConfig, ViTForImageClassification

import neuroblocks as nb
from neuroblocks import attribution as attr
from neuroblocks.models import live_heads
from neuroblocks.widgets.payload import unpack
from neuroblocks.featurevis import objectives
from neuroblocks.featurevis import render as fv_render


def rel_err(ours: torch.Tensor, reference: torch.Tensor) -> float:
    ours, reference = ours.detach().double(), reference.detach().double()
    return float((ours - reference).norm() / reference.norm().clamp(min=1e-30))


def _hf_vit() -> nb.Session:
    config = ViTConfig(image_size=32, patch_size=8, hidden_size=32, num_hidden_layers=3, num_attention_heads=2, intermediate_size=64, num_labels=6)
    return nb.attribution.configure(nb.Session(ViTForImageClassification(config).eval(), input_size=32), rule="gradient")


def _timm_registers() -> nb.Session:
    model = VisionTransformer(img_size=48, patch_size=8, embed_dim=48, depth=3, num_heads=2, reg_tokens=4, num_classes=6)
    return nb.attribution.configure(nb.Session(model.eval(), input_size=48), rule="gradient")


def _live(model: torch.nn.Module, size: int) -> nb.Session:
    """A random model as `Session.load(..., weights="random")` makes it (torchvision starts a ViT's
    head at zero), with the plain gradient that Captum takes."""
    return nb.attribution.configure(nb.Session(live_heads(model).eval(), input_size=size), rule="gradient")


# The architectures as their builders make them, with 10 classes (all-class attribution is then
# 10 reverse passes, not 1,000) and, where the model allows, a smaller input: CPU time.
#: name → (session builder, middle block, its layout kind, prefix tokens, patch grid (H, W)).
CASES = {
    "torchvision vit_b_16": (lambda: _live(torchvision.models.vit_b_16(image_size=112, num_classes=10), 112), "encoder.layers.encoder_layer_5", "tokens", 1, (7, 7)),
    "torchvision swin_t": (lambda: _live(torchvision.models.swin_t(num_classes=10), 112), "features.3", "channels_last", 0, (14, 14)),
    "torchvision convnext_tiny": (lambda: _live(torchvision.models.convnext_tiny(num_classes=10), 96), "features.5.4.block.3", "channels_last", 0, (6, 6)),
    "torchvision maxvit_t": (lambda: _live(torchvision.models.maxvit_t(num_classes=10), 224), "blocks.2", "channels_first", 0, (14, 14)),
    "timm vit_tiny_patch16_224": (lambda: _live(timm.create_model("vit_tiny_patch16_224", pretrained=False, num_classes=10), 224), "blocks.6", "tokens", 1, (14, 14)),
    "timm ViT with 4 registers": (_timm_registers, "blocks.1", "tokens", 5, (6, 6)),
    "Hugging Face ViT": (_hf_vit, "vit.layers.1", "tokens", 1, (4, 4)),
}


@pytest.fixture(scope="module", params=list(CASES))
def case(request):
    build, layer, kind, prefix, grid = CASES[request.param]
    torch.manual_seed(0)
    session = build()
    side = session.input_size if isinstance(session.input_size, int) else session.input_size[0]
    image = torch.rand(3, side, side, generator=torch.Generator().manual_seed(1))
    return session, image, layer, kind, prefix, grid


def _native_reference(session: nb.Session, image, layer: str, target: int) -> torch.Tensor:
    module = session.model.get_submodule(layer)
    return LayerGradientXActivation(lambda x: session.logits_of(session.model(x)), module).attribute(session.model_input(session.image(image)[None]), target=target)[0].detach()


def test_the_layout_is_reported_and_attribution_equals_captum(case):
    session, image, layer, kind, prefix, (h, w) = case
    layout = session.layout(layer)
    assert (layout.kind, layout.prefix) == (kind, prefix), str(layout)
    c = session.layer_shape(layer)[0]
    assert session.layer_shape(layer) == (c, h, w)
    target = 3
    native = _native_reference(session, image, layer, target)
    if kind == "tokens":  # (L, C): prefix tokens, then the patch grid row-major
        grid, front = native[prefix:].T.reshape(c, h, w), native[:prefix]
    elif kind == "channels_last":
        grid, front = native.permute(2, 0, 1), native.new_zeros(0, c)
    else:
        grid, front = native, native.new_zeros(0, c)
    assert rel_err(attr.neuron(session, image, layer, target), grid) <= 1e-4
    assert rel_err(attr.channel(session, image, layer, target), grid.sum((1, 2)) + front.sum(0)) <= 1e-4, "channels sum over every token"
    spatial = attr.spatial(session, image, layer, target)
    # A token's sum over features nearly cancels in a residual stream read through LayerNorm
    # (scale invariance): its float error is measured against the neurons it sums.
    assert spatial.shape == (h, w) and float((spatial - grid.sum(0)).norm() / grid.norm()) <= 1e-4
    tokens = attr.prefix_tokens(session, image, layer, target)
    assert tokens.shape == (prefix, c)
    if prefix:
        assert rel_err(tokens, front) <= 1e-4


def test_an_ablation_changes_the_logits_and_restores_them(case):
    session, image, layer, kind, prefix, _ = case
    before = session.trace(image).logits
    with nb.ablate(session, layer, list(range(0, session.layer_shape(layer)[0], 3))) as ablation:
        assert ablation.change(image).abs().max() > 0
    if prefix:
        with nb.ablate(session, layer, positions=[[-1, 0]]) as ablation:
            assert ablation.change(image).abs().max() > 0, "the class token can be switched off"
    torch.testing.assert_close(session.trace(image).logits, before)


def test_views_build_on_a_middle_block(case):
    session, image, layer, kind, prefix, (h, w) = case
    options = dict(icon_steps=0)
    views = [
        nb.SemanticDictionary(session, image, layer, **options),
        nb.ActivationGrid(session, image, layer, **options),
        nb.ChannelAttribution(session, image, layer, **options),
        nb.ClassComparison(session, image, layer, [1, 2], **options),
        nb.NeuronGroups(session, image, layer, 3, **options),
    ]
    for view in views:
        view.wait()
        assert view.error == "", (type(view).__name__, view.error)
    assert views[0].acts["shape"] == [session.layer_shape(layer)[0], h, w]
    assert views[0].prefix_labels == (["CLS", *(f"T{p}" for p in range(1, prefix))] if prefix else [])
    assert views[4].found_by.startswith("NMF of activations")


def test_named_transformers_load_with_live_heads_labels_and_preprocessing():
    """torchvision starts a ViT's head at zero: a random ViT so loaded would attribute nothing."""
    session = nb.Session.load("vit_b_16", weights="random")
    assert session.model.heads.head.weight.abs().max() > 0
    assert (session.input_size, session.class_name(208), session.layout("encoder.layers.encoder_layer_5").native) == (224, "Labrador retriever", (197, 768))
    tiny = nb.Session.load("timm:vit_tiny_patch16_224", weights="random")
    assert (tiny.input_size, len(tiny.labels), tiny.prefix_tokens("blocks.6")) == ((224, 224), 1000, 1)
    assert tiny.class_name(208).lower().startswith("labrador"), "labels from timm's ImageNet info"
    assert list(tiny.preprocess.mean) == list(timm.data.resolve_data_config({}, model=tiny.model)["mean"])
    with pytest.raises(ValueError, match="unknown timm model 'vit_tiny_patch16_225'; close names: timm:vit_tiny_patch16_224"):
        nb.Session.load("timm:vit_tiny_patch16_225", weights="random")


def test_hugging_face_outputs_give_their_logits_and_hidden_states():
    session = _hf_vit()
    image = torch.rand(3, 32, 32, generator=torch.Generator().manual_seed(4))
    logits = session.model(session.image(image)[None]).logits[0]
    torch.testing.assert_close(session.trace(image).logits, logits)
    trace = session.trace(image, "vit.layers.2")
    assert trace["vit.layers.2"].shape == (32, 4, 4) and trace.prefixes["vit.layers.2"].shape == (1, 32)


def test_a_prefix_token_is_a_position_of_every_attribution_matrix():
    session = _timm_registers()
    image = torch.rand(3, 48, 48, generator=torch.Generator().manual_seed(5))
    layer = "blocks.1"
    per_class = attr.to_classes(session, image, layer)
    assert per_class.shape == (36 + 5, 6)
    reference = _native_reference(session, image, layer, 2).sum(1)  # (L,) per token
    expected = torch.cat([reference[5:], reference[:5]])
    assert float((per_class[:, 2] - expected).norm() / expected.abs().max()) <= 1e-3, "patches row-major, then the prefix tokens"
    flow = attr.layer_to_layer(session, image, "blocks.0", layer)
    assert flow.shape == (41, 41)
    reverse = attr.to_classes(session, image, layer, mode="reverse")
    assert rel_err(per_class, reverse) <= 1e-4


def test_a_neuron_of_the_class_token_can_be_visualised():
    session = _hf_vit()
    layer = "vit.layers.1"
    values = []
    images = fv_render(session, objectives.neuron(layer, 4, (-1, 0)), size=40, steps=30, progress=lambda p: values.append(float(p.values[0])))
    assert images.shape == (1, 40, 40, 3), "a model of one input size is given the image resized"
    assert values[-1] > values[0]
    with pytest.raises(nb.NeuroblocksError, match="has 1 prefix tokens; there is no prefix token 3"):
        fv_render(session, objectives.neuron(layer, 4, (-1, 3)), size=40, steps=2)


# -- the shapes ViT: a transformer whose world is known -------------------------------------------


def test_every_view_builds_on_the_shapes_vit_with_its_class_token(shapes_vit, tmp_path):
    from neuroblocks import dissection as D
    from neuroblocks import shapes

    scene = shapes.scene(3, classes=2)
    layer, upper = "blocks.2", "blocks.3"
    data = D.ShapesConcepts(24)
    result = D.dissect(shapes_vit, layer, data)
    examples = D.dataset_examples(shapes_vit, layer, data, k=2)
    assert result.iou.shape[0] == shapes_vit.layer_shape(layer)[0]
    options = dict(icon_size=32, icon_steps=2)
    views = [
        nb.SemanticDictionary(shapes_vit, scene.image, layer, **options),
        nb.ActivationGrid(shapes_vit, scene.image, layer, **options),
        nb.SpatialAttribution(shapes_vit, scene.image, layer, upper),
        nb.ChannelAttribution(shapes_vit, scene.image, layer, **options),
        nb.ClassComparison(shapes_vit, scene.image, layer, list(scene.labels), **options),
        nb.NeuronGroups(shapes_vit, scene.image, layer, 3, **options),
        nb.GroupFlow(shapes_vit, scene.image, [layer, upper], 3, **options),
        nb.FeatureVis(shapes_vit, layer=layer, channel=1, size=32, steps=4),
        nb.DissectionView(shapes_vit, result, examples, units=3, **options),
    ]
    for view in views:
        view.wait(icons=True)
        assert not view.error, f"{type(view).__name__}: {view.error}"
    assert views[1].icons["-1,0"], "the class token's cell has its icon"
    assert views[2].lower_prefix["shape"] == [2, 1] and views[2].flow["shape"] == [65, 65]
    cls = [attr.prefix_tokens(shapes_vit, scene.image, layer, c).sum(1) for c in views[2].classes]
    torch.testing.assert_close(torch.from_numpy(unpack(views[2].lower_prefix).copy()), torch.stack(cls), rtol=1e-5, atol=1e-7)
    page = nb.to_html(tmp_path / "vit.html", *views).read_text()
    assert page.count('"prefix_labels": ["CLS"]') == 2, "the dictionary's and the grid's class-token cell travel with the export"


@pytest.mark.parametrize("layer", ["blocks.2", "blocks.3"])
def test_the_shapes_vit_decides_from_the_objects(shapes_vit, layer):
    """docs/guides/transformers.md ground truth: in 50 held-out two-object scenes, each class's positive spatial
    attribution at the blocks the notebooks read lies on its own object (README: 90% and 99%)."""
    import numpy as np
    import torch.nn.functional as F

    from neuroblocks import shapes

    shares = []
    for seed in range(50):
        scene = shapes.scene(1000 + seed, classes=2)
        for label in scene.labels:
            a = attr.spatial(shapes_vit, scene.image, layer, label)
            cells = F.adaptive_max_pool2d(torch.from_numpy(scene.masks[label]).float()[None, None], 8)[0, 0] > 0
            positive = a.clamp(min=0)
            shares.append(float((positive * cells).sum() / positive.sum()))
    assert np.mean(shares) >= 0.7, f"mean share {np.mean(shares):.2f}, worst {min(shares):.2f}"


def test_a_class_atlas_of_the_shapes_vit_samples_its_patch_tokens(shapes_vit):
    from neuroblocks.atlas import atlas
    from neuroblocks.dissection import ShapesConcepts

    name = shapes_vit.class_name(4)
    found = atlas(shapes_vit, "blocks.2", ShapesConcepts(300), per_image=2, classes=[name], grid=(6,), threshold=1)
    assert found.samples.vectors.shape[1] == 64 and found.samples.positions.max() < 8, "patch tokens, on the 8×8 grid"
    cells = found.cells(6)
    assert len(cells.counts) > 0
    samples = found.samples
    assert samples.scores.min() > 0, "the positions chosen speak for the class"
    torch.testing.assert_close(samples.classes[:, 4], samples.scores, rtol=1e-3, atol=1e-5, msg="a batched pass with the prefix tokens kept scores as to_classes does")


def test_the_transformer_example_picks_blocks_and_says_when_it_stands_in(offline, dog_cat):
    from neuroblocks import examples

    vit = nb.Session.load("vit_b_16", weights="random")
    assert examples._blocks(vit) == [f"encoder.layers.encoder_layer_{i}" for i in range(12)]
    assert examples._blocks(_hf_vit()) == ["vit.layers.0", "vit.layers.1", "vit.layers.2"]
    ex = examples.transformer("vit_b_16", dog_cat)  # no network here: the weights cannot be had
    assert not ex.pretrained and ex.note.startswith("Offline stand-in (vit_b_16 or the photo could not be had")
    assert (ex.layer, ex.upper) == ("blocks.2", "blocks.3")
