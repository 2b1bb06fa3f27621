"""The faithfulness readout as a reader sees it, on an exported page in Chromium: each
attribution view draws its deletion curves beside its maps with their areas, says how closely
integrated maps sum, and warns where a map does no better than random (a randomised model)."""

from __future__ import annotations

import pytest

import neuroblocks as nb
from neuroblocks import shapes

from .conftest import view, watch_console

pytestmark = pytest.mark.browser


def test_attribution_views_show_their_deletion_curves_and_warn_where_a_map_is_no_better_than_random(page, shapes_session, tmp_path):
    scene = shapes.scene(4, classes=2)
    spatial = nb.SpatialAttribution(shapes_session, scene.image, "conv3", "conv4", steps=16, icon_steps=0).wait()
    channel = nb.ChannelAttribution(shapes_session, scene.image, "conv3", scene.labels[0], icon_steps=0).wait()
    randomised = nb.Session.load("shapes", weights="random")
    blind = nb.ChannelAttribution(randomised, scene.image, "conv3", scene.labels[0], icon_steps=0).wait()
    assert all(v.faithfulness and not v.error for v in (spatial, channel, blind))
    errors = watch_console(page)
    page.goto(nb.to_html(tmp_path / "faithfulness.html", spatial, channel, blind).as_uri())

    readout = view(page, "Spatial attribution").locator(".nb-deletion")
    assert readout.locator("polyline").count() == 4, "each class's curve and its random orders' curve"
    lines = readout.locator("div:not(.nb-caption)").all_inner_texts()
    for label, area in zip(spatial.faithfulness["labels"], spatial.faithfulness["areas"]):
        assert any(line.startswith(label) and f"area {area:+.3f}" in line for line in lines), (label, area, lines)
    assert view(page, "Spatial attribution").locator(".nb-integration").inner_text() == spatial.integration
    assert spatial.integration.startswith("maps integrated over 16 steps from zero activations")

    channels = page.locator(".nb-view").filter(has=page.locator(".nb-title", has_text="Channel attribution"))
    trained, untrained = (channels.nth(i).locator(".nb-deletion") for i in (0, 1))
    assert trained.locator("polyline").count() == 2 and trained.locator(".nb-deletion-weak").count() == 0
    assert channel.faithfulness["beats"] == [True]
    assert blind.faithfulness["beats"] == [False]
    assert "no better than random" in untrained.locator(".nb-deletion-weak").inner_text()
    assert not errors, errors
