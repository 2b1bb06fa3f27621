"""The ModelComparison view in Chromium, on an exported page (the views' real bundle, links
kept) and in a live JupyterLab: clicking a CKA cell lists its matched units (and crossing other
cells on the way to the list leaves it), clicking a pair selects its channels in both models'
linked views when they show that pair's layers (else it says which layers it needs), and a
position hovered in model A's view shows in model B's, whose grid is twice as fine."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

import neuroblocks as nb
from neuroblocks import compare, shapes

from .conftest import hover_cell, view, watch_console

pytestmark = pytest.mark.browser


def test_click_a_cell_click_a_pair_and_positions_follow_across_grids(page, shapes_session, shapes_seed1, tmp_path):
    scenes = [shapes.scene(30_000 + i).image for i in range(64)]
    survey = compare.survey(shapes_session, shapes_seed1, scenes, ["conv2", "conv3"], ["conv2", "conv3"])
    comparison = nb.ModelComparison(shapes_session, shapes_seed1, survey, pairs=4, names=("seed 0", "seed 1"), icon_size=32, icon_steps=4)
    image = shapes.scene(3, classes=2).image
    a = nb.SemanticDictionary(shapes_session, image, "conv3", icon_steps=0)
    b = nb.SemanticDictionary(shapes_seed1, image, "conv2", icon_steps=0)
    comparison.link_views(a, b)
    comparison.wait(icons=True)
    errors = watch_console(page)
    page.goto(nb.to_html(tmp_path / "compare.html", comparison, nb.row(a, b)).as_uri())

    table = view(page, "Model comparison")
    cell = table.locator(".nb-cka-cell[data-cell='1,0']")  # seed 0's conv3 against seed 1's conv2
    cell.click()
    table.locator(".nb-cka-cell[data-cell='0,1']").hover()  # on the way to the list
    assert "nb-selected" in cell.get_attribute("class"), "the clicked cell stays chosen"
    title = table.locator(".nb-pairs .nb-legend-title").inner_text()
    assert title.startswith("seed 0 conv3 ↔ seed 1 conv2")
    pairs = table.locator(".nb-pair")
    assert pairs.count() == 4
    expected = survey.matchings["conv3", "conv2"].pairs[:4].tolist()
    assert [p.get_attribute("data-pair") for p in pairs.all()] == [f"{x},{y}" for x, y in expected]
    assert table.locator(".nb-pair img.nb-icon[data-stage='final']").count() == 8, "both models' icons"

    pairs.nth(1).click()
    first, second = page.locator(".nb-view").filter(has_text="Semantic dictionary").all()
    assert first.locator(".nb-channel-note").get_attribute("data-channel") == str(expected[1][0])
    assert second.locator(".nb-channel-note").get_attribute("data-channel") == str(expected[1][1])
    assert "nb-selected" in pairs.nth(1).get_attribute("class")

    hover_cell(page, first.locator(".nb-picture-grid"), (5 + 0.5) / 16, (3 + 0.5) / 16)  # A's cell [y=3, x=5]
    assert first.locator(".nb-dictionary").get_attribute("data-position") == "3,5"
    assert second.locator(".nb-dictionary").get_attribute("data-position") == "7,11"

    # A pair of other layers (conv2 ↔ conv2) says what it needs and leaves the linked views alone.
    table.locator(".nb-cka-cell[data-cell='0,0']").click()
    table.locator(".nb-pair").first.click()
    assert first.locator(".nb-channel-note").get_attribute("data-channel") == str(expected[1][0])
    assert second.locator(".nb-channel-note").get_attribute("data-channel") == str(expected[1][1])
    assert "the linked views show seed 0 conv3 ↔ seed 1 conv2" in table.locator(".nb-status").inner_text()
    assert not errors, errors


def test_the_compare_notebook_in_jupyterlab_links_both_models_views(open_notebook, page):
    """The same interactions in a live JupyterLab, where links run through ipywidgets' jslink
    (differently named traits included) and the comparison maps positions between the grids."""
    _, _, errors = open_notebook("compare_models.ipynb", "Skipped", shorter=True)

    table = view(page, "Model comparison")
    table.scroll_into_view_if_needed()
    table.locator(".nb-cka-cell[data-cell='2,1']").click()  # seed 0's conv3 against seed 1's conv2, the linked views' layers
    assert table.locator(".nb-pairs .nb-legend-title").inner_text().startswith("seed 0 conv3 ↔ seed 1 conv2")
    pair = table.locator(".nb-pair").first
    a, b = pair.get_attribute("data-pair").split(",")
    pair.click()
    first, second = page.locator(".nb-view").filter(has_text="Semantic dictionary").all()
    expect(first.locator(".nb-channel-note")).to_have_attribute("data-channel", a)
    expect(second.locator(".nb-channel-note")).to_have_attribute("data-channel", b)

    first.scroll_into_view_if_needed()
    hover_cell(page, first.locator(".nb-picture-grid"), (5 + 0.5) / 16, (3 + 0.5) / 16)
    expect(first.locator(".nb-dictionary")).to_have_attribute("data-position", "3,5")
    expect(second.locator(".nb-dictionary")).to_have_attribute("data-position", "7,11")
    assert not errors, errors
