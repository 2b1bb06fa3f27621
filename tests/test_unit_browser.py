"""The unit browser on the shapes world: every unit of conv2 with its label by the one rule
(`unit_labels`: the dissection's where it has one, else what the model sees in the unit's top
crops, else its class support where strong, else "no clear label"), its examples, and class
support equal to channel attribution summed image by image."""

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
    assert sum(1 for label in labels if label) > 0
    for row, label in zip(browser.rows, labels):
        if label:
            assert (row["label"], row["source"]) == (label, "dissection"), "a dissection label is the label"
        else:
            assert row["source"] != "dissection" and "a label needs 0.04" in row["evidence"]
    by_crops = [row for row in browser.rows if row["source"] == "exemplars"]
    assert by_crops, "some units are named by what their top crops show"
    for row in by_crops:  # checked through another path: each crop read as a photo by the session
        named = [shapes_session.predict(crop.numpy(), 1)[0][0] for crop in examples.crops[row["unit"], :4]]
        assert named.count(row["label"]) >= 3, (row, named)
    total = sum(nb.attribution.to_classes(shapes_session, image, "conv2", "channels") for image in images).float()
    z = (total - total.mean(1, keepdim=True)) / total.std(1, keepdim=True)
    needed = 0.75 * (total.shape[1] - 1) / total.shape[1] ** 0.5  # few classes: three quarters of the most z can be
    for row in browser.rows:
        strong = [c for c in total[row["unit"]].argsort(descending=True)[:3].tolist() if z[row["unit"], c] >= needed and total[row["unit"], c] > 0]
        assert [c for c, _ in row["supports"]] == strong, "a unit's listed classes are exactly those it supports strongly"
    assert any(row["supports"] for row in browser.rows) and not all(row["supports"] for row in browser.rows)
    best = result.best[0]
    assert [row["iou"] for row in browser.rows] == [round(float(v), 4) for v in best]
    assert unpack(browser.maps).shape == (32, 4, 64, 64) and len(browser.strips) == 32
    index, value = unpack(browser.support["index"]), unpack(browser.support["value"])
    for unit in (0, 7, 31):
        k = int(index[unit, 0])
        summed = sum(channel_attribution(shapes_session, image, k)[unit] for image in images)
        assert value[unit, 0] == pytest.approx(float(summed), rel=1e-4, abs=1e-6)
    assert f"dissection {sum(1 for label in labels if label)}" in browser.summary and "4 images" in browser.summary


def test_without_a_dissection_or_images_the_browser_still_shows_every_unit(shapes_session, conv2):
    browser = nb.UnitBrowser(shapes_session, conv2[1], icon_steps=0).wait()
    assert all(row["source"] in ("", "exemplars") and row["iou"] is None and row["supports"] == [] for row in browser.rows) and browser.support == {}
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
    assert [row["label"] for row in browser.rows if row["source"] == "dissection"] == [label for label in result.labels if label]
    index, value = unpack(browser.support["index"]), unpack(browser.support["value"])
    summed = sum(nb.attribution.to_classes(shapes_session, image, "conv3", units=directions) for image in images)
    for unit in range(4):
        assert int(index[unit, 0]) == int(summed[unit].argmax()) and value[unit, 0] == pytest.approx(float(summed[unit].max()), rel=1e-5)
