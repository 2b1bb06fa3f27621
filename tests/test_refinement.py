"""Icons that refine themselves: a view's quick icons rendered again at the session's full budget
for the keys the browser shows (or all, asked from a script), cached so a second view renders
nothing, stoppable, stated in the status line's traits, and what an export holds."""

from __future__ import annotations

import io
import json
import re
import time

import numpy as np
import pytest
from PIL import Image

import neuroblocks as nb
from neuroblocks import shapes

SCENE = shapes.scene(5, classes=2)


@pytest.fixture
def session(tmp_path, monkeypatch):
    """A shapes session of its own (its budgets are changed here) with an empty icon cache."""
    monkeypatch.setenv("NEUROBLOCKS_CACHE", str(tmp_path / "cache"))
    s = nb.Session.load("shapes")
    nb.featurevis.configure(s, full_size=40, full_steps=24)
    return s


def pixels(icon: dict) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(icon["png"])).convert("RGB"))


def test_a_view_refines_every_icon_to_the_full_budget_and_a_second_view_renders_none(session):
    view = nb.SemanticDictionary(session, SCENE.image, "conv3", icon_steps=8).wait(icons=True)
    n = len(view.icons)
    assert n > 0 and view.icon_count == [n, n, 0], "quick icons in, none refined before anyone looks"
    assert view.icon_budget == {"quick": "48 px · 8 steps", "full": "40 px · 24 steps (set)"}
    assert {i["stage"] for i in view.icons.values()} == {"final"} and view.refining == ""

    view.refine().wait(60, icons="full")
    assert view.icon_count == [n, n, n] and {i["stage"] for i in view.icons.values()} == {"full"}
    assert view.refining == "", "done: nothing left to refine"
    units = [int(k.split(":")[1]) for k in view.icons]
    direct = nb.featurevis.icons(session, "conv3", units, size=40, steps=24)
    for k, expected in zip(view.icons, direct):
        assert np.array_equal(pixels(view.icons[k]), expected), "the full icon is the icon at the full budget"

    service = nb.featurevis.icon_service(session)
    rendered = service.rendered
    again = nb.SemanticDictionary(session, SCENE.image, "conv3", icon_steps=8).wait(icons=True)
    assert service.rendered == rendered, "a second look renders nothing: the full icons come from the cache"
    assert again.icon_count == [n, n, n] and {i["stage"] for i in again.icons.values()} == {"full"}


def test_only_the_icons_on_screen_refine_and_a_stop_stops(session):
    view = nb.ActivationGrid(session, SCENE.image, "conv2", icon_steps=8).wait(icons=True)
    keys = sorted(view.icons)
    shown = keys[:3]
    view._message(view, {"action": "visible", "keys": shown}, [])  # as the browser reports them
    assert view._refiner.join(60)
    assert sorted(k for k, i in view.icons.items() if i["stage"] == "full") == sorted(shown), "only what is on screen"
    assert view.icon_count[2] == 3

    nb.featurevis.configure(session, full_steps=100_000)  # a budget that would take minutes
    view.recompute()
    view.wait(icons=True)
    started = time.monotonic()
    view.refine()
    assert view.refining == "on"
    view._message(view, {"action": "stop_refining"}, [])
    assert view._refiner.join(20) and time.monotonic() - started < 20, "a stop ends the render within a step"
    assert view.refining == "stopped" and view.icon_count[2] == 0
    assert not [k for k, i in view.icons.items() if i["stage"] == "full"]


def test_refinement_can_be_switched_off_per_session(session):
    nb.featurevis.configure(session, refine=False)
    view = nb.SemanticDictionary(session, SCENE.image, "conv3", icon_steps=8).wait(icons=True)
    view._message(view, {"action": "visible", "keys": list(view.icons)}, [])
    assert view._refiner.join(5) and view.refining == "" and view.icon_count[2] == 0


def test_the_full_budget_follows_the_device_and_is_checked(session):
    plain = nb.Session.load("shapes")
    assert str(nb.featurevis.full_budget(plain)) == "64 px · 256 steps (set)", "the shapes model's own defaults"
    nb.featurevis.configure(plain, full_steps=None)  # None keeps what is set
    assert nb.featurevis.full_budget(plain).steps == 256
    with pytest.raises(ValueError, match="positive"):
        nb.featurevis.configure(session, full_steps=0)
    assert nb.featurevis.settings(nb.Session(plain.model, labels=plain.labels, input_size=64)).full_steps is None
    budget = nb.featurevis.full_budget(nb.Session(plain.model, labels=plain.labels, input_size=64))
    assert (budget.size, budget.steps, budget.note) == (128, 512, "CPU"), "a CPU session's default full budget"


def page_state(path) -> dict:
    data = re.search(r'<script type="application/json" id="neuroblocks-data">(.*?)</script>', path.read_text(), re.S).group(1)
    return json.loads(data.replace("<\\/", "</"))["views"][0]["state"]


def test_an_export_written_while_icons_render_is_written_again_once_they_are_in(session, tmp_path):
    nb.featurevis.configure(session, steps=64)
    view = nb.SemanticDictionary(session, SCENE.image, "conv3").wait()
    page = nb.to_html(tmp_path / "page.html", view)
    first = page_state(page)
    assert first["icon_count"][0] < first["icon_count"][1], "written at once, with the icons not yet in"
    assert first["refining"] == ""
    view.wait(icons=True)
    deadline = time.monotonic() + 30
    while page_state(page)["icon_count"][0] < first["icon_count"][1] and time.monotonic() < deadline:
        time.sleep(0.2)
    last = page_state(page)
    assert last["icon_count"][0] == last["icon_count"][1] == len(last["icons"]), "written again with every icon"

    view.refine().wait(60, icons="full")
    refined = page_state(nb.to_html(tmp_path / "refined.html", view))
    assert {i["stage"] for i in refined["icons"].values()} == {"full"} and refined["icon_count"][2] == len(view.icons)
