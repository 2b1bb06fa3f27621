"""The dissection notebook in a real JupyterLab: the Dissection view draws its units with their
dataset examples, hovering a unit shows where it fires on them, and switching a neuron group
off changes the logits the group view shows."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from .conftest import drawn, view

pytestmark = pytest.mark.browser


def test_dissection_view_and_group_switches(open_notebook, page):
    _, _, errors = open_notebook("dissection.ipynb", "Neuron groups")

    dissection = view(page, "Dissection")
    dissection.scroll_into_view_if_needed()
    assert drawn(dissection)
    assert "random directions" in dissection.locator(".nb-status").inner_text()
    row = dissection.locator(".nb-dissection-row").first
    overlays = row.locator("canvas")
    assert overlays.count() == 4 and not overlays.first.is_visible()
    row.hover()
    assert overlays.first.is_visible(), "hovering a unit shows where it fires on its examples"

    groups = view(page, "Neuron groups")
    groups.scroll_into_view_if_needed()
    logit = groups.locator(".nb-logit").first
    before = logit.inner_text()
    groups.locator("button[data-ablate]").first.click()
    groups.locator(".nb-group-off").wait_for(timeout=30_000)
    expect(groups.locator(".nb-logit").first).not_to_have_text(before, timeout=30_000)  # switching a group off moves the logits
    assert not errors, errors
