"""A dictionary's latents in the views' real bundle, on an exported page in Chromium: the
semantic dictionary lists a hovered cell's strongest latents with their icons, neuron groups
show the image's strongest latents without the factorization's menu, the activation grid draws
each position as its strongest latent."""

from __future__ import annotations

import pytest

import neuroblocks as nb
from neuroblocks import dissection as D
from neuroblocks import shapes
from neuroblocks.dictionary import Settings
from neuroblocks.dictionary.train import fit
from neuroblocks.dictionary.vectors import CollectVectors
from neuroblocks.widgets.payload import decode

from .conftest import hover_cell, view, watch_console

pytestmark = pytest.mark.browser


def test_latents_are_listed_drawn_and_grouped(page, shapes_session, tmp_path):
    vectors = CollectVectors("conv3", 10**9, 0, 32).map(shapes_session, D.ShapesConcepts(30, start=0), 0, lambda n: None).ordered()
    d = fit(vectors, "conv3", Settings(expansion=2, k=4, epochs=2))
    image = shapes.scene(3, classes=2).image
    latents = nb.SemanticDictionary(shapes_session, image, dictionary=d, icon_steps=2)
    groups = nb.NeuronGroups(shapes_session, image, k=3, dictionary=d, icon_steps=2)
    grid = nb.ActivationGrid(shapes_session, image, dictionary=d, icon_steps=2)
    for v in (latents, groups, grid):
        v.wait(icons=True)
    errors = watch_console(page)
    page.goto(nb.to_html(tmp_path / "latents.html", nb.column(nb.row(latents, groups), grid)).as_uri())

    shown = view(page, "Semantic dictionary")
    assert f"latents of {d.description}" in shown.locator(".nb-title").inner_text()
    codes = decode(latents.acts)  # (M, H, W)
    y, x = divmod(int(codes.sum(0).argmax()), codes.shape[2])
    hover_cell(page, shown.locator(".nb-picture-grid"), (x + 0.5) / codes.shape[2], (y + 0.5) / codes.shape[1])
    entries = shown.locator(".nb-entry")
    strongest = sorted(range(codes.shape[0]), key=lambda m: -codes[m, y, x])[: entries.count()]
    assert [e.get_attribute("data-channel") for e in entries.all()][:2] == [str(m) for m in strongest[:2]], "the cell's strongest latents, strongest first"
    assert entries.first.inner_text().startswith(f"latent {strongest[0]}")
    assert entries.first.locator("img, canvas").count() == 1, "each latent has its icon"

    grouped = view(page, "Neuron groups")
    assert "the strongest latents of a dictionary" in grouped.locator(".nb-title").inner_text()
    assert grouped.locator("select").is_hidden(), "latents prioritise nothing: no menu"
    assert "strongest latent of a dictionary" in view(page, "Activation grid").locator(".nb-title").inner_text()
    assert not errors, errors
