"""Hosts hand binary data to the views in different forms, and some lose it: JupyterLab gives
DataViews, Colab's widget manager Uint8Arrays (its `ClassicComm.on_msg` wraps every message
buffer in one), other managers ArrayBuffers; some paths drop a custom message's buffers
(colab-cdn-widget-manager#33) or the message itself. A minimal widget host in the page, modelled
on those managers, delivers real views' state and the icon messages the kernel sent, in each
form, to the real bundle; every view must draw, every icon must end final, nothing may throw."""

from __future__ import annotations

import base64

import pytest

import neuroblocks as nb
from neuroblocks import shapes
from neuroblocks.widgets import base
from neuroblocks.widgets.export import encode, view_state

from .conftest import HOST_MODEL, watch_console

pytestmark = pytest.mark.browser

ORIGIN = "http://host.test"
HOST = """<!DOCTYPE html><html><head><meta charset="utf-8"><link rel="stylesheet" href="/neuroblocks.css"></head>
<body><div id="root"></div><script type="module">
import widget from "/neuroblocks.js";  // anywidget's module format: the default export

""" + HOST_MODEL + """

function bytes(b64, form) {
  const u8 = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
  return form === "DataView" ? new DataView(u8.buffer) : form === "ArrayBuffer" ? u8.buffer : u8;
}

function put({ state, buffers }, form) {
  for (const { path, base64 } of buffers) {
    let node = state;
    for (const key of path.slice(0, -1)) node = node[key];
    node[path[path.length - 1]] = bytes(base64, form);
  }
  return state;
}

window.host = {
  models: [],
  show(view, form) {
    const model = new HostModel(put(view, form));
    const el = document.createElement("div");
    document.getElementById("root").append(el);
    widget.render({ model, el });
    this.models.push(model);
  },
  message(i, content, buffers, form) {  // buffers: base64 strings, or null for a message that lost them
    this.models[i].emit("msg:custom", content, buffers && buffers.map((b) => bytes(b, form)));
  },
  icons(i, encoded, form) { this.models[i].set("icons", put(encoded, form).icons); },
};
window.hostReady = true;
</script></body></html>"""


@pytest.fixture(scope="module")
def sent(shapes_session):
    """Views on the shapes model, with every custom message the kernel sent them recorded."""
    messages: dict[int, list] = {}
    original = base.View.send

    def record(view, content, buffers=None):
        messages.setdefault(id(view), []).append((content, [base64.b64encode(bytes(b)).decode() for b in buffers or []]))
        original(view, content, buffers)

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(base.View, "send", record)
        image, icons = shapes.scene(11, classes=2).image, {"icon_steps": 8, "icon_size": 32}
        views = [
            nb.ChannelAttribution(shapes_session, image, "conv3", top=4, **icons),
            nb.ActivationGrid(shapes_session, image, "conv2", **icons),
            nb.NeuronGroups(shapes_session, image, "conv3", 2, **icons),
            nb.FeatureVis(shapes_session, layer="conv3", channel=1, size=32, steps=8),
        ]
        for view in views:
            view.wait(icons=True)
    shown = []
    for view in views:
        state = view_state(view)
        final_icons = {"icons": state.pop("icons")}
        shown.append({"state": encode({**state, "icons": {}}), "messages": messages.get(id(view), []), "icons": encode(final_icons)})
    assert sum(len(s["messages"]) for s in shown) >= 3, "the icon views streamed messages"
    return shown


def host_page(browser):
    context = browser.new_context(viewport={"width": 1280, "height": 2400})
    page = context.new_page()
    static = base.STATIC

    def serve(route):
        name = route.request.url.removeprefix(ORIGIN + "/")
        if name == "":
            return route.fulfill(body=HOST, content_type="text/html")
        path = static / name
        kind = "text/css" if name.endswith(".css") else "text/javascript"
        return route.fulfill(body=path.read_bytes(), content_type=kind) if path.is_file() else route.fulfill(status=404)

    page.route(f"{ORIGIN}/**", serve)
    return context, page


ICONS_FINAL = """() => [...document.querySelectorAll('.nb-icon')].every(i => i.dataset.stage === 'final' && i.complete && i.naturalWidth > 0)
                  && [...document.querySelectorAll('.nb-view[data-pending]')].every(v => v.dataset.pending === '0')"""


@pytest.mark.parametrize("form, delivery", [
    ("DataView", "messages"), ("Uint8Array", "messages"), ("ArrayBuffer", "messages"),
    ("Uint8Array", "messages without buffers"), ("DataView", "no messages"),
])
def test_views_draw_and_icons_arrive_however_the_host_hands_bytes_over(browser, sent, form, delivery):
    context, page = host_page(browser)
    errors = watch_console(page)
    page.goto(ORIGIN + "/")
    page.wait_for_function("() => window.hostReady === true")
    for view in sent:
        page.evaluate("([view, form]) => host.show(view, form)", [view["state"], form])
    assert page.locator(".nb-view").count() == len(sent) and not page.locator(".nb-error:visible").count()
    assert page.locator(".nb-icon").count() >= 6, "the icon views show their tiles"

    for i, view in enumerate(sent):
        for content, buffers in view["messages"]:
            if delivery != "no messages":
                page.evaluate("([i, c, b, form]) => host.message(i, c, b, form)", [i, content, None if delivery == "messages without buffers" else buffers, form])
    if delivery == "messages":
        page.wait_for_function(ICONS_FINAL, timeout=10_000)
    else:
        page.wait_for_timeout(500)
        assert not page.evaluate(ICONS_FINAL), "with no icon bytes delivered, the tiles stay placeholders until the trait"

    for i, view in enumerate(sent):  # the finished set, as the kernel stores it in the `icons` trait
        page.evaluate("([i, icons, form]) => host.icons(i, icons, form)", [i, view["icons"], form])
    page.wait_for_function(ICONS_FINAL, timeout=10_000)
    assert page.locator(".nb-featurevis-img").evaluate("img => img.naturalWidth > 0"), "the feature visualization's bytes were drawn"
    assert not errors, errors
    context.close()
