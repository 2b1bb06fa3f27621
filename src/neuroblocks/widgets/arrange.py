"""Putting views side by side or stacked. Links live on the views, not the layout, so they
survive any arrangement; `to_html` keeps the arrangement."""

from __future__ import annotations

import ipywidgets

from ..keywords import checked


@checked
def row(*children: ipywidgets.Widget) -> ipywidgets.HBox:
    """Side by side, always: linked views are read together, so a notebook narrower than the
    row scrolls it sideways instead of stacking them (the views keep their size). No view is
    wider than the row's own width: a wide one (neuron groups) wraps its content inside itself."""
    for child in children:
        child.layout.flex = "none"  # each keeps its own width; the row scrolls instead
        child.layout.max_width = "100%"  # … up to the notebook's width
    return ipywidgets.HBox(list(children), layout=ipywidgets.Layout(flex_flow="row nowrap", align_items="flex-start", overflow="auto hidden", width="100%"))


@checked
def column(*children: ipywidgets.Widget) -> ipywidgets.VBox:
    """Stacked, top to bottom."""
    return ipywidgets.VBox(list(children))
