"""The shortcut notebook in a real Notebook 7, driven in Chromium: its attribution graphs draw,
hovering a node puts its map on the image and brings its paths forward, hovering a cell of the
linked activation grid outlines the nodes active there, clicking "off" runs the model in the kernel
and shows the actual change beside the predicted one (the same numbers the graph's own check
lists), and the exported page draws and hovers with the server stopped. No console errors."""

from __future__ import annotations

import re

import pytest

from .conftest import ARTIFACTS, drawn, hover_cell, view, watch_console

pytestmark = pytest.mark.browser

PICTURE = "el => el.querySelector('.nb-picture canvas, canvas').toDataURL()"


def check_hover(page) -> None:
    graph = view(page, "Attribution graph · 'dotted' minus 'striped'").or_(view(page, "Attribution graph · 'striped' minus 'dotted'")).first
    graph.scroll_into_view_if_needed()
    before = graph.evaluate(PICTURE)
    node = graph.locator(".nb-graph-node.nb-graph-unit").first
    node.hover()
    assert graph.locator(".nb-graph-caption").inner_text().startswith(("conv3 unit", "conv4 unit")), "the hovered node is named"
    assert graph.locator(".nb-graph-edge.nb-edge-active").count() > 0, "its paths come forward"
    assert graph.evaluate(PICTURE) != before, "its map is drawn over the image"
    grid = view(page, "Activation grid")
    hover_cell(page, grid.locator(".nb-picture-grid, .nb-grid-canvas").first, 0.5, 0.5)
    graph.locator(".nb-graph-here").first.wait_for(timeout=5_000)


def test_graphs_draw_hover_link_switch_off_and_export(open_notebook, page):
    server, root, errors = open_notebook("shortcut.ipynb", "exported shortcut.html", "notebook", timeout_s=420, shorter=True)
    views = page.locator(".nb-view")
    assert views.count() == 3
    for i in range(3):
        assert drawn(views.nth(i)), f"view {i} is blank"
    check_hover(page)

    graph = page.locator(".nb-view").filter(has=page.locator(".nb-graph")).first
    status = graph.locator(".nb-status").inner_text()
    assert "of the target's attribution at every layer" in status and "rank correlation" in status
    checked = graph.locator(".nb-graph-check").first.inner_text()  # "conv3 unit 9: -0.194 → 0.111": predicted → actual
    name, numbers = checked.split(": ")
    unit = name.split(" unit ")[1]
    box = graph.locator(".nb-graph-node.nb-graph-unit").filter(has=page.locator(".nb-graph-text > div", has_text=re.compile(rf"^{unit}$"))).first
    box.locator("button[data-scale='0']").click()
    result = graph.locator(".nb-graph-result")
    page.wait_for_function("el => el.textContent.includes('switched off')", arg=result.element_handle(), timeout=60_000)
    said = re.findall(r"-?\d+\.?\d*(?:e-?\d+)?", result.inner_text().split("switched off")[1])
    assert [float(v) for v in said] == pytest.approx([float(v) for v in numbers.split(" → ")], rel=1e-2), (result.inner_text(), checked)
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "shortcut-notebook.png"), full_page=True)
    assert not errors, errors

    server.stop()
    exported = page.context.new_page()
    export_errors = watch_console(exported)
    exported.goto((root / "shortcut.html").as_uri())
    assert exported.locator(".nb-view").count() == 3
    check_hover(exported)
    off = exported.locator(".nb-graph-node.nb-graph-unit button[data-scale='0']").first
    off.click()
    assert "needs the running notebook" in exported.locator(".nb-view").filter(has=exported.locator(".nb-graph")).first.locator(".nb-status").inner_text()
    assert not export_errors, export_errors
