"""Faithfulness: ablation, network dissection with streaming thresholds, dataset examples and
random baselines, on the shapes world whose concepts are known pixel by pixel."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

import neuroblocks as nb
from neuroblocks import dissection as D
from neuroblocks import shapes
from neuroblocks.dissection.quantiles import TopQuantile
from neuroblocks.errors import NeuroblocksError
from neuroblocks.shapes.world import class_concepts

SCENE = shapes.scene(1, classes=2)


@pytest.fixture(scope="module")
def data():
    return torch.utils.data.DataLoader(D.ShapesConcepts(120), batch_size=40, num_workers=2)


@pytest.fixture(scope="module")
def conv2(shapes_session, data):
    return D.dissect(shapes_session, "conv2", data)


@pytest.fixture(scope="module")
def conv3(shapes_session, data):
    return D.dissect(shapes_session, "conv3", data)


def test_top_quantile_is_exact_while_it_fits_and_bounded_after():
    torch.manual_seed(0)
    batches = [torch.rand(5, 4096) ** 3 for _ in range(20)]
    everything = torch.cat(batches, 1)
    rank = math.ceil(0.005 * everything.shape[1])
    exact = everything.topk(rank, dim=1).values[:, -1]
    q = TopQuantile(5, 0.005, capacity=4096)
    for b in batches:
        q.update(b)
    assert q.exact and torch.equal(q.threshold(), exact)
    small = TopQuantile(5, 0.005, capacity=64)
    for b in batches:
        small.update(b)
        assert small.top.shape[1] <= 64, "memory stays bounded"
    ranks = torch.tensor([(everything[u] >= small.threshold()[u]).sum() for u in range(5)]).float()
    assert not small.exact and (ranks - rank).abs().max() <= 0.15 * rank


def test_dissection_equals_the_exact_computation_on_a_small_dataset(shapes_session):
    items = [D.ShapesConcepts(12)[i] for i in range(12)]
    images = torch.stack([image for image, _ in items])
    result = D.dissect(shapes_session, "conv3", [_batch(items)])  # one batch: the same numerics as below
    with torch.no_grad():
        a = shapes_session.forward(images, capture=["conv3"], stop=True).activations["conv3"]
    up = F.interpolate(a, size=(64, 64), mode="bilinear", align_corners=False).transpose(0, 1).flatten(1)
    rank = math.ceil(0.005 * up.shape[1])
    thresholds = up.topk(rank, dim=1).values[:, -1]
    assert result.exact and torch.equal(result.thresholds, thresholds)
    on = up > thresholds[:, None]
    for j, concept in enumerate(result.concepts):
        mask = torch.stack([m[concept] for _, m in items]).flatten()
        if mask.any():
            expected = (on & mask).sum(1) / (on | mask).sum(1).clamp(min=1)
            torch.testing.assert_close(result.iou[:, j], expected.float(), rtol=1e-5, atol=1e-7)


class _Endless(torch.utils.data.Dataset):
    """A map-style dataset whose __getitem__ never raises IndexError, as many users' do."""

    def __init__(self, items):
        self.items = items

    def __len__(self):
        return len(self.items)

    def __getitem__(self, i):
        return self.items[i % len(self.items)]


def test_a_dataset_passed_directly_is_read_once_over_its_length_and_16_bit_batches_scale(shapes_session):
    items = [D.ShapesConcepts(12)[i] for i in range(12)]
    with pytest.raises(IndexError, match="12 scenes"):
        D.ShapesConcepts(12)[12]
    one_batch = D.dissect(shapes_session, "conv3", [_batch(items)])
    examples = D.dataset_examples(shapes_session, "conv3", [_batch(items)], k=2)
    images, masks = _batch(items)
    as_16_bit = [((images * 65535).round().to(torch.uint16), masks)]  # 8-bit scenes: exact in 16 bits
    for data in (D.ShapesConcepts(12), _Endless(items), as_16_bit):  # item by item, not through a DataLoader; 16-bit batches
        result = D.dissect(shapes_session, "conv3", data)
        assert result.images == 12
        torch.testing.assert_close(result.iou, one_batch.iou)
        assert torch.equal(D.dataset_examples(shapes_session, "conv3", data, k=2).images, examples.images)


