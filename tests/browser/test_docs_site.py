"""The documentation site as `make docs` builds it, opened offline in Chromium: mkdocs builds it
strictly (a broken link or a missing page fails the build), every page loads without a console
error and asks nothing of the network but the loopback server, every internal link lands on a
page of the site, and every live view embedded in a notebook page draws and answers a hover."""

from __future__ import annotations

import functools
import http.server
import os
import subprocess
import sys
import threading
from pathlib import Path
from urllib.parse import urljoin, urlparse

import pytest

from conftest import notebook_pages

from .conftest import ROOT, drawn, watch_console

pytestmark = pytest.mark.browser

NOTEBOOKS = sorted(p.stem for p in (ROOT / "notebooks").glob("*.ipynb"))
GENERATED = ROOT / "docs" / "generated"

#: Where a view answers the pointer, most telling first: hovering there changes what it shows.
HOVER_TARGETS = [".nb-picture-grid", ".nb-grid-canvas", ".nb-atlas-canvas", ".nb-node", ".nb-graph-node", ".nb-unit", ".nb-dissection-row", ".nb-group", ".nb-entry"]
#: Points of a target tried in turn (an atlas leaves cells empty; a grid's corner may be quiet).
POINTS = [(0.5, 0.5), (0.3, 0.6), *((x / 6, y / 6) for y in range(1, 6) for x in range(1, 6))]
#: What a view shows, read to see whether a hover changed it: its markup and its canvases' pixels.
SNAPSHOT = """el => el.innerHTML + [...el.querySelectorAll('canvas')].map(c => c.toDataURL()).join('')"""


@pytest.fixture(scope="module")
def site(notebook_runs, tmp_path_factory) -> Path:
    """Every notebook page written from this run's executions, then `mkdocs build --strict`."""
    for name in NOTEBOOKS:
        notebook = notebook_runs(name)
        assert notebook_pages.view_errors(notebook) == [], f"{name}: a view ended with an error"
        notebook_pages.write_page(notebook, name, GENERATED)
    out = tmp_path_factory.mktemp("site")
    built = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(out)], cwd=ROOT, capture_output=True, text=True,
                           env={**os.environ, "NO_MKDOCS_2_WARNING": "1"})
    assert built.returncode == 0, built.stderr[-3000:]
    return out


@pytest.fixture(scope="module")
def server(site):
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(site))
    handler.log_message = lambda *a: None
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}/"
    httpd.shutdown()


def pages(site: Path) -> list[str]:
    """The site's pages (not the exported views they embed, nor mkdocs' own 404 page)."""
    return sorted(str(p.relative_to(site)) for p in site.rglob("*.html") if p.parts[-2] != "views" and p.name != "404.html")


def test_every_page_loads_offline_and_every_internal_link_lands(site, server, page):
    outside: list[str] = []
    page.context.route("**/*", lambda route: route.continue_() if route.request.url.startswith(server) else (outside.append(route.request.url), route.abort()))
    errors = watch_console(page)
    broken, visited = [], pages(site)
    assert len(visited) >= 40, visited
    for path in visited:
        page.goto(server + path)
        for href in page.eval_on_selector_all("a[href]", "els => els.map(e => e.getAttribute('href'))"):
            target = urlparse(urljoin(server + path, href))
            if target.netloc != urlparse(server).netloc:
                continue
            file = site / target.path.lstrip("/")
            if not (file / "index.html" if file.is_dir() else file).is_file():
                broken.append(f"{path} → {href}")
    assert broken == [], broken
    assert errors == [], errors
    assert outside == [], "pages asked the network for these"


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_the_notebooks_live_views_draw_and_answer_a_hover(name, site, server, page):
    errors = watch_console(page)
    page.goto(f"{server}generated/notebooks/{name}.html")
    frame_element = page.locator("iframe.nb-live")
    assert frame_element.count() == 1, "the page embeds its notebook's views"
    frame_element.scroll_into_view_if_needed()
    frame = page.frame_locator("iframe.nb-live")
    frame.locator(".nb-view").first.wait_for(timeout=20_000)
    views = frame.locator(".nb-view").all()
    kinds = []
    for view in views:
        # The pointer rests on the page's header, off every view: a view scrolled under a resting
        # pointer would be hovered (and keep what it selected) before it is looked at.
        page.mouse.move(0, 0)
        title = view.locator(".nb-title").inner_text()
        kinds.append(title)
        if title.startswith("Model comparison"):  # a table of layer pairs: read by clicking a cell
            assert view.locator("td.nb-cka-cell").count() > 0, f"{name}: the comparison shows no layer pairs"
            assert answers_click(view, view.locator("td.nb-cka-cell").last), f"{name}: clicking a layer pair changes nothing"
            continue
        assert drawn(view), f"{name}: a view draws nothing"
        if title.startswith("Feature visualization"):
            continue  # a render, not a map: nothing to hover
        assert answers_hover(page, view), f"{name}: hovering {title!r} changes nothing"
    assert errors == [], errors
    print(f"{name}: {len(views)} live views: {kinds}")


def answers_hover(page, view) -> bool:
    for selector in HOVER_TARGETS:
        targets = view.locator(selector)
        if not targets.count():
            continue
        target = targets.first
        target.scroll_into_view_if_needed()
        page.mouse.move(0, 0)
        before = view.evaluate(SNAPSHOT)
        box = target.bounding_box()
        for fx, fy in POINTS:
            page.mouse.move(box["x"] + box["width"] * fx, box["y"] + box["height"] * fy, steps=3)
            page.wait_for_timeout(150)
            if view.evaluate(SNAPSHOT) != before:
                return True
    return False


def answers_click(view, target) -> bool:
    before = view.evaluate(SNAPSHOT)
    target.click()
    view.page.wait_for_timeout(200)
    return view.evaluate(SNAPSHOT) != before
