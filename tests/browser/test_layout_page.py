"""What a person sees in a narrow notebook, on an exported page in Chromium (the views' real
bundle): linked views in a row stay side by side, hovering a view moves nothing below it, a
legend's bars are scaled against the whole view, names cut in a column keep their whole text in
a tooltip, and the status line counts icons until they are all in."""

from __future__ import annotations

import numpy as np
import pytest

import neuroblocks as nb
from neuroblocks import shapes
from neuroblocks.widgets.payload import unpack

from .conftest import hover_cell, view, watch_console

pytestmark = pytest.mark.browser


def boxes(page) -> list[dict]:
    return [v.bounding_box() for v in page.locator(".nb-view").all()]


def test_a_row_of_linked_views_at_a_notebooks_width_neither_wraps_nor_jumps(page, shapes_session, tmp_path):
    image = shapes.scene(3, classes=2).image
    dictionary = nb.SemanticDictionary(shapes_session, image, "conv3", icon_steps=2)
    grid = nb.ActivationGrid(shapes_session, image, "conv3", icon_steps=2)
    spatial = nb.SpatialAttribution(shapes_session, image, "conv2", "conv3", icon_steps=2)
    nb.link(dictionary, grid, spatial)
    for v in (dictionary, grid, spatial):
        v.wait(icons=True)
    errors = watch_console(page)
    page.set_viewport_size({"width": 700, "height": 900})  # narrower than the row: it must scroll, not stack
    page.goto(nb.to_html(tmp_path / "row.html", nb.column(nb.row(dictionary, grid, spatial))).as_uri())
    before = boxes(page)
    assert len({round(b["y"]) for b in before}) == 1, f"the linked views stand side by side: {before}"

    hover_cell(page, view(page, "Semantic dictionary").locator(".nb-picture-grid"), 0.45, 0.55)
    assert view(page, "Semantic dictionary").locator(".nb-entry").count() == 6, "the hovered cell's channels are listed"
    assert [round(b["height"]) for b in boxes(page)] == [round(b["height"]) for b in before], "hovering moves nothing"
    assert not errors, errors


def test_a_legends_bars_are_scaled_against_the_whole_layer(page, shapes_session, tmp_path):
    """The layer's strongest cell fills its track; a weaker cell's bars stay short, not drawn full
    length as if its 0.02 were the triangle's 1.9."""
    spatial = nb.SpatialAttribution(shapes_session, shapes.scene(3, classes=2).image, "conv2", "conv3", icon_steps=0).wait()
    page.goto(nb.to_html(tmp_path / "spatial.html", spatial).as_uri())
    legend = view(page, "Spatial attribution")
    values = unpack(spatial.lower_legend["value"])  # (cells, top): each lower cell's strongest classes
    ranked = ~np.isin(unpack(spatial.lower_legend["index"]), spatial.classes)  # listed after the two chosen classes
    rows, cols = shapes_session.layer_shape("conv2")[1:]
    strongest = abs(values).max(1)
    for cell in (int(strongest.argmax()), int(abs(strongest - strongest.max() / 4).argmin())):
        y, x = divmod(cell, cols)
        hover_cell(page, legend.locator(".nb-picture-grid").first, (x + 0.5) / cols, (y + 0.5) / rows)
        assert legend.locator(".nb-legend-title").inner_text().startswith(f"conv2 [{y},{x}]")
        widths = [float(bar.evaluate("e => parseFloat(e.style.width)")) for bar in legend.locator(".nb-legend .nb-ranked .nb-bar").all()]
        assert widths == pytest.approx([max(0.0, 100 * v / strongest.max()) for v in values[cell][ranked[cell]]], abs=0.01)
    assert max(widths) < 30, "a cell with a quarter of the strongest support draws short bars"
    names = legend.locator(".nb-legend-name").all()
    assert names and all(n.get_attribute("title") == n.inner_text() for n in names), "a name cut short is whole in its tooltip"


def test_the_status_line_counts_icons_until_they_are_in(page, shapes_session, tmp_path):
    """Saved while its icons still render, a page shows how many are in; each icon arrives as a
    placeholder first, never as a coloured square that could be read as content."""
    image = shapes.scene(4, classes=2).image
    grid = nb.ActivationGrid(shapes_session, image, "conv3", icon_steps=2)
    grid.wait(icons=True)
    cells = grid.icon_count
    assert cells[0] == cells[1] > 0, "all in once the stream is done"
    grid.icon_count = [3, cells[1], 0]  # as when three had arrived
    page.goto(nb.to_html(tmp_path / "grid.html", grid).as_uri())
    assert f"{cells[1] - 3} of {cells[1]} icons were not rendered when this page was written" in view(page, "Activation grid").locator(".nb-status").inner_text()
