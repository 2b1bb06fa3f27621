"""Neuron groups on real models: reconstruction, determinism, objects found on the shapes world,
attribution consistent with the attribution engine, compatibility across layers, errors."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

import neuroblocks as nb
from neuroblocks import attribution as attr
from neuroblocks import shapes
from neuroblocks.factorization import factorize, factorize_layers, overview_colors

SCENE = shapes.scene(0, classes=2)


def test_reconstruction_error_falls_as_groups_grow(shapes_session):
    errors = [factorize(shapes_session, SCENE.image, "conv3", k).error for k in (1, 2, 4, 8, 16)]
    assert all(later < earlier for earlier, later in zip(errors, errors[1:])), errors
    assert errors[-1] < 0.5 * errors[0]


@pytest.mark.parametrize("method", ["nmf", "pca", "ica"])
def test_same_inputs_give_the_same_groups(shapes_session, method):
    a = factorize(shapes_session, SCENE.image, "conv3", 4, method=method)
    b = factorize(nb.Session.load("shapes"), SCENE.image, "conv3", 4, method=method)
    assert torch.equal(a.spatial, b.spatial) and torch.equal(a.channels, b.channels) and a.error == b.error
    assert a.spatial.shape == (4, 16, 16) and a.channels.shape == (4, 64) and a.to_classes.shape == (4, 12)


def test_groups_are_ordered_left_to_right_and_coloured_by_hue(shapes_session):
    g = factorize(shapes_session, SCENE.image, "conv3", 5)
    columns = [int(s.flatten().argmax()) % 16 for s in g.spatial]
    assert columns == sorted(columns)
    assert g.colors.shape == (5, 3) and g.colors.dtype == np.uint8 and len({tuple(c) for c in g.colors}) == 5
    assert g.colors[0].argmax() == 0, "group 0 has hue 0: red"
    masks = g.masks
    assert masks.min() >= 0 and masks.max() == 1 and (masks == 1).float().mean() <= 0.02, "99th-percentile scale"


def test_each_object_is_matched_by_a_group_whose_top_class_is_the_objects(shapes_session):
    """conv4, 3 groups, 50 two-object scenes; an object's mask at the layer's resolution is the
    cells at least half covered; a group's mask is its spatial factor above half its max."""
    matched = 0
    for seed in range(50):
        scene = shapes.scene(700 + seed, classes=2)
        g = factorize(shapes_session, scene.image, "conv4", 3)
        above_half = g.spatial > 0.5 * g.spatial.flatten(1).max(1).values[:, None, None]
        ok = True
        for label in scene.labels:
            cells = F.adaptive_avg_pool2d(torch.from_numpy(scene.masks[label]).float()[None, None], 8)[0, 0] >= 0.5
            iou = (above_half & cells).sum((1, 2)) / (above_half | cells).sum((1, 2)).clamp(min=1)
            best = int(iou.argmax())
            ok &= bool(iou[best] >= 0.5) and int(g.to_classes[best].argmax()) == shapes_session.class_index(label)
        matched += ok
    assert matched / 50 >= 0.8, matched


def test_group_attribution_to_classes_agrees_with_the_attribution_engine(shapes_session):
    g = factorize(shapes_session, SCENE.image, "conv3", 3)
    for label in SCENE.labels:
        c = shapes_session.class_index(label)
        one = attr.unit(shapes_session, SCENE.image, g, c)
        assert torch.allclose(g.to_classes[:, c], one, rtol=1e-4, atol=1e-5)
    top = g.top_classes(shapes_session, 2)
    assert len(top) == 3 and all(len(t) == 2 for t in top)


@pytest.mark.parametrize("prioritize", ["gradients", "attributions", {"activations": 1.0, "attributions": 0.5}])
def test_signed_sources_are_split_and_directions_live_in_activation_space(shapes_session, prioritize):
    g = factorize(shapes_session, SCENE.image, "conv3", 3, prioritize=prioritize, target=SCENE.labels[1])
    assert g.channels.shape == (3, 64) and g.spatial.min() >= 0
    assert g.channels.min() >= 0, "NMF directions fitted to the activations stay non-negative"
    activation_groups = factorize(shapes_session, SCENE.image, "conv3", 3)
    assert not torch.allclose(g.spatial, activation_groups.spatial), "the priority changes the groups"


