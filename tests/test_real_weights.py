"""MobileNetV2 with torchvision's ImageNet weights (IMAGENET1K_V1, installed offline by `make
weights`), on the article's photo: the weights' own preprocessing, the layers worth reading, and
ground truth that only a trained model can give (each class's attribution on its own animal,
icons that drive their channels past anything in the photo, a dog group)."""

from __future__ import annotations

import shutil

import numpy as np
import pytest
import torch
import torchvision
from conftest import CAT_BOXES, DOG_BOXES, region
from PIL import Image

import neuroblocks as nb
from neuroblocks import attribution, factorization
from neuroblocks.featurevis import objectives, render
from neuroblocks.models import matching_weights

V1 = torchvision.models.MobileNet_V2_Weights.IMAGENET1K_V1
CLASSES = ("Labrador retriever", "tiger cat")
DOGS = range(151, 269)  # ImageNet's dog classes


def torchvision_probabilities(path, photo) -> torch.Tensor:
    """The reference: torchvision's own model and its weights' `transforms()` pipeline."""
    model = torchvision.models.mobilenet_v2()
    model.load_state_dict(torch.load(path, weights_only=True))
    with torch.no_grad():
        return model.eval()(V1.transforms()(Image.open(photo).convert("RGB"))[None]).softmax(-1)[0]


def test_a_weights_file_is_matched_to_its_enum_by_name_or_digest(mobilenet_file, tmp_path, recwarn):
    renamed = tmp_path / "my-mobilenet.pth"
    shutil.copy(mobilenet_file, renamed)
    for path in (mobilenet_file, renamed):
        assert matching_weights("mobilenet_v2", path) is V1
    session = nb.Session.load("mobilenet_v2", weights=renamed)
    assert (session.input_size, session.resize, session.interpolation) == (224, 256, "bilinear")
    assert session.labels == V1.meta["categories"]
    assert not [w for w in recwarn if "none of torchvision's files" in str(w.message)]


def test_the_cached_file_loads_by_its_enum_name_and_the_default_says_so(mobilenet_file, monkeypatch, tmp_path):
    hub = tmp_path / "torch" / "hub" / "checkpoints"
    hub.mkdir(parents=True)
    shutil.copy(mobilenet_file, hub / mobilenet_file.name)
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    for var in ("http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY"):
        monkeypatch.setenv(var, "http://127.0.0.1:9")
    assert nb.Session.load("mobilenet_v2", weights="IMAGENET1K_V1").predict(np.zeros((8, 8, 3), np.uint8), 1)
    with pytest.raises(nb.WeightsUnavailableError, match="weights='IMAGENET1K_V1' is in your cache and loads offline"):
        nb.Session.load("mobilenet_v2")  # the default is IMAGENET1K_V2, not at hand


def test_predictions_equal_torchvisions_own_pipeline(mobilenet, mobilenet_file, dog_cat):
    reference = torchvision_probabilities(mobilenet_file, dog_cat)
    mine = mobilenet.trace(dog_cat).logits.softmax(-1)
    assert float((mine - reference).abs().max()) <= 1e-4
    (first, p1), (second, p2) = mobilenet.predict(dog_cat, 2)
    assert (first, second) == ("golden retriever", "Labrador retriever")
    assert (round(p1, 3), round(p2, 3)) == (0.567, 0.299), "docs/guides/models-and-weights.md's figures for torchvision's recipe"
    print(f"\nP(golden retriever) {p1:.4f}, P(Labrador) {p2:.4f}; largest difference from torchvision's pipeline {float((mine - reference).abs().max()):.1e}")


def test_stretching_shows_the_whole_photo(mobilenet_file, dog_cat):
    whole = nb.Session.load("mobilenet_v2", weights=mobilenet_file)
    whole.fit = "stretch"
    assert whole.framing(dog_cat).box == (0.0, 0.0, 367.0, 550.0)
    assert "whole 550×367 photo" in whole.framing(dog_cat).note
    expected = torchvision.transforms.functional.resize(Image.open(dog_cat), [224, 224])
    assert torch.allclose(whole.image(dog_cat), torchvision.transforms.functional.to_tensor(expected))


