"""A dictionary's latents in the views' real bundle, on an exported page in Chromium: the
semantic dictionary lists a hovered cell's strongest latents with their icons, neuron groups
show the image's strongest latents without the factorization's menu, the activation grid draws
each position as its strongest latent, channel attribution lists latents with their icons, and
spatial attribution lists a hovered cell's latents with their attribution to both classes."""

from __future__ import annotations

import pytest

import neuroblocks as nb
from neuroblocks import dissection as D
from neuroblocks import shapes
from neuroblocks.dictionary import Settings
from neuroblocks.dictionary.train import fit
from neuroblocks.dictionary.vectors import CollectVectors
from neuroblocks.widgets.payload import unpack

from .conftest import hover_cell, view, watch_console

pytestmark = pytest.mark.browser


def test_latents_are_listed_drawn_and_grouped(page, shapes_session, tmp_path):
    vectors = CollectVectors("conv3", 10**9, 0, 32).map(shapes_session, D.ShapesConcepts(30, start=0), 0, lambda n: None).ordered()
    d = fit(vectors, "conv3", Settings(expansion=2, k=4, epochs=2))
    image = shapes.scene(3, classes=2).image
    latents = nb.SemanticDictionary(shapes_session, image, units=d, icon_steps=2)
    groups = nb.NeuronGroups(shapes_session, image, k=3, units=d, icon_steps=2)
    grid = nb.ActivationGrid(shapes_session, image, units=d, icon_steps=2)
    attributed = nb.ChannelAttribution(shapes_session, image, units=d, top=3, icon_steps=2)
    spatial = nb.SpatialAttribution(shapes_session, image, "conv3", "conv4", units=d, icon_steps=2)
    for v in (latents, groups, grid, attributed, spatial):
        v.wait(icons=True)
    errors = watch_console(page)
    page.goto(nb.to_html(tmp_path / "latents.html", nb.column(nb.row(latents, groups), nb.row(grid, attributed), spatial)).as_uri())

    shown = view(page, "Semantic dictionary")
    assert f"latents of {d.description}" in shown.locator(".nb-title").inner_text()
    codes = unpack(latents.acts)  # (M, H, W)
    y, x = divmod(int(codes.sum(0).argmax()), codes.shape[2])
    hover_cell(page, shown.locator(".nb-picture-grid"), (x + 0.5) / codes.shape[2], (y + 0.5) / codes.shape[1])
    entries = shown.locator(".nb-entry")
    strongest = sorted(range(codes.shape[0]), key=lambda m: -codes[m, y, x])[: entries.count()]
    assert [e.get_attribute("data-channel") for e in entries.all()][:2] == [str(m) for m in strongest[:2]], "the cell's strongest latents, strongest first"
    assert entries.first.inner_text().startswith(f"latent {strongest[0]}")
    assert entries.first.locator("img.nb-icon, canvas").count() == 1, "each latent has its icon"
    assert entries.first.locator("img.nb-exemplars").is_hidden(), "no crops where the session has seen no dataset"

    grouped = view(page, "Neuron groups")
    assert "the strongest latents of a dictionary" in grouped.locator(".nb-title").inner_text()
    assert grouped.locator("select").is_hidden(), "latents prioritise nothing: no menu"
    assert "strongest latent of a dictionary" in view(page, "Activation grid").locator(".nb-title").inner_text()

    listed = view(page, "Latent attribution")
    assert f"latents of {d.description}" in listed.locator(".nb-title").inner_text()
    top = int(unpack(attributed.shown)[0])
    first = listed.locator(".nb-entry").first
    assert first.get_attribute("data-channel") == str(top) and first.inner_text().startswith(f"latent {top}")
    assert first.locator("img.nb-icon, canvas").count() == 1, "the latent's icon"
    first.hover()
    assert f"latent {top} supports" in listed.locator(".nb-legend").inner_text()

    flow = view(page, "Spatial attribution")
    found = unpack(spatial.listed["index"])  # (P, n)
    _, rows, cols = unpack(spatial.lower_maps).shape
    y, x = 7, 9
    hover_cell(page, flow.locator(".nb-picture-grid").first, (x + 0.5) / cols, (y + 0.5) / rows)
    here = flow.locator(".nb-latent")
    assert [e.get_attribute("data-latent") for e in here.all()] == [str(m) for m in found[y * cols + x]], "the cell's latents, in order"
    assert here.first.locator("img.nb-icon, canvas").count() == 1
    assert not errors, errors
