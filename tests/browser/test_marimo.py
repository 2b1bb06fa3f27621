"""marimo as a host: the bundled marimo notebook (notebooks/marimo_views.py) served by a real
`marimo run` server and driven in Chromium. Its three views render through `mo.ui.anywidget`;
hovering the activation grid updates the linked semantic dictionary and spatial attribution
(through the kernel: marimo has no ipywidgets links) and the latency is printed; icons arrive,
and the test says whether by custom message (while the stream is still running) or through the
`icons` trait; picking another photo recomputes the same views in place."""

from __future__ import annotations

import os
import socket
import statistics
import subprocess
import sys
import time
import urllib.request

import pytest

from .conftest import ROOT, hover_cell, view, watch_console

pytestmark = pytest.mark.browser

NOTEBOOK = ROOT / "notebooks" / "marimo_views.py"

#: Times, in the page's clock, of the pointer entering a new cell of the grid (`canvas`, `side`
#: cells a side) and of the last change to the dictionary's list (`list`). marimo draws each view
#: in a shadow root, so the elements are handed in rather than looked up from the document.
WATCH = """([canvas, list, side]) => {
  window.nbTimes = {move: 0, dictionary: 0};
  let cell = '';
  window.addEventListener('mousemove', e => {
    const r = canvas.getBoundingClientRect();
    const now = [Math.floor((e.clientY - r.top) / r.height * side), Math.floor((e.clientX - r.left) / r.width * side)].join(',');
    if (now !== cell) { cell = now; window.nbTimes.move = performance.now(); }
  }, true);
  new MutationObserver(() => window.nbTimes.dictionary = performance.now()).observe(list, {childList: true, subtree: true, attributes: true});
}"""


def until(condition, timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, f"{what}: not within {timeout_s} s"
        time.sleep(0.25)


@pytest.fixture
def marimo_app(tmp_path):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    log = open(tmp_path / "marimo.log", "w")
    env = {**os.environ, "NEUROBLOCKS_CACHE": str(tmp_path / "cache")}
    server = subprocess.Popen([sys.executable, "-m", "marimo", "run", str(NOTEBOOK), "--headless", "--no-token", "--host", "127.0.0.1", "--port", str(port)],
                              stdout=log, stderr=subprocess.STDOUT, env=env, cwd=tmp_path)
    url = f"http://127.0.0.1:{port}/"
    deadline = time.monotonic() + 60
    while True:
        try:
            urllib.request.urlopen(url, timeout=2).close()
            break
        except OSError:
            assert server.poll() is None and time.monotonic() < deadline, (tmp_path / "marimo.log").read_text()
            time.sleep(0.5)
    yield url
    server.terminate()
    server.wait(timeout=20)
    log.close()


def test_marimo_renders_links_streams_icons_and_recomputes(marimo_app, page):
    errors = watch_console(page)
    page.set_viewport_size({"width": 1400, "height": 1300})
    page.goto(marimo_app)
    pictures, busy = page.locator(".nb-view .nb-picture-img"), page.locator(".nb-view.nb-busy")
    until(lambda: pictures.count() >= 3 and busy.count() == 0, 180, "three views drawn and done")
    grid, dictionary, spatial = (view(page, t) for t in ("Activation grid", "Semantic dictionary", "Spatial attribution"))
    assert "features.14.conv.0" in grid.locator(".nb-title").inner_text(), "the real-weights MobileNetV2 at its suggested layer"
    cells = int(grid.get_attribute("data-pending"))  # the grid's cells waiting for an icon, as first drawn

    # Hover linking, through the kernel: the dictionary lists the hovered cell's channels and the
    # spatial attribution's legend names the same cell.
    canvas, listing = grid.locator(".nb-grid-canvas"), dictionary.locator(".nb-dictionary")
    side = 14
    page.evaluate(WATCH, [canvas.element_handle(), listing.element_handle(), side])
    latencies = []
    for y, x in ((3, 4), (7, 7), (10, 5), (5, 10), (9, 9)):
        hover_cell(page, canvas, (x + 0.5) / side, (y + 0.5) / side)
        until(lambda: listing.get_attribute("data-position") == f"{y},{x}", 10, f"the dictionary follows the grid to [{y}, {x}]")
        page.wait_for_timeout(300)
        times = page.evaluate("window.nbTimes")
        latencies.append(times["dictionary"] - times["move"])
        assert listing.locator(".nb-entry").count() == 6
        assert f"[{y},{x}]" in spatial.locator(".nb-legend-title").inner_text().replace(", ", ",")
    print(f"hover → linked dictionary in marimo: median {statistics.median(latencies):.0f} ms, max {max(latencies):.0f} ms over {len(latencies)} hovers (kernel round trip included)")

    # Icons: the first ones in (the grid's cells, drawn on its canvas; the dictionary's tiles) say
    # how they came: by custom message if they are in while the status line still counts them
    # (the `icons` trait is set only once a stream is done).
    icons = page.locator("img.nb-icon[data-stage='final'], img.nb-icon[data-stage='preview']")
    seen = {}

    def icons_in() -> bool:
        pending = int(grid.get_attribute("data-pending") or 0)
        if pending < cells or icons.count():
            seen["by_message"] = "icons " in grid.locator(".nb-status").inner_text() or "icons " in dictionary.locator(".nb-status").inner_text()
            seen["grid"], seen["tiles"] = cells - pending, icons.count()
            return True
        return False

    until(icons_in, 180, "icons arrive")
    print(f"icons: {seen['grid']} grid cells and {seen['tiles']} tiles in, {'by custom message while the stream ran' if seen['by_message'] else 'through the icons trait'}")

    # Another photo: the same three views compute again for it.
    def drawn_photos() -> list[str]:
        """What each view draws of its photo: the grid's canvas, the others' pictures."""
        return [canvas.evaluate("c => c.toDataURL()"), *(v.locator(".nb-picture-img").first.get_attribute("src") for v in (dictionary, spatial))]

    before = drawn_photos()
    page.locator("select").last.select_option("coffee")
    until(lambda: all(now != then for now, then in zip(drawn_photos(), before)), 120, "every view draws the new photo")
    until(lambda: busy.count() == 0, 180, "the views finish computing")
    assert page.locator(".nb-view").count() == 3, "the same views, recomputed in place"
    assert page.locator(".nb-error:visible").count() == 0
    assert errors == [], errors