def test_dissection_labels_units_of_every_concept_family(conv2, conv3):
    families = {f: len(conv2.families()[f]) + len(conv3.families()[f]) for f in ("shape", "texture", "color")}
    assert all(n > 0 for n in families.values()), families
    for d in (conv2, conv3):
        for u, label in enumerate(d.labels):
            if label is not None:
                assert float(d.iou[u, d.concepts.index(label)]) >= 0.04


def test_random_directions_are_less_interpretable_than_units(shapes_session, data, conv2):
    baseline = D.dissect(shapes_session, "conv2", data, units=D.random_directions(32, 32, seed=0))
    assert conv2.mean_best_iou() > baseline.mean_best_iou()


def test_ablating_texture_units_hurts_classes_of_that_texture_most(shapes_session, conv2):
    scenes = [shapes.scene(5000 + i, classes=1).image for i in range(24)]
    for texture in shapes.world.TEXTURES:
        units = conv2.units_of(f"texture:{texture}")
        assert units, f"no conv2 unit labelled texture:{texture}"
        ablation = nb.ablate(shapes_session, "conv2", units)
        same, other = [], []
        for image in scenes:
            change = ablation.change(image)
            for c, name in enumerate(shapes_session.labels):
                (same if class_concepts(name)[0] == texture else other).append(float(change[c]))
        assert sum(same) / len(same) < sum(other) / len(other), texture


def test_ablation_edits_the_layer_and_keeps_caches_apart(shapes_session):
    s = shapes_session
    before = s.trace(SCENE.image, ["conv3"])
    fingerprint = s.fingerprint
    with nb.ablate(s, "conv3", [0, 5]) as ablation:
        inside = s.trace(SCENE.image, ["conv3"])
        assert inside["conv3"][[0, 5]].abs().max() == 0 and torch.equal(inside["conv3"][1], before["conv3"][1])
        assert not torch.equal(inside.logits, before.logits)
        assert s.fingerprint != fingerprint, "icons rendered under an ablation are cached apart"
    after = s.trace(SCENE.image, ["conv3"])
    assert torch.equal(after.logits, before.logits) and s.fingerprint == fingerprint
    torch.testing.assert_close(ablation.change(SCENE.image), inside.logits - before.logits)
    with nb.ablate(s, "conv3", [3], mode="mean"):
        mean = s.trace(SCENE.image, ["conv3"])["conv3"][3]
        torch.testing.assert_close(mean, torch.full_like(mean, float(before["conv3"][3].mean())))
    with nb.ablate(s, "conv3", positions=[[2, 3]]):
        assert s.trace(SCENE.image, ["conv3"])["conv3"][:, 2, 3].abs().max() == 0
    groups = nb.factorize(s, SCENE.image, "conv4", 3)
    with nb.ablate(s, "conv4", [0], units=groups):
        ablated = s.trace(SCENE.image, ["conv4"])["conv4"]
    torch.testing.assert_close(ablated, s.trace(SCENE.image, ["conv4"])["conv4"] - groups.reconstruction()[0], rtol=1e-4, atol=1e-5)
    with nb.ablate(s, "conv3", [3, 7], scale=2.0):
        torch.testing.assert_close(s.trace(SCENE.image, ["conv3"])["conv3"][[3, 7]], 2 * before["conv3"][[3, 7]])
    with nb.ablate(s, "conv3", [3, 7], to=[0.25, 1.5]):
        held = s.trace(SCENE.image, ["conv3"])["conv3"]
        torch.testing.assert_close(held[[3, 7]], torch.tensor([0.25, 1.5])[:, None, None].expand(2, *held.shape[1:]))
        torch.testing.assert_close(held[1], before["conv3"][1])