def test_the_framing_maps_photo_pixels_to_the_input_and_a_layers_cells(mobilenet, dog_cat):
    framing = mobilenet.framing(dog_cat)
    # torchvision's recipe: short side 367 → 256 (long 383), centre crop 224 from x 80 and y 16.
    k = 367 / 256
    assert framing.box == pytest.approx((16 * k, 80 * 550 / 383, 224 * k, 224 * 550 / 383))
    assert "x 115–437, y 23–344 of the 550×367 photo" in framing.note
    # An independent check: a bright dot in an otherwise dark photo lands where the mapping says.
    for y, x in [(100, 200), (300, 400), (40, 130)]:
        dot = np.zeros((367, 550, 3), np.uint8)
        dot[y - 4 : y + 5, x - 4 : x + 5] = 255
        seen = mobilenet.image(Image.fromarray(dot))[0].cpu().numpy()
        centre = np.argwhere(seen > seen.max() / 2).mean(0)
        assert np.allclose(framing.photo_to_input([y + 0.5, x + 0.5]), centre + 0.5, atol=0.75)
    points = np.array([[50.0, 120.0], [200.5, 300.25]])
    assert np.allclose(framing.input_to_photo(framing.photo_to_input(points)), points)
    grid = mobilenet.layer_shape("features.18")[-2:]
    assert framing.photo_to_cell([[23.5, 115.5], [343.5, 436.5]], grid).tolist() == [[0, 0], [6, 6]]
    assert framing.photo_to_cell([[10, 10]], grid).min() < 0, "outside what the model sees, outside the grid"
    assert framing.photo_to_cell(framing.cell_to_photo([[3, 4]], grid), grid).tolist() == [[3, 4]]


def test_views_say_what_the_model_sees_and_when_their_layer_is_signed(mobilenet, dog_cat):
    default = nb.SpatialAttribution(mobilenet, dog_cat, classes=list(CLASSES)).wait()
    assert (default.layer, default.upper, default.error) == ("features.14.conv.0", "features.18", ""), "no layer named: the suggested ones"
    assert default.picture["note"] == "the model sees x 115–437, y 23–344 of the 550×367 photo (its centre, at 224×224)"
    signed = nb.SemanticDictionary(mobilenet, dog_cat, "features.13").wait()
    assert "features.13 is signed" in signed.picture["note"] and "features.14.conv.0" in signed.picture["note"]


def test_layers_are_in_execution_order_with_their_sign_read_right(mobilenet, dog_cat):
    layers = mobilenet.layers
    assert layers[0] == "features.0.0" and layers.index("features") > layers.index("features.18") > layers.index("features.17")
    # The sign the probe read on noise against the photo's own activations, for every layer.
    trace = mobilenet.trace(dog_cat, layers)
    wrong = [n for n in layers if (mobilenet.sign(n) == "signed") != bool((trace[n] < 0).any())]
    assert wrong == []
    assert mobilenet.sign("features.13") == "signed" and mobilenet.sign("features.13.conv.0") == "non-negative"  # docs/guides/models-and-weights.md
    assert "features.13 " in mobilenet.describe_layers(["features.13"]) and "signed" in mobilenet.describe_layers(["features.13"])


def test_suggested_layers_are_readable_non_negative_and_deepen(mobilenet):
    suggested = mobilenet.suggested_layers()
    assert suggested == ["features.4.conv.0", "features.7.conv.0", "features.14.conv.0", "features.18"]
    sides = [mobilenet.layer_shape(layer)[-1] for layer in suggested]
    assert sides == sorted(sides, reverse=True) and len(set(sides)) == len(sides), "one per resolution stage, deeper each time"
    assert {mobilenet.sign(layer) for layer in suggested} == {"non-negative"}
    assert mobilenet.suggested_layers(2) == suggested[-2:]


