"""The faithfulness readout as a reader sees it, on an exported page in Chromium: each
attribution view (spatial, channel, neuron groups) draws its deletion curves beside its maps
with their areas, says how closely integrated maps sum, and warns where a map does no better
than random (a randomised model)."""

from __future__ import annotations

import pytest
import torch

import neuroblocks as nb
from neuroblocks import shapes

from .conftest import view, watch_console

pytestmark = pytest.mark.browser


def test_attribution_views_show_their_deletion_curves_and_warn_where_a_map_is_no_better_than_random(page, shapes_session, tmp_path):
    scene = shapes.scene(4, classes=2)
    spatial = nb.SpatialAttribution(shapes_session, scene.image, "conv3", "conv4", steps=16, icon_steps=0).wait()
    channel = nb.ChannelAttribution(shapes_session, scene.image, "conv3", scene.labels[0], icon_steps=0).wait()
    torch.manual_seed(0)
    randomised = nb.Session.load("shapes", weights="random")
    blind = nb.SpatialAttribution(randomised, scene.image, "conv3", "conv4", icon_steps=0).wait()
    groups = nb.NeuronGroups(shapes_session, scene.image, "conv4", 4, icon_steps=0).wait()
    assert all(v.faithfulness and not v.error for v in (spatial, channel, blind, groups))
    errors = watch_console(page)
    page.goto(nb.to_html(tmp_path / "faithfulness.html", spatial, channel, blind, groups).as_uri())

    spatials = page.locator(".nb-view").filter(has=page.locator(".nb-title", has_text="Spatial attribution"))
    readout = spatials.nth(0).locator(".nb-deletion")
    assert readout.locator("polyline").count() == 4, "each class's curve and its random orders' curve"
    lines = readout.locator("div:not(.nb-caption)").all_inner_texts()
    for label, area in zip(spatial.faithfulness["labels"], spatial.faithfulness["areas"]):
        assert any(line.startswith(label) and f"area {area:+.3f}" in line for line in lines), (label, area, lines)
    assert spatials.nth(0).locator(".nb-integration").inner_text() == spatial.integration
    assert spatial.integration.startswith("maps integrated over 16 steps from zero activations")

    trained = view(page, "Channel attribution").locator(".nb-deletion")
    assert trained.locator("polyline").count() == 2 and trained.locator(".nb-deletion-weak").count() == 0
    assert channel.faithfulness["beats"] == [True] and spatial.faithfulness["beats"] == [True, True]
    assert blind.faithfulness["beats"] == [False, False], "a randomised model's maps are flagged"
    assert spatials.nth(1).locator(".nb-deletion-weak").count() == 2
    assert all("no better than random" in line for line in spatials.nth(1).locator(".nb-deletion-weak").all_inner_texts())
    grouped = view(page, "Neuron groups").locator(".nb-deletion")
    assert grouped.locator("polyline").count() == 4 and "4 groups of conv4" in grouped.inner_text(), "the groups removed by their attribution to each class"
    assert not errors, errors
