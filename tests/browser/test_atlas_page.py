"""The ActivationAtlas view in Chromium, on an exported page: icons drawn on the canvas, zoom
steps through the resolutions, hovering a cell shows its count, classes and dataset patches,
a position hovered in a linked SemanticDictionary is marked where its vector lies, and with a
trained dictionary each cell is framed by its leading latent, named with its icon on hover."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import neuroblocks as nb
from neuroblocks.atlas import AtlasError, atlas
from neuroblocks.dictionary import Settings
from neuroblocks.dictionary.train import fit
from neuroblocks.dissection import ShapesConcepts
from neuroblocks.widgets.payload import unpack

from .conftest import drawn, hover_cell, view, watch_console

pytestmark = pytest.mark.browser


def test_atlas_draws_zooms_hovers_and_follows_a_linked_position(page, shapes_session, tmp_path):
    found = atlas(shapes_session, "conv3", ShapesConcepts(600), grid=(6, 12), threshold=3)
    scene = nb.shapes.scene(5, classes=2).image
    atlas_view = nb.ActivationAtlas(shapes_session, found, scene, icon_size=32, icon_steps=4)
    dictionary = nb.SemanticDictionary(shapes_session, scene, "conv3", icon_steps=0)
    nb.link(dictionary, atlas_view, traits=["position"])
    atlas_view.wait(icons=True)
    assert len(atlas_view.icons) == len(found.cells(6))
    errors = watch_console(page)
    page.goto(nb.to_html(tmp_path / "atlas.html", nb.row(dictionary, atlas_view)).as_uri())

    shown = view(page, "Activation atlas")
    canvas = shown.locator(".nb-atlas-canvas")
    assert drawn(shown) and canvas.get_attribute("data-resolution") == "6"

    cells = found.cells(6)
    m = int(cells.counts.argmax())
    row, col = cells.where[m].tolist()
    hover_cell(page, canvas, (col + 0.5) / 6, (row + 0.5) / 6)
    details = shown.locator(".nb-atlas-details")
    assert details.get_attribute("data-cell") == str(m)
    assert f"{cells.counts[m]} vectors" in details.locator(".nb-atlas-count").inner_text()
    top = found.top_classes(6, 5)[m]
    assert details.locator(".nb-atlas-classes li").first.inner_text().startswith(top[0][0])
    examples = details.locator(".nb-atlas-example")
    assert examples.count() == min(4, cells.counts[m])
    first = int(cells.examples[m, 0])
    assert examples.first.get_attribute("data-image") == str(int(found.samples.images[first]))
    assert float(canvas.get_attribute("data-paint-ms")) >= 0  # the hover was painted (timed in benchmarks/atlas.py)

    shown.locator("button[data-zoom='in']").click()
    assert canvas.get_attribute("data-resolution") == "12"
    assert "12×12" in shown.locator(".nb-atlas-resolution").inner_text()

    hover_cell(page, view(page, "Semantic dictionary").locator(".nb-picture-grid"), (9 + 0.5) / 16, (4 + 0.5) / 16)
    marked = [float(v) for v in canvas.get_attribute("data-marked").split(",")]
    np.testing.assert_allclose(marked, atlas_view.atlas.place(scene)[4, 9], atol=1e-3)

    # Coloured by a dictionary's latents: each cell's leading latent is the one whose code,
    # averaged over the cell's vectors, is largest; hovering names it with its icon.
    d = fit(found.samples.vectors, "conv3", Settings(expansion=2, k=4, epochs=2))
    coloured = nb.ActivationAtlas(shapes_session, found, icon_size=32, icon_steps=4, units=d, name="latents")
    coloured.wait(icons=True)
    codes = d.encode(found.samples.vectors).numpy()
    mean = np.stack([codes[cells.members == j].mean(0) for j in range(len(cells))])
    leading = unpack(coloured.levels[0]["leading"])
    np.testing.assert_array_equal(leading, np.where(mean.max(1) > 0, mean.argmax(1), -1))
    assert all(f"{d.icon_key}:{k}" in coloured.icons for k in set(leading.tolist()) - {-1})
    page.goto(nb.to_html(tmp_path / "coloured.html", coloured).as_uri())
    shown = view(page, "Activation atlas")
    hover_cell(page, shown.locator(".nb-atlas-canvas"), (col + 0.5) / 6, (row + 0.5) / 6)
    latent = shown.locator(".nb-atlas-latent")
    assert latent.get_attribute("data-latent") == str(leading[m]) and latent.inner_text().startswith(f"latent {leading[m]}")
    assert latent.locator("img.nb-icon, canvas").count() == 1, "the latent's icon"
    with pytest.raises(AtlasError, match="these are a dictionary of .*, but the atlas is of 'conv3'"):
        nb.ActivationAtlas(shapes_session, found, units=fit(torch.rand(300, 128), "conv4", Settings(expansion=1, k=2, epochs=1)))
    assert not errors, errors


def test_unit_browser_searches_sorts_and_selects_a_channel_for_linked_views(page, shapes_session, tmp_path):
    from neuroblocks import dissection as D

    data = [D.ShapesConcepts(60)[i] for i in range(60)]
    result, examples = D.dissect(shapes_session, "conv2", data), D.dataset_examples(shapes_session, "conv2", data, k=3)
    scene = nb.shapes.scene(3, classes=2).image
    units = nb.UnitBrowser(shapes_session, examples, dissection=result, images=[scene], icon_size=32, icon_steps=4)
    dictionary = nb.SemanticDictionary(shapes_session, scene, "conv2", icon_steps=0)
    nb.link(units, dictionary, traits=["unit"])
    units.wait(icons=True)
    errors = watch_console(page)
    page.goto(nb.to_html(tmp_path / "units.html", nb.row(units, dictionary)).as_uri())

    shown = view(page, "Unit browser")
    listing = shown.locator(".nb-unit-list")
    assert listing.get_attribute("data-count") == "32" and shown.locator("img.nb-icon[data-stage='final']").count() == 32
    shown.locator(".nb-unit-sort").select_option("iou")
    best = int(result.best[0].argmax())
    assert listing.locator(".nb-unit").first.get_attribute("data-unit") == str(best)
    label = result.labels[best]
    shown.locator(".nb-unit-search").fill(label.split(":")[1])
    wanted = {str(row["unit"]) for row in units.rows if label.split(":")[1] in row["label"]}  # the rule's labels: dissection's, and others'
    assert wanted >= {str(u) for u, name in enumerate(result.labels) if name and label.split(":")[1] in name}
    assert {e.get_attribute("data-unit") for e in listing.locator(".nb-unit").all()} == wanted

    unit = listing.locator(".nb-unit").first
    unit.hover()
    assert unit.locator("canvas").first.is_visible(), "hovering a unit shows where it fires on its examples"
    unit.click()
    note = view(page, "Semantic dictionary").locator(".nb-channel-note")
    assert note.get_attribute("data-channel") == str(best)
    assert not errors, errors