def _lift(share: float, area: float) -> float:
    """How far a share of attribution goes from the region's area (0) to all of it (1)."""
    return (share - area) / (1 - area)


def test_each_class_is_attributed_to_its_own_animal_at_the_suggested_layers(mobilenet, dog_cat):
    framing = mobilenet.framing(dog_cat)
    regions = dict(zip(CLASSES, (region(DOG_BOXES), region(CAT_BOXES))))
    lifts = {}
    for layer in mobilenet.suggested_layers():
        grid = mobilenet.layer_shape(layer)[-2:]
        for cls in CLASSES:
            inside = framing.cell_mask(regions[cls], grid)
            positive = attribution.spatial(mobilenet, dog_cat, layer, cls).clamp(min=0).cpu().numpy()
            share, area = float((positive * inside).sum() / positive.sum()), float(inside.mean())
            lifts[layer, cls] = _lift(share, area)
            print(f"\n{layer:20s} {cls:20s} on its animal {share:.2f} of positive attribution; area share {area:.2f}", end="")
    assert min(lifts.values()) >= 0.15, lifts
    deep = mobilenet.suggested_layers(2)
    assert min(v for (layer, _), v in lifts.items() if layer in deep) >= 0.35, lifts


def test_the_two_classes_lean_on_different_channels(mobilenet, dog_cat):
    for layer in mobilenet.suggested_layers()[1:]:
        dog, cat = (set(attribution.channel(mobilenet, dog_cat, layer, cls).topk(6).indices.tolist()) for cls in CLASSES)
        assert len(dog & cat) <= 2, (layer, dog, cat)


def test_icons_drive_their_channels_past_anything_in_the_photo(mobilenet, dog_cat):
    layer = "features.14.conv.0"
    channels = attribution.channel(mobilenet, dog_cat, layer, CLASSES[0]).topk(4).indices.tolist()
    icons = render(mobilenet, [objectives.channel(layer, c) for c in channels], size=64, steps=256)
    with torch.no_grad():
        seen = mobilenet.forward(torch.from_numpy(icons).permute(0, 3, 1, 2).float() / 255, capture=[layer], stop=True).activations[layer]
    photo = mobilenet.trace(dog_cat, layer)[layer]
    for i, c in enumerate(channels):
        icon_mean, photo_max = float(seen[i, c].mean()), float(photo[c].max())
        print(f"\n{layer}:{c} icon's mean activation {icon_mean:.3f}, the photo's maximum {photo_max:.3f}", end="")
        assert icon_mean > photo_max


def test_a_neuron_group_of_the_deepest_suggested_layer_stands_for_a_dog(mobilenet, dog_cat):
    groups = factorization.factorize(mobilenet, dog_cat, mobilenet.suggested_layers()[-1], 6)
    tops = [mobilenet.class_index(row[0][0]) for row in groups.top_classes(mobilenet, 1)]
    assert any(t in DOGS for t in tops), [mobilenet.class_name(t) for t in tops]


def test_class_lookup_offers_word_matches_first_and_takes_pairs_as_lists(mobilenet, dog_cat):
    with pytest.raises(nb.UnknownClassError) as info:
        mobilenet.class_index("Labrador")
    assert str(info.value).split("close labels: ")[1].startswith("'Labrador retriever'")
    layer = "features.18"
    as_list = attribution.spatial(mobilenet, dog_cat, layer, list(CLASSES))
    as_tuple = attribution.spatial(mobilenet, dog_cat, layer, CLASSES)
    separately = attribution.spatial(mobilenet, dog_cat, layer, CLASSES[0]) - attribution.spatial(mobilenet, dog_cat, layer, CLASSES[1])
    assert torch.equal(as_list, as_tuple) and torch.allclose(as_list, separately, atol=1e-5)
