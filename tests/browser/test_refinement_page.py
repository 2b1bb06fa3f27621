"""Icons that refine themselves, in Chromium: a real view's state drawn by the real bundle in a
minimal widget host whose messages go to the real kernel-side view and back. The browser
reports only the icons on screen, the kernel refines those, they swap in as "full", and the
status line's Stop stops a refinement."""

from __future__ import annotations

import base64
import time

import pytest

import neuroblocks as nb
from neuroblocks import shapes
from neuroblocks.widgets import base
from neuroblocks.widgets.export import encode, view_state

from .conftest import HOST_MODEL, watch_console

pytestmark = pytest.mark.browser

ORIGIN = "http://kernel.test"
HOST = """<!DOCTYPE html><html><head><meta charset="utf-8"><link rel="stylesheet" href="/neuroblocks.css"></head>
<body><div id="root"></div><script type="module">
import widget from "/neuroblocks.js";

""" + HOST_MODEL + """
const bytes = (b64) => new DataView(Uint8Array.from(atob(b64), (c) => c.charCodeAt(0)).buffer);
window.outbox = [];
window.host = {
  show({ state, buffers }) {
    for (const { path, base64 } of buffers) {
      let node = state;
      for (const key of path.slice(0, -1)) node = node[key];
      node[path[path.length - 1]] = bytes(base64);
    }
    this.model = new HostModel(state);
    const el = document.createElement("div");
    document.getElementById("root").append(el);
    widget.render({ model: this.model, el });
  },
  message(content, buffers) { this.model.emit("msg:custom", content, buffers.map(bytes)); },
  set(name, value) { this.model.set(name, value); },
};
window.hostReady = true;
</script></body></html>"""


class Wire:
    """The comm between the page and one kernel-side view: the view's messages and the traits
    the status line reads go to the page, the page's requests to the view."""

    def __init__(self, page, view) -> None:
        self.page, self.view, self.to_page = page, view, []
        view.send = lambda content, buffers=None: self.to_page.append(("msg", content, [base64.b64encode(bytes(b)).decode() for b in buffers or []]))
        view.observe(lambda change: self.to_page.append(("set", change["name"], change["new"])), names=["refining", "icon_count"])

    def pump(self) -> list[dict]:
        """Deliver what is waiting both ways; returns the page's requests."""
        asked = self.page.evaluate("() => window.outbox.splice(0)")
        for content in asked:
            self.view._message(self.view, content, [])
        while self.to_page:
            kind, *rest = self.to_page.pop(0)
            if kind == "msg":
                self.page.evaluate("([c, b]) => host.message(c, b)", rest)
            else:
                self.page.evaluate("([n, v]) => host.set(n, v)", rest)
        return asked

    def until(self, condition: str, timeout: float = 60) -> list[dict]:
        asked, deadline = [], time.monotonic() + timeout
        while not self.page.evaluate(condition):
            assert time.monotonic() < deadline, f"not reached in {timeout} s: {condition}"
            asked += self.pump()
            time.sleep(0.1)
        return asked


def show(browser, view, height: int):
    context = browser.new_context(viewport={"width": 900, "height": height})
    page = context.new_page()

    def serve(route):
        name = route.request.url.removeprefix(ORIGIN + "/")
        if name == "":
            return route.fulfill(body=HOST, content_type="text/html")
        path = base.STATIC / name
        return route.fulfill(body=path.read_bytes(), content_type="text/css" if name.endswith(".css") else "text/javascript") if path.is_file() else route.fulfill(status=404)

    page.route(f"{ORIGIN}/**", serve)
    errors = watch_console(page)
    page.goto(ORIGIN + "/")
    page.wait_for_function("() => window.hostReady === true")
    page.evaluate("(v) => host.show(v)", encode(view_state(view)))
    return context, page, errors


STAGES = "() => [...document.querySelectorAll('.nb-icon')].map(i => i.dataset.stage)"


def test_the_icons_on_screen_refine_and_swap_in_and_stop_stops(browser, tmp_path, monkeypatch):
    monkeypatch.setenv("NEUROBLOCKS_CACHE", str(tmp_path))
    session = nb.Session.load("shapes")
    nb.featurevis.configure(session, full_size=40, full_steps=24)
    view = nb.ChannelAttribution(session, shapes.scene(2, classes=2).image, "conv3", top=12, icon_steps=8).wait(icons=True)
    context, page, errors = show(browser, view, height=420)
    wire = Wire(page, view)
    status = page.locator(".nb-status")
    assert "full quality 0 / " in status.inner_text() and "(40 px · 24 steps (set))" in status.inner_text()

    asked = wire.until("() => document.querySelector('.nb-icon[data-stage=full]') !== null")
    reported = {k for a in asked if a.get("action") == "visible" for k in a["keys"]}
    on_screen = set(page.evaluate("""() => [...document.querySelectorAll('.nb-icon')].filter(i => {
        const r = i.getBoundingClientRect(); return r.bottom > 0 && r.top < innerHeight; }).map(i => i.dataset.key)"""))
    everything = set(page.evaluate("() => [...document.querySelectorAll('.nb-icon')].map(i => i.dataset.key)"))
    assert reported and reported <= on_screen < everything, "only the icons on screen are reported"
    wire.until(f"() => document.querySelectorAll('.nb-icon[data-stage=full]').length >= {len(reported)}")
    assert set(page.evaluate("() => [...document.querySelectorAll('.nb-icon[data-stage=full]')].map(i => i.dataset.key)")) == reported
    assert not page.evaluate("() => [...document.querySelectorAll('.nb-icon[data-stage=full]')].some(i => !i.complete || i.naturalWidth !== 40)")
    assert f"full quality {len(reported)} / {view.icon_count[1]}" in status.inner_text()

    nb.featurevis.configure(session, full_steps=100_000)  # renders that would take minutes
    page.mouse.wheel(0, 2000)  # scroll: the icons now on screen are reported and start to render
    wire.until("() => getComputedStyle(document.querySelector('.nb-stop-refining')).display !== 'none'")
    page.locator(".nb-stop-refining").click()
    wire.until("() => document.querySelector('.nb-status').textContent.includes('stopped')", timeout=20)
    assert view._refiner.join(20) and view.refining == "stopped"
    assert page.locator(".nb-stop-refining").is_hidden()
    assert not errors, errors
    context.close()


def test_a_grid_drawn_on_a_canvas_reports_its_cells_once_its_quick_icons_are_in(browser, tmp_path, monkeypatch):
    monkeypatch.setenv("NEUROBLOCKS_CACHE", str(tmp_path))
    session = nb.Session.load("shapes")
    nb.featurevis.configure(session, full_size=32, full_steps=16)
    view = nb.ActivationGrid(session, shapes.scene(2, classes=2).image, "conv2", icon_steps=8).wait(icons=True)
    context, page, errors = show(browser, view, height=900)  # its quick icons all in the state it is drawn from
    wire = Wire(page, view)
    page.wait_for_function("() => window.outbox.length > 0")
    page.wait_for_timeout(600)  # (a second report would come within the page's 400 ms debounce)
    reported = [k for a in wire.pump() if a.get("action") == "visible" for k in a["keys"]]
    assert sorted(reported) == sorted(view.icons), "every cell of the canvas, each reported once"
    view.stop_refining()
    assert view._refiner.join(20)
    assert not errors, errors
    context.close()
