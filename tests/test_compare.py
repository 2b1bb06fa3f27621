"""Comparing models (docs/guides/comparing-models.md): minibatch CKA against a brute-force U-statistic, its invariances,
unit matching recovering a known permutation, and ground truth between the two shapes CNNs
trained from different seeds; then the ModelComparison view and its links."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch
from torch import nn

import neuroblocks as nb
from neuroblocks import compare
from neuroblocks import dissection as D
from neuroblocks import shapes
from neuroblocks.compare.cka import hsic
from neuroblocks.widgets.model_comparison import rescale
from neuroblocks.widgets.payload import unpack

LAYERS = ["conv1", "conv2", "conv3", "conv4"]


def brute_hsic(k: np.ndarray, l: np.ndarray) -> float:
    """Unbiased HSIC as the U-statistic it is: the mean over ordered distinct (i, j, q, r) of
    k_ij l_ij + k_ij l_qr − 2 k_ij l_iq (Song et al. 2012)."""
    n = len(k)
    total = sum(k[i, j] * l[i, j] + k[i, j] * l[q, r] - 2 * k[i, j] * l[i, q] for i, j, q, r in itertools.permutations(range(n), 4))
    return total / (n * (n - 1) * (n - 2) * (n - 3))


class Probe(nn.Module):
    """A fixed random convolution ("feat") and, above it, a 1×1 map of its channels ("mapped")."""

    def __init__(self, mapping: torch.Tensor | None = None) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.feat = nn.Conv2d(3, 12, 3, padding=1)  # linear: no unit is ever dead, so every match is defined
        self.mapped = nn.Conv2d(12, 12, 1, bias=False)
        self.mapped.weight.data = (torch.eye(12) if mapping is None else mapping)[:, :, None, None]
        self.head = nn.Linear(12, 4)

    def forward(self, x):
        return self.head(self.mapped(self.feat(x)).mean((2, 3)))


def probe_images(n: int = 24) -> list[torch.Tensor]:
    g = torch.Generator().manual_seed(1)
    return [torch.rand(3, 8, 8, generator=g) for _ in range(n)]


def test_hsic_equals_the_brute_force_u_statistic():
    # Integer features: every product and sum of the brute force is exact in float64.
    g = torch.Generator().manual_seed(0)
    x, y = torch.randint(-3, 4, (7, 5), generator=g).double(), torch.randint(-3, 4, (7, 3), generator=g).double()
    k, l = x @ x.T, y @ y.T
    assert abs(float(hsic(k, l)) - brute_hsic(k.numpy(), l.numpy())) <= 1e-12


@pytest.mark.parametrize("batch", [7, 4])
def test_cka_equals_a_direct_computation_over_its_batches(batch):
    a, b = nb.Session(Probe(), input_size=8), nb.Session(Probe(torch.randn(12, 12, generator=torch.Generator().manual_seed(2))), input_size=8)
    images = probe_images(14)
    found = compare.similarity(a, b, images, ["feat"], ["mapped"], batch=batch)
    # Direct: every batch's Gram matrices from a plain forward pass, brute-force HSIC, one ratio.
    with torch.no_grad():
        xa = a.model.feat(torch.stack(images)).flatten(1).double().numpy()
        xb = b.model.mapped(b.model.feat(torch.stack(images))).flatten(1).double().numpy()
    sums = np.zeros(3)
    for start in range(0, 14, batch):
        ka, kb = xa[start : start + batch] @ xa[start : start + batch].T, xb[start : start + batch] @ xb[start : start + batch].T
        if len(ka) >= 4:
            sums += [brute_hsic(ka, kb), brute_hsic(ka, ka), brute_hsic(kb, kb)]
    assert abs(float(found.cka[0, 0]) - sums[0] / np.sqrt(sums[1] * sums[2])) <= 1e-6
    assert found.images == 14
    labelled = compare.similarity(a, b, [(x, 0) for x in images], ["feat"], ["mapped"], batch=batch)  # ImageFolder-style items
    assert torch.equal(labelled.cka, found.cka)


def test_cka_is_invariant_to_rotation_and_isotropic_scaling_but_not_to_any_linear_map():
    q, _ = torch.linalg.qr(torch.randn(12, 12, generator=torch.Generator().manual_seed(3)))
    skew = torch.eye(12) + 3 * torch.randn(12, 12, generator=torch.Generator().manual_seed(4))
    base = nb.Session(Probe(), input_size=8)
    images = probe_images()
    for mapping, same in [(q, True), (2.5 * torch.eye(12), True), (2.5 * q, True), (skew, False)]:
        other = nb.Session(Probe(mapping), input_size=8)
        value = float(compare.similarity(base, other, images, ["feat"], ["mapped"], batch=8).cka[0, 0])
        assert (abs(value - 1) <= 1e-6) if same else value < 0.98, (mapping[:2, :2], value)


def test_matching_recovers_a_known_permutation_exactly():
    order = torch.randperm(12, generator=torch.Generator().manual_seed(5))
    permuted = torch.eye(12)[order]  # B's channel j is A's channel order[j]
    found = compare.match(nb.Session(Probe(), input_size=8), "feat", nb.Session(Probe(permuted), input_size=8), "mapped", probe_images(), batch=8)
    pairs = dict(found.pairs.tolist())
    assert pairs == {int(order[j]): j for j in range(12)}
    assert torch.equal(found.best_b[order], torch.arange(12)) and torch.equal(found.best_a, order)
    assert found.pair_correlation.min() > 0.999 and found.null_mean < 0.9 * found.mean


# -- ground truth: two shapes CNNs from different seeds ---------------------------------------


@pytest.fixture(scope="module")
def seeds_survey(shapes_session, shapes_seed1):
    scenes = [shapes.scene(20_000 + i).image for i in range(512)]
    return compare.survey(shapes_session, shapes_seed1, scenes, LAYERS, LAYERS, batch=64)


def test_each_layers_most_similar_layer_in_the_other_seed_is_its_counterpart(seeds_survey):
    s = seeds_survey.similarity
    assert s.images == 512
    assert s.most_similar() == {layer: layer for layer in LAYERS}, s.cka
    assert all(s.cka[i, i] > s.null_p95[i, i] for i in range(4))


def test_matched_units_correlate_well_above_the_shuffled_null(seeds_survey):
    for layer in LAYERS:
        m = seeds_survey.matchings[layer, layer]
        assert m.mean > 2 * max(m.null_mean, 0.05), (layer, m.mean, m.null_mean)


def test_matched_units_share_their_dissection_label_far_more_than_random_pairs(shapes_session, shapes_seed1, seeds_survey):
    data = D.ShapesConcepts(150)
    labels_a, labels_b = (D.dissect(s, "conv2", data).labels for s in (shapes_session, shapes_seed1))
    pairs = seeds_survey.matchings["conv2", "conv2"].pairs.tolist()

    def shared(pairs) -> float:
        return np.mean([labels_a[a] is not None and labels_a[a] == labels_b[b] for a, b in pairs])

    rng = np.random.default_rng(0)
    random = np.mean([shared(zip(range(32), rng.permutation(32))) for _ in range(200)])
    assert shared(pairs) >= 2 * random and shared(pairs) > 0, (shared(pairs), random)


def test_models_that_read_images_differently_are_compared_on_the_same_images(shapes_session, shapes_gray):
    """An RGB model at 64 px against a grayscale model and against one that resizes to 48 px:
    each reads the same scenes its own way; grids of different sizes meet at the coarser."""
    small = nb.Session(shapes.pretrained(), input_size=48, labels=shapes.CLASSES, multilabel=True)
    scenes = [shapes.scene(60_000 + i).image for i in range(64)]
    for other in (shapes_gray, small):
        found = compare.survey(shapes_session, other, scenes, ["conv3"], ["conv2", "conv3"])
        assert found.similarity.cka[0, 1] > found.similarity.null_p95[0, 1]
        m = found.matchings["conv3", "conv2"]
        assert m.correlation.shape == (64, 32) and m.mean > m.null_mean
    same = compare.match(shapes_session, "conv3", small, "conv3", scenes)
    assert torch.equal(same.pairs[:, 0], same.pairs[:, 1]) and torch.equal(same.best_b, torch.arange(64)), "the same network at 48 px: each unit is matched to itself"


# -- the view ---------------------------------------------------------------------------------


def test_the_view_sends_binary_arrays_and_both_models_icons(shapes_session, shapes_seed1, seeds_survey):
    view = nb.ModelComparison(shapes_session, shapes_seed1, seeds_survey, pairs=3, names=("seed 0", "seed 1"), icon_size=32, icon_steps=4)
    view.wait(icons=True)
    cka = unpack(view.cka)
    assert np.allclose(cka, seeds_survey.similarity.cka.numpy()) and view.cell == [int(v) for v in divmod(cka.argmax(), 4)]
    pairs = unpack(view.pairs)
    assert pairs.shape == (4, 4, 3, 2)
    assert pairs[2, 2].tolist() == seeds_survey.matchings["conv3", "conv3"].pairs[:3].tolist()
    assert {f"A:conv3:{a}" for a, _ in pairs[2, 2]} | {f"B:conv3:{b}" for _, b in pairs[2, 2]} <= set(view.icons)


def test_linked_views_follow_a_clicked_pair_and_positions_cross_grids(shapes_session, shapes_seed1, seeds_survey):
    image = shapes.scene(3, classes=2).image
    view = nb.ModelComparison(shapes_session, shapes_seed1, seeds_survey, icon_steps=0)
    a = nb.SemanticDictionary(shapes_session, image, "conv3", icon_steps=0)
    b = nb.SemanticDictionary(shapes_seed1, image, "conv2", icon_steps=0)
    view.link_views(a, b)
    assert (view.grid_a, view.grid_b) == ([16, 16], [32, 32])
    view.unit, view.unit_b = 5, 9
    assert (a.unit, b.unit) == (5, 9)
    a.position = [3, 5]
    assert b.position == [7, 11] == rescale([3, 5], [16, 16], [32, 32])
    b.position = [30, 1]
    assert a.position == [15, 0]
    with pytest.raises(nb.NeuroblocksError, match="the A view is on another model"):
        view.link_views(b, a)


def test_errors_say_what_to_do(shapes_session, shapes_seed1, googlenet, resnet18):
    with pytest.raises(nb.UnknownLayerError, match="conv3"):
        compare.similarity(shapes_session, shapes_seed1, [shapes.scene(0).image] * 4, ["conv33"], LAYERS)
    with pytest.raises(compare.CompareError, match="needs at least 4"):
        compare.similarity(shapes_session, shapes_seed1, [shapes.scene(0).image] * 3, LAYERS, LAYERS)
    with pytest.raises(compare.CompareError, match="batches of at least 4"):
        compare.similarity(shapes_session, shapes_seed1, [shapes.scene(0).image] * 8, LAYERS, LAYERS, batch=2)
    with pytest.raises(compare.CompareError, match=r"GiB of correlations; name fewer layers, or pass units=False"):
        grids = [[layer for layer in s.layers if len(s.layer_shape(layer)) == 3] for s in (googlenet, resnet18)]
        compare.survey(googlenet, resnet18, [], *grids)
    survey = compare.survey(shapes_session, shapes_seed1, [shapes.scene(0).image] * 4, ["conv1"], ["conv1"], units=False)
    with pytest.raises(nb.NeuroblocksError, match="units=True"):
        nb.ModelComparison(shapes_session, shapes_seed1, survey)
    with pytest.raises(nb.NeuroblocksError, match="compared other sessions.*in the same order"):
        nb.ModelComparison(shapes_seed1, shapes_session, survey)
    without_null = compare.similarity(shapes_session, shapes_seed1, [shapes.scene(0).image] * 4, ["conv1"], ["conv1"], permutations=0)
    assert without_null.null_p95.isnan().all()
    with pytest.raises(compare.CompareError, match="permutations is how many shuffles"):
        compare.similarity(shapes_session, shapes_seed1, [shapes.scene(0).image] * 4, ["conv1"], ["conv1"], permutations=-1)
