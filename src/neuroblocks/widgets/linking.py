"""Linking views: same-named selection traits kept equal, in the browser (no kernel round trip,
through ipywidgets' jslink) and in Python (for changes made in Python, and scripts with no
browser). A change that came from the browser is not passed on again in Python: jslink has
already done it there, and a second, later copy from the kernel could overwrite a newer hover.
Links are remembered so an exported page keeps them."""

from __future__ import annotations

from collections.abc import Sequence

import ipywidgets

from .base import View

SELECTION = ("position", "channel", "group", "target")


class _PythonLink:
    """Pass changes of `name` made in Python from each view to the others."""

    def __init__(self, views: list[View], name: str) -> None:
        self.views, self.name = views, name
        for view in views:
            view.observe(self._changed, names=name)

    def _changed(self, change) -> None:
        source = change["owner"]
        if self.name in source._property_lock:  # set by the browser, where jslink passes it on
            return
        for view in self.views:
            if view is not source and getattr(view, self.name) != change["new"]:
                setattr(view, self.name, change["new"])

    def unlink(self) -> None:
        for view in self.views:
            view.unobserve(self._changed, names=self.name)


class Links:
    """What `link` made: `groups` [(trait, views)], the `browser` links (ipywidgets.jslink) and
    the `python` ones; `unlink()` undoes them all."""

    def __init__(self, groups: list[tuple[str, list[View]]], browser: list, python: list) -> None:
        self.groups, self.browser, self.python = groups, browser, python

    def unlink(self) -> None:
        for link in self.browser:
            link.close()
        for link in self.python:
            link.unlink()
        for name, views in self.groups:
            for view in views:
                view.links.remove((name, views))


def link(*views: View, traits: Sequence[str] = SELECTION) -> Links:
    """Keep each trait in `traits` equal across the views that have it (at least two must).

    position is [y, x] in each view's `layer` grid, so link positions of views on one layer.
    """
    for view in views:
        if not isinstance(view, View):
            raise TypeError(f"link takes neuroblocks views, not {type(view).__name__}")
    groups, browser, python = [], [], []
    for name in traits:
        having = [v for v in views if v.has_trait(name)]
        if len(having) < 2:
            continue
        browser += [ipywidgets.jslink((having[0], name), (other, name)) for other in having[1:]]
        python.append(_PythonLink(having, name))
        groups.append((name, having))
        for view in having:
            view.links.append((name, having))
    if not groups:
        raise ValueError(f"no two of these views share any of the traits {list(traits)}")
    return Links(groups, browser, python)
