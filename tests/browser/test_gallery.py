"""The gallery notebook in a real JupyterLab 4, driven in Chromium: every
view draws, hovering the activation grid moves the linked views, clicking a channel drills
down, feature visualization can be cancelled, and the exported page works with the server
stopped. The browser console must stay free of errors throughout."""

from __future__ import annotations

from pathlib import Path

import pytest

from neuroblocks import examples

from .conftest import ARTIFACTS, drawn, hover_cell, view, watch_console

pytestmark = pytest.mark.browser

KINDS = 8  # views the gallery shows
GALLERY = examples.load()  # what the gallery opens here: MobileNetV2's real weights on scikit-image's photo
TITLES = {
    "activation-grid": "Activation grid",
    "semantic-dictionary": "Semantic dictionary",
    "spatial-attribution": "Spatial attribution",
    "channel-attribution": "Channel attribution",
    "neuron-groups": "Neuron groups",
    "class-comparison": "Why ",
    "group-flow": "Group flow",
    "feature-vis": "Feature visualization",
}


def check_linked_hover(page) -> None:
    grid = view(page, "Activation grid")
    grid.scroll_into_view_if_needed()
    hover_cell(page, grid.locator(".nb-picture-grid"), 0.3, 0.55)
    dictionary = view(page, "Semantic dictionary")
    dictionary.locator(".nb-dictionary .nb-entry").first.wait_for(timeout=5_000)
    assert dictionary.locator(".nb-dictionary .nb-entry").count() == 6
    legend = view(page, "Spatial attribution").locator(".nb-legend-title")
    assert "[" in legend.inner_text(), "the spatial attribution shows the hovered cell's classes"
    cell = legend.inner_text().split("[")[1].split("]")[0]
    side = GALLERY.session.layer_shape(GALLERY.layer)[-1]
    assert cell.replace(",", " ").split() == [str(v) for v in (int(0.55 * side), int(0.3 * side))], "the same cell, in the layer's grid"


def screenshot_each_view(page, folder: Path) -> None:
    """One picture per view (the README's, with `make screenshots`), once its icons have all arrived."""
    folder.mkdir(parents=True, exist_ok=True)
    page.set_viewport_size({"width": 1280, "height": 2000})  # room for the tallest view, unclipped
    grid = view(page, "Activation grid")
    grid.scroll_into_view_if_needed()
    hover_cell(page, grid.locator(".nb-picture-grid"), 0.27, 0.45)  # inside the left object
    for name, title in TITLES.items():
        element = view(page, title)
        element.scroll_into_view_if_needed()
        page.wait_for_function(
            """el => !el.querySelector('.nb-icon[data-stage="placeholder"], .nb-icon[data-stage="preview"]')
                     && (el.dataset.pending === undefined || el.dataset.pending === '0')""",
            arg=element.element_handle(), timeout=900_000,
        )
        element.screenshot(path=str(folder / f"{name}.png"))


# In JupyterLab; Notebook 7 opens the shortcut notebook (test_graph_page.py).
@pytest.mark.parametrize("app", ["lab"])
def test_gallery_views_draw_link_drill_cancel_and_export(app, open_notebook, page, pytestconfig):
    server, root, errors = open_notebook("gallery.ipynb", "exported gallery.html", app)
    first = page.locator(".jp-OutputArea-output").first.text_content()  # (it may be scrolled out of view)
    assert "MobileNetV2 with torchvision's ImageNet weights on scikit-image's photo" in first, "without a photo: real weights on a packaged photo"
    top_two = [line.split("%", 1)[1].strip() for line in first.strip().splitlines()[1:3]]
    assert sorted(top_two) == sorted(GALLERY.classes), f"the two classes shown are the top two: {first}"

    # Feature visualization: running in the background, and the button stops it.
    featurevis = page.locator(".nb-view[data-state]")
    featurevis.and_(page.locator("[data-state='running']")).wait_for(timeout=30_000)
    featurevis.locator("button[data-action='cancel']").click()
    page.locator(".nb-view[data-state='cancelled']").wait_for(timeout=15_000)
    assert "cancelled" in featurevis.locator(".nb-value").inner_text()

    views = page.locator(".nb-view")
    assert views.count() == KINDS
    for i in range(KINDS):
        assert drawn(views.nth(i)), f"view {i} ({views.nth(i).locator('.nb-title').inner_text()}) is blank"

    check_linked_hover(page)

    # Switching the strongest channel off: the kernel recomputes with it ablated, the logit drops.
    channels = view(page, "Channel attribution")
    channels.scroll_into_view_if_needed()
    logit = channels.locator(".nb-logit").first
    before = float(logit.inner_text())
    channels.locator("button[data-ablate]").first.click()
    channels.locator(".nb-column").filter(has_text="switched off").wait_for(timeout=30_000)
    after = float(channels.locator(".nb-logit").first.inner_text())
    assert after < before, f"the target's logit drops with its strongest channel off: {before} → {after}"
    channels.locator(".nb-column").filter(has_text="switched off").locator("button[data-ablate]").click()
    channels.locator(".nb-column").filter(has_text="switched off").wait_for(state="detached", timeout=30_000)
    assert float(channels.locator(".nb-logit").first.inner_text()) == before, "switched back on, the logit is back"

    # Clicking a channel asks the kernel for what fed it and what it feeds.
    channels.locator(".nb-column .nb-entry").first.click()
    for side in ("below", "above"):
        channels.locator(f".nb-drill-side[data-side='{side}'] .nb-entry").first.wait_for(timeout=30_000)

    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"gallery-{app}.png"), full_page=True)
    if app == "lab" and pytestconfig.getoption("screenshots"):  # `make screenshots`: every icon rendered first, minutes on a CPU
        screenshot_each_view(page, pytestconfig.getoption("screenshots"))
    assert not errors, f"console errors in {app}: {errors}"

    # The exported page needs neither the server nor the network.
    server.stop()
    exported = page.context.new_page()
    export_errors = watch_console(exported)
    exported.goto((root / "gallery.html").as_uri())
    assert exported.locator(".nb-view").count() == 5  # the views the gallery exports
    check_linked_hover(exported)
    channels = view(exported, "Channel attribution")
    channels.locator(".nb-column .nb-entry").first.hover()
    assert "supports" in channels.locator(".nb-legend-title").inner_text()
    channels.locator(".nb-column .nb-entry").first.click()
    assert "needs the running notebook" in channels.locator(".nb-status").inner_text()
    assert not export_errors, export_errors
