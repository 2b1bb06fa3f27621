"""Linking views: selection traits kept equal (same-named ones by `link`, any pairs by `link_traits`), in the browser (no kernel round trip,
through ipywidgets' jslink) and in Python (for changes made in Python, and scripts with no
browser). A change that came from the browser is not passed on again in Python: jslink has
already done it there, and a second, later copy from the kernel could overwrite a newer hover.
In marimo, which has no jslink, the kernel passes every change on (`host.marimo`).
Links are remembered so an exported page keeps them."""

from __future__ import annotations

from collections.abc import Sequence

import ipywidgets

from ..keywords import checked
from .base import View
from .host import marimo

SELECTION = ("position", "unit", "group", "target")


Member = tuple[View, str]


class _PythonLink:
    """Pass changes from each member (view, trait) to the others: those made in Python, and
    those from the browser too where no jslink passes them on there (`in_browser` False)."""

    def __init__(self, members: list[Member], in_browser: bool) -> None:
        self.members, self.in_browser = members, in_browser
        for view, name in members:
            view.observe(self._changed, names=name)

    def _changed(self, change) -> None:
        source, name = change["owner"], change["name"]
        if self.in_browser and name in source._property_lock:  # set by the browser, where jslink passes it on
            return
        for view, trait in self.members:
            if (view, trait) != (source, name) and getattr(view, trait) != change["new"]:
                setattr(view, trait, change["new"])

    def unlink(self) -> None:
        for view, name in self.members:
            view.unobserve(self._changed, names=name)


class Links:
    """What `link` made: `groups` (each a list of (view, trait) members kept equal), the
    `browser` links (ipywidgets.jslink) and the `python` ones; `unlink()` undoes them all."""

    def __init__(self, groups: list[list[Member]], browser: list, python: list) -> None:
        self.groups, self.browser, self.python = groups, browser, python

    def unlink(self) -> None:
        for link in self.browser:
            link.close()
        for link in self.python:
            link.unlink()
        for members in self.groups:
            for view, _ in members:
                view.links.remove(members)


def _check(views) -> None:
    for view in views:
        if not isinstance(view, View):
            raise TypeError(f"link takes neuroblocks views, not {type(view).__name__}")


def _join(groups: list[list[Member]]) -> Links:
    browser, python, in_browser = [], [], not marimo()
    for members in groups:
        if in_browser:
            browser += [ipywidgets.jslink(members[0], other) for other in members[1:]]
        python.append(_PythonLink(members, in_browser))
        for view, _ in members:
            view.links.append(members)
    return Links(groups, browser, python)


@checked
def link(*views: View, traits: Sequence[str] = SELECTION) -> Links:
    """Keep each trait in `traits` equal across the views that have it (at least two must).

    position is [y, x] in each view's `layer` grid, so link positions of views on one layer.
    """
    _check(views)
    groups = []
    for name in traits:
        having = [v for v in views if v.has_trait(name)]
        if len(having) >= 2:
            groups.append([(v, name) for v in having])
    if not groups:
        raise ValueError(f"no two of these views share any of the traits {list(traits)}")
    return _join(groups)


@checked
def link_traits(*groups: Sequence[Member]) -> Links:
    """Keep differently named traits equal, each group a list of (view, trait) members:
    `link_traits([(comparison, "unit_b"), (view, "unit")])`."""
    for members in groups:
        _check([view for view, _ in members])
        if len(members) < 2:
            raise ValueError("each group of link_traits needs at least two (view, trait) pairs")
        for view, name in members:
            if not view.has_trait(name):
                raise ValueError(f"{type(view).__name__} has no trait {name!r}")
    return _join([list(members) for members in groups])
