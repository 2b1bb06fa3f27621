"""Putting views side by side or stacked. Links live on the views, not the layout, so they
survive any arrangement; `to_html` keeps the arrangement."""

from __future__ import annotations

import ipywidgets


def row(*children: ipywidgets.Widget) -> ipywidgets.HBox:
    """Side by side, wrapping onto the next line when the notebook is narrow."""
    return ipywidgets.HBox(list(children), layout=ipywidgets.Layout(flex_flow="row wrap", align_items="flex-start"))


def column(*children: ipywidgets.Widget) -> ipywidgets.VBox:
    """Stacked, top to bottom."""
    return ipywidgets.VBox(list(children))