def test_ablation_errors_say_what_to_do(shapes_session):
    with pytest.raises(NeuroblocksError, match=r"there are 64 channels of conv3 \(0..63\); there is no channel 64"):
        nb.ablate(shapes_session, "conv3", [64])
    with pytest.raises(NeuroblocksError, match="outside 'conv3'"):
        nb.ablate(shapes_session, "conv3", positions=[[16, 0]])
    with pytest.raises(NeuroblocksError, match="exactly one"):
        nb.ablate(shapes_session, "conv3")
    with pytest.raises(NeuroblocksError, match="'zero' or 'mean'"):
        nb.ablate(shapes_session, "conv3", [1], mode="half")
    with pytest.raises(NeuroblocksError, match="one code per listed unit"):
        nb.ablate(shapes_session, "conv3", [1, 2], to=[0.5])
    with pytest.raises(NeuroblocksError, match="scale= multiplies units' parts"):
        nb.ablate(shapes_session, "conv3", [1], mode="mean", scale=2.0)
    with pytest.raises(nb.UnknownLayerError):
        nb.ablate(shapes_session, "conv9", [1])


def _batch(items):
    return torch.stack([image for image, _ in items]), {c: torch.stack([m[c] for _, m in items]) for c in items[0][1]}


def test_dataset_examples_are_the_top_k_images_with_crops(shapes_session):
    items = [D.ShapesConcepts(30)[i] for i in range(30)]
    ex = D.dataset_examples(shapes_session, "conv3", [_batch(items[:13]), _batch(items[13:])], k=4)
    images = torch.stack([image for image, _ in items])
    with torch.no_grad():
        a = shapes_session.forward(images, capture=["conv3"], stop=True).activations["conv3"]
    peaks = F.interpolate(a, size=(64, 64), mode="bilinear", align_corners=False).flatten(2).max(2).values.T
    top = peaks.topk(4, dim=1)
    torch.testing.assert_close(ex.scores, top.values)
    assert torch.equal(ex.images, top.indices)
    assert ex.crops.shape == (64, 4, 64, 64, 3) and ex.crops.dtype == torch.uint8
    assert ex.maps.max() <= 1 and ex.maps.shape == (64, 4, 64, 64)
    directions = nb.factorize(shapes_session, SCENE.image, "conv3", 3).channels
    assert D.dataset_examples(shapes_session, "conv3", items, k=2, units=directions).scores.shape == (3, 2)


def test_attribution_is_more_concentrated_in_units_than_in_random_bases(shapes_session):
    units, random = D.concentration(shapes_session, SCENE.image, "conv3", SCENE.labels[0], k=5, rotations=20)
    assert 0 < units <= 1 and units > sum(random) / len(random)


def test_dataset_errors_say_what_to_do(shapes_session):
    image, masks = D.ShapesConcepts(1)[0]
    with pytest.raises(D.DatasetError, match="must be the images' height and width"):
        D.dissect(shapes_session, "conv3", [(image, {**masks, "shape:circle": torch.zeros(32, 32, dtype=torch.bool)})])
    with pytest.raises(D.DatasetError, match="empty"):
        D.dissect(shapes_session, "conv3", [])
    with pytest.raises(D.DatasetError, match="'texture:stripes' has no pixels"):
        D.dissect(shapes_session, "conv3", [(image, {"texture:stripes": torch.zeros(64, 64, dtype=torch.bool), "shape:x": torch.ones(64, 64, dtype=torch.bool)})])
    with pytest.raises(D.DatasetError, match="one-shot iterator"):
        D.dissect(shapes_session, "conv3", iter([(image, masks)]))
    with pytest.raises(D.DatasetError, match="empty"):
        D.dataset_examples(shapes_session, "conv3", [])
    with pytest.raises(D.DatasetError, match="needs concept masks.*dataset_examples and atlas read those"):
        D.dissect(shapes_session, "conv3", [(image, 3), (image, 1)])  # (image, label), as ImageFolder gives


def test_dataset_examples_read_images_without_masks_as_imagefolder_gives_them(shapes_session):
    """(image, label) items and plain images give the same examples as (image, masks) items."""
    scenes = [D.ShapesConcepts(12)[i] for i in range(12)]
    with_masks = D.dataset_examples(shapes_session, "conv3", scenes, k=2)
    for data in ([(image, i % 3) for i, (image, _) in enumerate(scenes)], [image for image, _ in scenes]):
        found = D.dataset_examples(shapes_session, "conv3", data, k=2)
        assert torch.equal(found.images, with_masks.images) and torch.equal(found.crops, with_masks.crops)
