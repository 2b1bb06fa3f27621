"""Natural exemplars beside icons: once the session has seen a dataset, every view that lists
units carries each unit's top crops, cut to the layer's measured receptive field, and the views
that label units label them by the one rule."""

from __future__ import annotations

import io

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image

import neuroblocks as nb
from neuroblocks import dissection as D
from neuroblocks import shapes
from neuroblocks.dissection.exemplars import K, SHADE
from neuroblocks.dissection.dataset_examples import THUMB
from neuroblocks.dissection.receptive_field import receptive_fraction
from neuroblocks.widgets.payload import unpack

SCENE = shapes.scene(6, classes=2)


@pytest.fixture(scope="module")
def seen():
    """A shapes session that has seen 48 scenes of the concept world."""
    session = nb.Session.load("shapes")
    data = [D.ShapesConcepts(48, start=5000)[i] for i in range(48)]
    return session.examples(data), data


def strip(found: dict) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(found["png"])).convert("RGB"))


def test_the_receptive_field_of_one_convolution_is_its_kernel():
    conv = torch.nn.Conv2d(3, 2, 5, padding=2)
    torch.nn.init.constant_(conv.weight, 1.0)
    model = torch.nn.Sequential(conv, torch.nn.Flatten(), torch.nn.LazyLinear(3))
    session = nb.Session(model, labels=["a", "b", "c"], input_size=64)
    assert receptive_fraction(session, "0") == pytest.approx(5 / 64), "a 5×5 kernel sees 5 px"
    deeper = nb.Session.load("shapes")
    fractions = [receptive_fraction(deeper, layer) for layer in ("conv1", "conv2", "conv3", "conv4")]
    assert fractions == sorted(fractions) and fractions[0] < 0.1 < fractions[-1] <= 1, fractions


def test_views_carry_each_listed_units_top_crops(seen):
    session, data = seen
    view = nb.SemanticDictionary(session, SCENE.image, "conv3", icon_steps=0).wait()
    keys = {f"{view.unit_key}:{u}" for u in range(64)}
    assert view.exemplars and set(view.exemplars) <= keys
    found = D.dataset_examples(session, "conv3", data, K, crop=receptive_fraction(session, "conv3"))
    for key, value in list(view.exemplars.items())[:5]:
        u = int(key.rsplit(":", 1)[1])
        pixels = strip(value)
        assert pixels.shape == (THUMB, K * THUMB, 3)
        top, at = found.maps[u].flatten(1).max(1)  # where the unit fires hardest on each crop, on the scale of its best
        for j, (peak, where) in enumerate(zip(top.tolist(), at.tolist())):
            y, x = divmod(where, THUMB)
            expected = found.crops[u, j, y, x].numpy() * (SHADE + (1 - SHADE) * peak)
            assert np.abs(pixels[y, j * THUMB + x] - expected).max() <= 1
        assert float(top[0]) == pytest.approx(1.0, abs=0.05), "the best crop is shown near full brightness where the unit peaks (the crop is resampled)"
        assert f"peak activations {float(found.scores[u, 0]):.2f}" in value["title"]
    # The top crop's score is the unit's highest activation over the data, read image by image.
    u = int(next(iter(view.exemplars)).rsplit(":", 1)[1])
    peaks = [F.interpolate(session.trace(image, "conv3", logits=False)["conv3"][None, u : u + 1].float(), size=image.shape[1:], mode="bilinear", align_corners=False).max() for image, _ in data]
    assert float(found.scores[u, 0]) == pytest.approx(float(max(peaks)), rel=1e-4)

    channels = nb.ChannelAttribution(session, SCENE.image, "conv3", SCENE.labels[0], icon_steps=0).wait()
    assert set(channels.exemplars) == {f"{channels.unit_key}:{int(u)}" for u in unpack(channels.shown)}
    grid = nb.ActivationGrid(session, SCENE.image, "conv3", icon_steps=0).wait()
    a = session.trace(SCENE.image, "conv3", logits=False)["conv3"]
    on = {f"{y},{x}" for y, x in (a.norm(dim=0) > 0).nonzero().tolist()}
    assert set(grid.exemplars) == on, "every drawn cell of the grid has the crops its activation vector picks"
    y, x = map(int, next(iter(grid.exemplars)).split(","))
    direction = D.dataset_examples(session, "conv3", data, K, units=a[:, y, x][None].float(), crop=receptive_fraction(session, "conv3"))
    assert f"peak activations {float(direction.scores[0, 0]):.2f}" in grid.exemplars[f"{y},{x}"]["title"]
    assert grid.exemplars[f"{y},{x}"]["title"].startswith(f"the activation vector at [{y}, {x}]")
    unlabelled = nb.Session.load("shapes")
    plain = nb.SemanticDictionary(unlabelled, SCENE.image, "conv3", icon_steps=0).wait()
    assert plain.exemplars == {}, "a session that has seen no dataset shows none"


def test_neuron_groups_are_labelled_by_the_rule_with_their_evidence(seen):
    session, _ = seen
    groups = nb.NeuronGroups(session, SCENE.image, "conv4", 3, icon_steps=0).wait()
    assert set(groups.unit_labels) == {f"conv4:g{g}" for g in range(3)} and set(groups.exemplars) == set(groups.unit_labels)
    for label in groups.unit_labels.values():
        assert label["evidence"].startswith("exemplars: ") and "class support: " in label["evidence"]
        assert (label["text"] == "no clear label") == (label["source"] == "")
    plain = nb.NeuronGroups(nb.Session.load("shapes"), SCENE.image, "conv4", 3, icon_steps=0).wait()
    assert plain.exemplars == {} and all(label["evidence"].startswith("class support: ") for label in plain.unit_labels.values())
    flow = nb.GroupFlow(session, SCENE.image, ["conv2", "conv3"], k=2, icon_steps=0).wait()
    assert set(flow.unit_labels) == {f"{layer}:g{g}" for layer in ("conv2", "conv3") for g in range(2)} == set(flow.exemplars)
