"""Exemplars and labels as a reader sees them, on an exported page in Chromium: each unit a
view lists has its top dataset crops beside its icon, and neuron groups show their label by the
one rule with its evidence in the tooltip."""

from __future__ import annotations

import pytest

import neuroblocks as nb
from neuroblocks import dissection as D
from neuroblocks import shapes
from neuroblocks.dissection.dataset_examples import THUMB
from neuroblocks.dissection.exemplars import K

from .conftest import hover_cell, view, watch_console

pytestmark = pytest.mark.browser


def test_listed_units_show_their_crops_and_groups_their_labels(page, tmp_path):
    session = nb.Session.load("shapes").examples([D.ShapesConcepts(40, start=7000)[i] for i in range(40)])
    scene = shapes.scene(8, classes=2)
    dictionary = nb.SemanticDictionary(session, scene.image, "conv3", icon_steps=0).wait()
    groups = nb.NeuronGroups(session, scene.image, "conv4", 3, icon_steps=0).wait()
    grid = nb.ActivationGrid(session, scene.image, "conv3", icon_steps=0).wait()
    errors = watch_console(page)
    page.goto(nb.to_html(tmp_path / "exemplars.html", dictionary, groups, grid).as_uri())

    shown = view(page, "Semantic dictionary")
    page.set_viewport_size({"width": 700, "height": 900})  # a notebook's width: entries with crops must not push the list onto a new line
    page.mouse.move(0, 0)
    height = shown.bounding_box()["height"]
    hover_cell(page, shown.locator(".nb-picture-grid"), 0.5, 0.5)
    assert shown.bounding_box()["height"] == height, "hovering does not move what is below the view"
    entries = shown.locator(".nb-dictionary .nb-entry")
    entries.first.wait_for(timeout=5_000)
    strips = shown.locator(".nb-dictionary .nb-entry img.nb-exemplars")
    assert strips.count() == entries.count() > 0, "every listed unit has its crops"
    assert all(s.evaluate(f"i => i.complete && i.naturalWidth === {K * THUMB} && i.naturalHeight === {THUMB}") for s in strips.all())
    assert "top 4 dataset crops" in strips.first.get_attribute("title")

    labels = view(page, "Neuron groups").locator(".nb-group .nb-unit-label")
    assert labels.count() == 3
    for g, line in enumerate(labels.all()):
        expected = groups.unit_labels[f"conv4:g{g}"]
        assert line.inner_text() == expected["text"] and expected["evidence"] in line.get_attribute("title")
    assert view(page, "Neuron groups").locator(".nb-group img.nb-exemplars").count() == 3
    cells = view(page, "Activation grid")
    page.mouse.move(0, 0)
    below = cells.bounding_box()["height"]
    hover_cell(page, cells.locator(".nb-picture-grid"), 0.5, 0.5)
    assert cells.bounding_box()["height"] == below, "the hovered cell's crops take room kept for them: nothing below moves"
    crops = cells.locator(".nb-grid-exemplars img.nb-exemplars")
    assert crops.is_visible() and crops.evaluate(f"i => i.naturalWidth === {K * THUMB}") and "the activation vector at [" in crops.get_attribute("title")
    assert not errors, errors