def test_signed_methods_take_signed_data(shapes_session):
    g = factorize(shapes_session, SCENE.image, "conv2.1", 3, method="pca")  # pre-ReLU batch norm
    assert g.spatial.min() < 0 and g.error < 1


def test_compatible_groups_concentrate_the_flow_more_than_independent_ones(shapes_session):
    shares = {True: [], False: []}
    for seed in range(20):
        scene = shapes.scene(500 + seed, classes=2)
        for compatible in (True, False):
            flow = factorize_layers(shapes_session, scene.image, ["conv3", "conv4"], 3, compatible=compatible)
            assert flow.flow[0].shape == (3, 3) and [g.layer for g in flow.groups] == ["conv3", "conv4"]
            shares[compatible].append(flow.concentration()[0])
    assert np.mean(shares[True]) > np.mean(shares[False]), (np.mean(shares[True]), np.mean(shares[False]))


def test_flow_entries_are_group_to_group_attributions(shapes_session):
    flow = factorize_layers(shapes_session, SCENE.image, ["conv3", "conv4"], 3)
    lower, higher = flow.groups
    measure = attr.Hidden("conv4", lambda h: (h * higher.reconstruction()[1]).sum((1, 2, 3)))
    expected = attr.unit(shapes_session, SCENE.image, lower, measure)
    assert torch.allclose(flow.flow[0][1], expected, rtol=1e-4, atol=1e-6)


def test_any_model_three_layers(googlenet):
    image = torch.rand(3, 224, 224, generator=torch.Generator().manual_seed(0))
    flow = factorize_layers(googlenet, image, ["inception4c", "inception4d", "inception4e"], [3, 4, 2])
    assert [f.shape for f in flow.flow] == [(4, 3), (2, 4)]
    assert flow.groups[1].spatial.shape == (4, 14, 14) and flow.groups[1].to_classes.shape == (4, 1000)


def test_overview_colours_separate_objects_from_background(shapes_session):
    rgb = overview_colors(shapes_session, SCENE.image, "conv3")
    assert rgb.shape == (16, 16, 3) and rgb.min() >= 0 and rgb.max() <= 1
    objects = F.adaptive_avg_pool2d(torch.from_numpy(SCENE.masks[SCENE.labels[0]] | SCENE.masks[SCENE.labels[1]]).float()[None, None], 16)[0, 0].numpy()
    on, off = rgb[objects >= 0.5].mean(0), rgb[objects == 0].mean(0)
    assert np.linalg.norm(on - off) > 0.2


def test_errors_say_what_to_do(shapes_session):
    with pytest.raises(nb.NeuroblocksError, match="cannot make 65 groups from 256 positions × 64 channels: ask for 1 to 64"):
        factorize(shapes_session, SCENE.image, "conv3", 65)
    with pytest.raises(nb.UnknownClassError, match="unknown class 'striped star'"):
        factorize(shapes_session, SCENE.image, "conv3", 3, prioritize="attributions", target="striped star")
    with pytest.raises(nb.NeuroblocksError, match="prioritize is one of activations, gradients, attributions"):
        factorize(shapes_session, SCENE.image, "conv3", 3, prioritize="saliency")
    with pytest.raises(nb.NeuroblocksError, match="method is one of nmf, pca, ica"):
        factorize(shapes_session, SCENE.image, "conv3", 3, method="svd")


def test_nmf_takes_signed_activations_as_their_two_parts(shapes_session):
    """A layer before its ReLU (as a transformer's residual stream) is signed: NMF factorises its
    positive and negative parts side by side, and the groups keep signed directions (docs/guides/transformers.md)."""
    a = shapes_session.trace(SCENE.image, "conv2.1")["conv2.1"]
    assert a.min() < 0
    g = factorize(shapes_session, SCENE.image, "conv2.1", 4)
    assert g.split_signs and g.description == "NMF of activations' ± parts"
    assert g.channels.min() < 0 < g.channels.max()
    rest = (a - g.reconstruction().sum(0)).norm() / a.norm()
    assert rest < 0.8, "the groups' parts explain the signed activations"
    assert not factorize(shapes_session, SCENE.image, "conv3", 4).split_signs
