"""The unit browser on the shapes world: every unit of conv2 with the dissection label it was
given, its examples, and class support equal to channel attribution summed image by image."""

from __future__ import annotations

import pytest
import torch

import neuroblocks as nb
from neuroblocks import dissection as D
from neuroblocks.errors import NeuroblocksError
from neuroblocks.widgets.payload import unpack


@pytest.fixture(scope="module")
def conv2(shapes_session):
    data = torch.utils.data.DataLoader(D.ShapesConcepts(120), batch_size=40)
    return D.dissect(shapes_session, "conv2", data), D.dataset_examples(shapes_session, "conv2", data, k=4)


def channel_attribution(session, image, k) -> torch.Tensor:
    """Channel attribution of conv2 to class k by reverse mode, one class at a time; zero where
    the class does not depend on conv2 for this image (every path closed)."""
    try:
        return nb.attribution.channel(session, image, "conv2", k).float()
    except nb.AttributionError:
        return torch.zeros(32)


def test_every_unit_with_its_dissection_label_examples_and_class_support(shapes_session, conv2):
    result, examples = conv2
    images = [nb.shapes.scene(9000 + i).image for i in range(4)]
    browser = nb.UnitBrowser(shapes_session, examples, dissection=result, images=images, icon_steps=0).wait()
    assert [row["unit"] for row in browser.rows] == list(range(32))
    labels = result.labels
    assert [row["label"] or None for row in browser.rows] == labels  # the labels agree with the dissection given
    assert sum(1 for label in labels if label) > 0
    best = result.best[0]
    assert [row["iou"] for row in browser.rows] == [round(float(v), 4) for v in best]
    assert unpack(browser.maps).shape == (32, 4, 64, 64) and len(browser.strips) == 32
    index, value = unpack(browser.support["index"]), unpack(browser.support["value"])
    for unit in (0, 7, 31):
        k = int(index[unit, 0])
        summed = sum(channel_attribution(shapes_session, image, k)[unit] for image in images)
        assert value[unit, 0] == pytest.approx(float(summed), rel=1e-4, abs=1e-6)
    assert "labelled by dissection" in browser.summary and "4 images" in browser.summary


def test_without_a_dissection_or_images_the_browser_still_shows_every_unit(shapes_session, conv2):
    browser = nb.UnitBrowser(shapes_session, conv2[1], icon_steps=0).wait()
    assert all(row["label"] == "" and row["iou"] is None for row in browser.rows) and browser.support == {}
    assert browser.error == "", "the channels' icons are asked for once, with nothing after them"


def test_mismatched_inputs_are_refused(shapes_session, conv2):
    result, examples = conv2
    other = D.dissect(shapes_session, "conv3", D.ShapesConcepts(40))
    with pytest.raises(NeuroblocksError, match="not of the examples' layer"):
        nb.UnitBrowser(shapes_session, examples, dissection=other)
    directions = D.dataset_examples(shapes_session, "conv2", [D.ShapesConcepts(8)[i] for i in range(8)], units=D.random_directions(32, 5))
    with pytest.raises(NeuroblocksError, match=r"\(conv2, 5 units\)"):
        nb.UnitBrowser(shapes_session, directions, dissection=result)  # 32 channels dissected, 5 directions shown
    with pytest.raises(TypeError, match="dataset examples"):
        nb.UnitBrowser(shapes_session, result)


def test_neuron_group_directions_are_browsed_as_units_that_select_the_group(shapes_session):
    """A factorization's group directions as the units: their own examples, dissection and class
    support (each direction's projection attributed, summed over the images); a click sets `group`."""
    scenes = [D.ShapesConcepts(60)[i] for i in range(60)]
    groups = nb.factorize(shapes_session, scenes[0][0], "conv3", 4)
    directions = torch.as_tensor(groups.channels, dtype=torch.float32)
    examples = D.dataset_examples(shapes_session, "conv3", scenes, k=3, units=directions)
    result = D.dissect(shapes_session, "conv3", scenes, units=directions)
    images = [scene for scene, _ in scenes[:3]]
    browser = nb.UnitBrowser(shapes_session, examples, dissection=result, images=images, selects="group", icon_steps=0).wait()
    assert (browser.noun, browser.selects) == ("direction", "group") and "4 directions of conv3" in browser.summary
    assert [row["label"] or None for row in browser.rows] == result.labels
    index, value = unpack(browser.support["index"]), unpack(browser.support["value"])
    summed = sum(nb.attribution.to_classes(shapes_session, image, "conv3", units=directions) for image in images)
    for unit in range(4):
        assert int(index[unit, 0]) == int(summed[unit].argmax()) and value[unit, 0] == pytest.approx(float(summed[unit].max()), rel=1e-5)
