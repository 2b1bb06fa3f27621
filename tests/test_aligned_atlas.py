"""The aligned activation atlas (docs/guides/comparing-models.md) between the shapes CNN and its second seed, and
between models reading the images at different grid sizes: one layout on which the same image
region lands in the same place for both models, the least-squares maps it is built on, each
model's cells of its own vectors, and placing a new image."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torchvision

import neuroblocks as nb
from neuroblocks import compare
from neuroblocks.dissection import ShapesConcepts
from neuroblocks.widgets.activation_atlas import ActivationAtlas

SCENES = [ShapesConcepts(400)[i][0] for i in range(400)]


@pytest.fixture(scope="module")
def seeds():
    return nb.Session.load("shapes"), nb.Session.load("shapes-seed1")


@pytest.fixture(scope="module")
def aligned(seeds):
    a, b = seeds
    return compare.aligned_atlas(a, "conv3", b, "conv3", SCENES, per_image=2, grid=(8, 16))


def test_the_same_region_lands_in_the_same_place_for_both_models(aligned):
    """Row i of both atlases is the same position of the same image: on an aligned layout those
    lie far closer together than a region of one model and a random region of the other."""
    pa, pb = aligned.a.layout.points, aligned.b.layout.points
    assert len(pa) == len(pb) == 800
    torch.testing.assert_close(aligned.a.samples.images, aligned.b.samples.images)
    torch.testing.assert_close(aligned.a.samples.positions, aligned.b.samples.positions)
    same = np.linalg.norm(pa - pb, axis=1).mean()
    shuffled = np.linalg.norm(pa - pb[np.random.default_rng(0).permutation(len(pb))], axis=1).mean()
    assert same < 0.25 * shuffled, (same, shuffled)  # measured: 0.038 against 0.381


def test_the_maps_are_least_squares_fits_and_the_cells_hold_each_models_own_vectors(aligned):
    va, vb = aligned.a.samples.vectors.double(), aligned.b.samples.vectors.double()
    a_to_b, b_to_a = aligned.maps
    assert a_to_b.shape == (64, 64) and b_to_a.shape == (64, 64)
    reference = np.linalg.lstsq(va.numpy(), vb.numpy(), rcond=None)[0]  # an independent solver
    np.testing.assert_allclose(a_to_b.numpy(), reference, rtol=1e-3, atol=1e-4)
    residual = ((va @ a_to_b.double() - vb) ** 2).sum() / ((vb - vb.mean(0)) ** 2).sum()
    assert aligned.explained[0] == pytest.approx(float(1 - residual), abs=1e-5)
    assert min(aligned.explained) > 0.5  # two seeds of one recipe: largely linear images of each other
    for side, vectors in ((aligned.a, va), (aligned.b, vb)):
        cells = side.cells(8)
        assert cells.counts.min() > 10 and len(cells) > 3  # aligned atlases keep cells of more than 10 (docs/guides/comparing-models.md)
        m = int(cells.counts.argmax())
        np.testing.assert_allclose(cells.means[m], vectors[cells.members == m].mean(0).numpy(), rtol=1e-5, atol=1e-6)


def test_models_reading_different_grids_and_a_new_image_placed(seeds, aligned):
    a, _ = seeds
    small = nb.Session(a.model, preprocess=a.preprocess, labels=a.labels, input_size=48)
    different = compare.aligned_atlas(a, "conv3", small, "conv3", SCENES[:120], grid=(6,), threshold=3)
    assert different.a.samples.grids[0].tolist() == different.b.samples.grids[0].tolist() == list(small.layer_shape("conv3")[1:])
    placed = aligned.a.place(nb.shapes.scene(7).image)
    assert placed.shape == (*a.layer_shape("conv3")[1:], 2) and 0 <= placed.min() and placed.max() <= 1
    view = ActivationAtlas(a, aligned.a, icon_steps=0).wait()
    assert view.error == "" and [level["size"] for level in view.levels] == [8, 16]
    resnet = nb.Session(torchvision.models.resnet18(num_classes=4).eval(), input_size=32)
    with pytest.raises(compare.CompareError, match="'fc' has no positions"):
        compare.aligned_atlas(a, "conv3", resnet, "fc", SCENES[:8])
    with pytest.raises(compare.CompareError, match="per_image"):
        compare.aligned_atlas(a, "conv3", resnet, "layer3", SCENES[:8], per_image=0)
