"""Deletion curves: how far to trust a map, checked against a direct computation and on the
shapes world, where the answer is known."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
import torchvision.transforms.functional as TF

import neuroblocks as nb
from neuroblocks import attribution as attr
from neuroblocks import faithfulness as fa
from neuroblocks import shapes

SCENES = [shapes.scene(100 + seed, classes=1) for seed in range(12)]


def _object_map(scene, grid: int = 16) -> torch.Tensor:
    """The share of each cell the object covers: the on-object map, known without the model."""
    mask = torch.from_numpy(scene.masks[scene.labels[0]]).float()
    return F.adaptive_avg_pool2d(mask[None, None], (grid, grid))[0, 0]


def test_a_deletion_curve_is_the_probability_with_the_top_cells_blurred(shapes_session):
    scene, s = SCENES[0], shapes_session
    c = s.class_index(scene.labels[0])
    values = attr.spatial(s, scene.image, "conv3", c)
    found = fa.deletion(s, scene.image, c, values, steps=4, seeds=2)
    x = s.image(scene.image)
    blurred = TF.gaussian_blur(x, [9, 9])  # 64 px scenes: an odd kernel an eighth of the side
    order = values.flatten().argsort(descending=True, stable=True)
    for step, k in enumerate([0, 64, 128, 192, 256]):
        kept = torch.ones(256)
        kept[order[:k]] = 0
        mask = kept.reshape(1, 1, 16, 16).repeat_interleave(4, 2).repeat_interleave(4, 3)[0]  # 16 cells of 4 px a side
        with torch.no_grad():
            expected = torch.sigmoid(s.forward((mask * x + (1 - mask) * blurred)[None]).logits[0, c])
        assert float(found.curve[step]) == pytest.approx(float(expected), abs=1e-6), step
    assert found.fractions.tolist() == [0, 0.25, 0.5, 0.75, 1] and found.random.shape == (2, 5)
    assert found.start == float(found.curve[0]) == pytest.approx(float(torch.sigmoid(s.trace(scene.image).logits[c])), abs=1e-6)
    assert found.area == pytest.approx(float(torch.trapezoid(found.random.mean(0) - found.curve, found.fractions)), abs=1e-6)


def test_on_object_maps_beat_random_by_a_wide_margin_and_a_randomised_models_maps_do_not(shapes_session):
    trained = [fa.deletion(shapes_session, scene.image, scene.labels[0], _object_map(scene)) for scene in SCENES]
    areas = np.array([d.area for d in trained])
    assert np.median(areas) > 0.3 and sum(d.beats_random for d in trained) >= 9, np.round(areas, 3)
    randomised = nb.Session.load("shapes", weights="random")
    for scene in SCENES[:6]:
        found = fa.deletion(randomised, scene.image, scene.labels[0], attr.spatial(randomised, scene.image, "conv3", scene.labels[0]))
        assert not found.beats_random and abs(found.area) < fa.MIN_AREA, (found.area, found.spread)
        assert "no better than random" in found.note


def test_unit_deletion_is_the_probability_with_the_top_units_ablated(shapes_session):
    scene, s = SCENES[1], shapes_session
    c = s.class_index(scene.labels[0])
    values = attr.channel(s, scene.image, "conv3", c)
    found = fa.unit_deletion(s, scene.image, c, values, "conv3", steps=4, seeds=3)
    order = values.argsort(descending=True, stable=True)
    for step, k in enumerate([0, 16, 32, 48, 64]):
        if k == 0:
            logits = s.trace(scene.image).logits
        else:
            with nb.ablate(s, "conv3", order[:k].tolist()), torch.no_grad():
                logits = s.forward(s.image(scene.image)[None]).logits[0]
        assert float(found.curve[step]) == pytest.approx(float(torch.sigmoid(logits[c])), abs=1e-5), step
    assert found.beats_random, found.note
    pca = nb.units.Directions("conv3", torch.linalg.qr(torch.randn(64, 64, generator=torch.Generator().manual_seed(0)))[0][:8])
    with pytest.raises(nb.NeuroblocksError, match=r"one per unit, \(8,\) for 8 directions of conv3"):
        fa.unit_deletion(s, scene.image, c, values, "conv3", units=pca)
