"""One self-contained HTML file of views: their computed state, the page bundle and the styles
inlined, no CDN and no kernel. Hover and links work on the data the views hold; anything that
needs new computation says it needs the notebook.

Icons take minutes on a CPU, and an export cell runs straight after the cells that build the
views. So an export never blocks the kernel waiting for them: it writes the page at once with
the icons that are in (each view's status line says how many it lacks and at which budget the
rest are), and writes it again, in the background, once the views' icons are all in."""

from __future__ import annotations

import base64
import html
import json
import os
import threading
from pathlib import Path

import ipywidgets
from ipywidgets.widgets.widget import _remove_buffers

from .. import threads
from ..errors import NeuroblocksError
from ..keywords import checked
from .base import STATIC, View

PAGE_BUNDLE = STATIC / "neuroblocks-page.js"
_NOT_STATE = {"_esm", "_css", "_anywidget_id", "layout", "tabbable", "tooltip", "_dom_classes"}


def _layout(item, views: list[View]) -> dict:
    if isinstance(item, View):
        views.append(item)
        return {"view": len(views) - 1}
    if isinstance(item, ipywidgets.Box):
        direction = "column" if isinstance(item, ipywidgets.VBox) else "row"
        return {direction: [_layout(child, views) for child in item.children]}
    raise TypeError(f"to_html exports neuroblocks views and row/column layouts of them, not {type(item).__name__}")


def view_state(view: View) -> dict:
    """The traits a view draws from, without the widget machinery's own, with every icon in so
    far at its best budget (nothing refines in a page)."""
    state = {k: v for k, v in view.get_state().items() if k not in _NOT_STATE and not k.startswith(("_model", "_view"))}
    return {**state, "icons": view.icons_in(), "refining": ""}


def encode(state: dict) -> dict:
    """{state, buffers}: the JSON part, and each binary value as its path and base64 bytes."""
    plain, paths, buffers = _remove_buffers(state)
    return {"state": plain, "buffers": [{"path": p, "base64": base64.b64encode(bytes(b)).decode()} for p, b in zip(paths, buffers)]}


@checked
def to_html(path: str | Path, *items: View | ipywidgets.Box, title: str = "neuroblocks", rewrite: bool = True) -> Path:
    """Write the views (and rows/columns of them) to `path`; returns the path.

    Views still computing are waited for. Icons still rendering show as placeholders, and each
    view says how many; with `rewrite` the file is written again, in the background, once they
    are all in (`view.refine()` and `view.wait(icons="full")` first put every icon at the full budget).
    """
    if not items:
        raise ValueError("to_html needs at least one view")
    if not PAGE_BUNDLE.is_file():
        raise NeuroblocksError(f"the page bundle {PAGE_BUNDLE} is missing: run `make install` (or `npm run build` in js/)")
    views: list[View] = []
    layout = {"column": [_layout(item, views) for item in items]}
    for view in views:
        view.wait()
    out = _write(Path(path), views, layout, title)
    if rewrite and any(view.icons_pending() for view in views):
        stop = threading.Event()  # set when Python exits
        threads.start(lambda: _rewrite_when_in(out, views, layout, title, stop), "neuroblocks-export", stop)
    return out


def _rewrite_when_in(out: Path, views: list[View], layout: dict, title: str, stop: threading.Event) -> None:
    while any(view.icons_pending() for view in views):
        if stop.wait(1.0):
            return
    _write(out, views, layout, title)


def _write(out: Path, views: list[View], layout: dict, title: str) -> Path:
    """The page, written to a temporary file and renamed into place: a reader never sees half of it."""
    index = {id(v): i for i, v in enumerate(views)}
    links, seen = [], set()
    for view in views:
        for group in view.links:
            members = tuple((index[id(v)], name) for v, name in group if id(v) in index)
            if len(members) > 1 and members not in seen:
                seen.add(members)
                links.append({"members": [list(m) for m in members]})
    data = {"views": [encode(view_state(v)) for v in views], "layout": layout, "links": links}
    # "</" cannot end the script element early once escaped; JSON parsers read "<\/" as "</".
    payload = json.dumps(data).replace("</", "<\\/")
    css = (STATIC / "neuroblocks.css").read_text()
    script = PAGE_BUNDLE.read_text().replace("</script", "<\\/script")
    page = f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}</title>
<style>{css}</style></head>
<body class="nb-page"><div id="neuroblocks-root"></div>
<script type="application/json" id="neuroblocks-data">{payload}</script>
<script>{script}</script>
</body></html>
"""
    tmp = out.with_name(f".{out.name}.{threading.get_ident()}.tmp")
    tmp.write_text(page, encoding="utf-8")
    os.replace(tmp, out)
    return out
