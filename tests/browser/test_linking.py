"""Every pair of linked views follows each other, in both directions, for every trait `nb.link`
links, in Chromium on the exported page (the views' real bundle and links, no kernel).

Each view that sets a trait by hover is hovered in turn, and every other view that shows that
trait must change what it draws (its DOM and its canvases' pixels) from how it looked just
before, with the pointer off every view. Which views show which trait is stated here, so a view that stops following is
a failure, not a silent gap.
"""

from __future__ import annotations

import pytest

import neuroblocks as nb
from neuroblocks import shapes

from .conftest import hover_cell, view, watch_console

pytestmark = pytest.mark.browser

#: trait → the views (by title) that show it: a cell marked, a list, a mask, a heatmap.
SHOWN_BY = {
    "position": ["Activation grid", "Semantic dictionary", "Spatial attribution", "Neuron groups", "Channel attribution"],
    "unit": ["Semantic dictionary", "Channel attribution"],
    "group": ["Neuron groups", "Group flow"],
}
#: (trait, view, what to hover there, x, y): the ways a person sets each trait.
HOVERS = [
    ("position", "Activation grid", ".nb-picture-grid", 0.4, 0.6),
    ("position", "Semantic dictionary", ".nb-picture-grid", 0.4, 0.6),
    ("position", "Spatial attribution", ".nb-picture-grid >> nth=0", 0.4, 0.6),
    ("position", "Neuron groups", ".nb-picture-grid", 0.4, 0.6),
    ("unit", "Channel attribution", ".nb-entry >> nth=0", 0.5, 0.5),
    ("group", "Neuron groups", ".nb-group >> nth=0", 0.5, 0.1),
    ("group", "Group flow", "rect.nb-node[data-node^='1,'] >> nth=0", 0.5, 0.5),
]

DRAWN = """el => el.innerHTML + [...el.querySelectorAll('canvas')].map(c => c.toDataURL()).join('|')"""


def test_every_linked_view_follows_every_other_for_every_trait(page, shapes_session, tmp_path):
    image = shapes.scene(3, classes=2).image
    quiet = {"icon_steps": 0}
    views = [
        nb.ActivationGrid(shapes_session, image, "conv3", **quiet),
        nb.SemanticDictionary(shapes_session, image, "conv3", **quiet),
        nb.SpatialAttribution(shapes_session, image, "conv3", "conv4", **quiet),
        nb.NeuronGroups(shapes_session, image, "conv3", k=4, **quiet),
        nb.ChannelAttribution(shapes_session, image, "conv3", **quiet),
        nb.GroupFlow(shapes_session, image, ["conv2", "conv3"], k=4, **quiet),
    ]
    links = nb.link(*views)
    assert {members[0][1] for members in links.groups} == {"position", "unit", "group", "target"}
    for v in views:
        v.wait()
    errors = watch_console(page)
    page.set_viewport_size({"width": 1600, "height": 1000})
    page.goto(nb.to_html(tmp_path / "linked.html", nb.column(*views)).as_uri())
    titles = sorted({title for shown in SHOWN_BY.values() for title in shown})

    missed = []
    for trait, source, target, fx, fy in HOVERS:
        page.mouse.move(2, 2)  # off every view
        page.wait_for_timeout(50)
        before = {title: view(page, title).evaluate(DRAWN) for title in titles}
        hover_cell(page, view(page, source).locator(target), fx, fy)
        page.wait_for_timeout(50)
        for title in SHOWN_BY[trait]:
            if title != source and view(page, title).evaluate(DRAWN) == before[title]:
                missed.append(f"{title} did not follow {source}'s {trait}")
    assert not missed, missed
    pairs = {(source, title) for trait, source, *_ in HOVERS for title in SHOWN_BY[trait] if title != source}
    print(f"{len(pairs)} ordered pairs of views followed each other over {len(HOVERS)} hovers")
    assert not errors, errors
