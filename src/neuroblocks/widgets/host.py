"""Which front end draws the views, where it changes what the kernel must do. JupyterLab,
Notebook 7, VS Code and Colab run ipywidgets' own models, so links between views are kept in the
browser (jslink). marimo renders anywidget views but not ipywidgets' link models, so there a
hover goes to the kernel, which passes it on to the linked views; and marimo drops state updates
sent before a view's front-end model exists (a view computing in the background often finishes
first), so there a view resends its state when it is drawn."""

from __future__ import annotations

import sys


def marimo() -> bool:
    """True inside a marimo notebook (imported by the notebook itself, never by us)."""
    module = sys.modules.get("marimo")
    return module is not None and module.running_in_notebook()
