"""The shapes ViT's views in Chromium, on an exported page: an ActivationGrid linked to a
SemanticDictionary and a SpatialAttribution of the same token layer. Hovering a patch updates
both, and a linked CNN view of the same 8×8 grid follows; the class token has its own cell above
each grid, and hovering it shows its channels and the classes it supports (the CNN view, which has
no such token, says so)."""

from __future__ import annotations

import pytest
import torch

import neuroblocks as nb
from neuroblocks import attribution as attr

from .conftest import hover_cell, view, watch_console

pytestmark = pytest.mark.browser
LAYER, UPPER = "blocks.2", "blocks.3"


def test_patches_and_the_class_token_are_hovered_across_linked_views(page, shapes_vit, shapes_session, tmp_path):
    session = shapes_vit
    scene = nb.shapes.scene(5, classes=2).image
    grid = nb.ActivationGrid(session, scene, LAYER, icon_size=32, icon_steps=4)
    dictionary = nb.SemanticDictionary(session, scene, LAYER, icon_steps=0)
    spatial = nb.SpatialAttribution(session, scene, LAYER, UPPER)
    cnn = nb.SemanticDictionary(shapes_session, scene, "conv4", icon_steps=0)  # the CNN's 8×8 grid
    nb.link(grid, dictionary, spatial, cnn, traits=["position"])
    grid.wait(icons=True)
    assert "-1,0" in grid.icons, "the class token has its icon"
    errors = watch_console(page)
    page.goto(nb.to_html(tmp_path / "tokens.html", nb.column(grid, nb.row(dictionary, spatial), cnn)).as_uri())

    shown_grid, shown_spatial = view(page, "Activation grid"), view(page, "Spatial attribution")
    shown_dictionary = view(page, f"Semantic dictionary · {LAYER}")
    cnn_entries = view(page, "Semantic dictionary · conv4").locator(".nb-dictionary")
    entries = shown_dictionary.locator(".nb-dictionary")
    legend = shown_spatial.locator(".nb-legend-title")

    hover_cell(page, shown_grid.locator(".nb-picture-grid"), 5.5 / 8, 2.5 / 8)
    assert entries.get_attribute("data-position") == "2,5"
    assert legend.inner_text() == f"{LAYER} [2,5]: attribution to each logit"
    a = session.trace(scene, LAYER)[LAYER]
    shown = [int(e.get_attribute("data-channel")) for e in entries.locator(".nb-entry").all()]
    assert shown == a[:, 2, 5].topk(6).indices.tolist()
    assert cnn_entries.get_attribute("data-position") == "2,5", "a CNN view of the same grid follows"
    assert cnn_entries.locator(".nb-entry").count() == 6

    shown_grid.locator(".nb-prefix-cell").first.hover()
    assert entries.get_attribute("data-position") == "-1,0"
    cls = session.trace(scene, LAYER).prefixes[LAYER][0]
    shown = [int(e.get_attribute("data-channel")) for e in entries.locator(".nb-entry").all()]
    assert shown == cls.topk(6).indices.tolist(), "the class token's own strongest channels"
    assert legend.inner_text() == f"{LAYER} [-1,0]: attribution to each logit"
    best = int(attr.to_classes(session, scene, LAYER)[64].argmax())  # atom 64: the first token after the 8×8 patches
    rows = ".nb-chosen" if best in spatial.classes else ".nb-ranked"  # the chosen classes come first, the others ranked
    assert session.class_name(best) in shown_spatial.locator(f"{rows} .nb-legend-name").all_inner_texts()
    assert "not in this layer's 8×8 grid" in cnn_entries.inner_text(), "the CNN has no class token, and says so"
    for shown_view in (shown_grid, shown_dictionary, shown_spatial):
        assert shown_view.locator(".nb-prefix-cell.nb-marked").count() >= 1, "the hovered class token is marked in every linked view"
    assert shown_grid.locator(".nb-prefix-cell img").count() == 1, "its icon is drawn in its cell"
    assert not errors, errors
