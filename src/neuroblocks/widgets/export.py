"""One self-contained HTML file of views: their computed state, the page bundle and the styles
inlined, no CDN and no kernel. Hover and links work on the data the views hold; anything that
needs new computation says it needs the notebook."""

from __future__ import annotations

import base64
import html
import json
from pathlib import Path

import ipywidgets
from ipywidgets.widgets.widget import _remove_buffers

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
    """The traits a view draws from, without the widget machinery's own."""
    return {k: v for k, v in view.get_state().items() if k not in _NOT_STATE and not k.startswith(("_model", "_view"))}


def encode(state: dict) -> dict:
    """{state, buffers}: the JSON part, and each binary value as its path and base64 bytes."""
    plain, paths, buffers = _remove_buffers(state)
    return {"state": plain, "buffers": [{"path": p, "base64": base64.b64encode(bytes(b)).decode()} for p, b in zip(paths, buffers)]}


@checked
def to_html(path: str | Path, *items: View | ipywidgets.Box, title: str = "neuroblocks") -> Path:
    """Write the views (and rows/columns of them) to `path`; returns the path.

    Views still computing are waited for; icons not yet rendered show as placeholders (call
    `view.wait(icons=True)` first to include them all).
    """
    if not items:
        raise ValueError("to_html needs at least one view")
    if not PAGE_BUNDLE.is_file():
        raise NeuroblocksError(f"the page bundle {PAGE_BUNDLE} is missing: run `make install` (or `npm run build` in js/)")
    views: list[View] = []
    layout = {"column": [_layout(item, views) for item in items]}
    for view in views:
        view.wait()
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
    out = Path(path)
    out.write_text(page, encoding="utf-8")
    return out
