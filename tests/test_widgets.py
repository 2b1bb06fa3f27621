"""The widgets without a browser: what they compute and send, how they follow selections and
input changes, links, icons streaming in, feature visualization, errors, and HTML export.
Front-end updates are simulated the way the kernel receives them (`set_state`)."""

from __future__ import annotations

import json
import re
import time

import ipywidgets
import numpy as np
import pytest
from ipywidgets.widgets.widget import _remove_buffers

import neuroblocks as nb
from neuroblocks import attribution, shapes
from neuroblocks.errors import ImageError, NeuroblocksError, UnknownClassError, UnknownLayerError
from neuroblocks.featurevis import icon_cache as icons_module
from neuroblocks.widgets.payload import unpack

SCENE = shapes.scene(3, classes=2)
OTHER = shapes.scene(4, classes=2)


def longest_json_list(value) -> int:
    if isinstance(value, dict):
        return max([0, *(longest_json_list(v) for v in value.values())])
    if isinstance(value, (list, tuple)):
        numbers = sum(isinstance(v, (int, float)) for v in value)
        return max([numbers, *(longest_json_list(v) for v in value)])
    return 0


@pytest.fixture(scope="module")
def views(shapes_session):
    s, img = shapes_session, SCENE.image
    built = {
        "dictionary": nb.SemanticDictionary(s, img, "conv3", icon_steps=8),
        "grid": nb.ActivationGrid(s, img, "conv3", icon_steps=8),
        "spatial": nb.SpatialAttribution(s, img, "conv3", "conv4"),
        "channels": nb.ChannelAttribution(s, img, "conv3", icon_steps=8),
        "teaser": nb.ClassComparison(s, img, "conv3", icon_steps=8),
        "groups": nb.NeuronGroups(s, img, "conv4", 3, icon_steps=8),
        "flow": nb.GroupFlow(s, img, ["conv3", "conv4"], 3, icon_steps=8),
        "featurevis": nb.FeatureVis(s, layer="conv3", channel=2, size=64, steps=16),
    }
    for view in built.values():
        view.wait(icons=True)
    return built


def test_every_payload_is_binary_and_small(views):
    for name, view in views.items():
        state, _paths, buffers = _remove_buffers({k: v for k, v in view.get_state().items() if k != "icons"})
        assert longest_json_list(state) <= 64, f"{name} sends a JSON list of numbers"
        assert buffers, f"{name} sends no binary data"
        json.dumps(state)  # everything left is plain JSON
        assert sum(len(b) for b in buffers) < 1_000_000, f"{name}: over 1 MB before icons"


def test_payloads_hold_what_the_engines_compute(views, shapes_session):
    s, img = shapes_session, SCENE.image
    a = s.trace(img, "conv3")["conv3"].numpy()
    np.testing.assert_array_equal(unpack(views["dictionary"].acts), a)
    np.testing.assert_allclose(unpack(views["grid"].magnitudes), np.linalg.norm(a, axis=0), rtol=1e-5)
    spatial = views["spatial"]
    classes = [s.class_index(c) for c in SCENE.labels]
    assert sorted(spatial.classes) == sorted(classes), "default classes are the two objects"
    for i, c in enumerate(spatial.classes):
        np.testing.assert_allclose(unpack(spatial.lower_maps)[i], attribution.spatial(s, img, "conv3", c).numpy(), rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(unpack(spatial.flow), attribution.layer_to_layer(s, img, "conv3", "conv4").numpy(), rtol=1e-4, atol=1e-6)
    legend = unpack(spatial.lower_legend["value"])
    full = attribution.to_classes(s, img, "conv3")
    np.testing.assert_allclose(legend, full.topk(5, dim=1).values.numpy(), rtol=1e-4, atol=1e-6)
    channels = views["channels"]
    values = attribution.channel(s, img, "conv3", int(s.trace(img).logits.argmax()))
    np.testing.assert_allclose(unpack(channels.values), values.numpy(), rtol=1e-5, atol=1e-7)
    shown = unpack(channels.shown)
    assert list(shown[:8]) == values.topk(8).indices.tolist()
    np.testing.assert_array_equal(unpack(channels.maps), a[shown])


def test_icons_cover_what_the_views_show_and_arrive_final(views, shapes_session):
    a = shapes_session.trace(SCENE.image, "conv3")["conv3"]
    tops = set(a.flatten(1).topk(6, dim=0).indices.unique().tolist())
    dictionary = views["dictionary"]
    assert set(dictionary.icons) == {f"conv3:{c}" for c in tops}
    assert all(icon["stage"] == "final" and icon["png"].startswith(b"\x89PNG") for icon in dictionary.icons.values())
    assert len(views["grid"].icons) == int((a.norm(dim=0) > 0).sum())
    assert set(views["groups"].icons) == {f"conv4:g{n}" for n in range(3)}


def test_icons_stream_as_messages_from_preview_to_final_then_land_in_the_state(shapes_session, tmp_path, monkeypatch):
    monkeypatch.setenv("NEUROBLOCKS_CACHE", str(tmp_path))
    sent: list[tuple[dict, list]] = []
    monkeypatch.setattr(nb.widgets.View, "send", lambda self, content, buffers=None: sent.append((content, buffers)))
    view = nb.SemanticDictionary(shapes_session, OTHER.image, "conv2", top=1, icon_steps=48).wait(icons=True)
    stages: dict[str, list[str]] = {}
    for content, buffers in sent:
        for key, icon in content["icons"].items():
            assert buffers[icon["buffer"]].startswith(b"\x89PNG"), "icons travel as PNG buffers"
            stages.setdefault(key, []).append(icon["stage"])
    assert set(stages) == set(view.icons), "the finished set is stored once streaming ends"
    assert all(s == ["preview", "final"] for s in stages.values()), stages
    assert all(i["stage"] == "final" for i in view.icons.values())
    sent.clear()
    again = nb.SemanticDictionary(shapes_session, OTHER.image, "conv2", top=1, icon_steps=48).wait(icons=True)
    assert again.icons.keys() == view.icons.keys()
    assert {i["stage"] for c, _ in sent for i in c["icons"].values()} == {"final"}, "cached icons arrive final at once"


def test_selection_from_the_browser_reaches_linked_views(views):
    d, g, s = views["dictionary"], views["grid"], views["spatial"]
    links = nb.link(g, d, s)
    try:
        g.position = [3, 5]  # set in Python: passed on in Python
        assert d.position == [3, 5] and s.position == [3, 5]
        # Set by the browser (the kernel receives it like this): jslink has already passed it on
        # in the browser, so the kernel must not send the others an older copy.
        g.set_state({"position": [4, 6]})
        assert g.position == [4, 6] and d.position == [3, 5]
        d.set_state({"position": [4, 6]})  # what jslink's update of the other view looks like
        assert d.position == [4, 6] and s.position == [3, 5]
        d.position = None
        assert g.position is None and s.position is None
        pairs = {(l.source[0].model_id, l.target[0].model_id, l.source[1]) for l in links.browser}
        assert (g.model_id, d.model_id, "position") in pairs and (g.model_id, s.model_id, "position") in pairs
    finally:
        links.unlink()
    g.position = [1, 1]
    assert d.position is None, "unlink stops the Python side"


def test_traitlets_and_jslink_also_connect_views(views):
    import traitlets

    d, c = views["dictionary"], views["channels"]
    link = traitlets.link((d, "unit"), (c, "unit"))
    c.set_state({"unit": 7})
    assert d.unit == 7
    link.unlink()
    ipywidgets.jslink((d, "unit"), (c, "unit"))  # refuses traits that are not synced to the browser


def test_changing_the_image_or_layer_recomputes_in_the_background(shapes_session):
    view = nb.SemanticDictionary(shapes_session, SCENE.image, "conv3", icon_steps=0)
    view.image = OTHER.image
    assert view.busy, "the work runs in the background; the view says it is busy"
    view.wait()
    assert view.busy == "" and view.error == ""
    np.testing.assert_array_equal(unpack(view.acts), shapes_session.trace(OTHER.image, "conv3")["conv3"].numpy())
    view.layer = "conv2"
    view.wait()
    assert unpack(view.acts).shape == (32, 32, 32)


def test_a_bad_change_shows_in_the_view_and_keeps_the_last_result(shapes_session):
    view = nb.SemanticDictionary(shapes_session, SCENE.image, "conv3", icon_steps=0)
    before = view.acts
    view.layer = "conv33"
    view.wait()
    assert "unknown layer 'conv33'" in view.error and "conv3" in view.error
    assert view.acts is before and view.busy == ""
    view.layer = "conv3"
    view.wait()
    assert view.error == ""
    view.image = 42
    view.wait()
    assert "image" in view.error.lower()


def test_errors_at_construction_say_what_to_do(shapes_session, googlenet):
    s, img = shapes_session, SCENE.image
    with pytest.raises(UnknownLayerError, match="conv3"):
        nb.SemanticDictionary(s, img, "conv_3")
    with pytest.raises(NeuroblocksError, match="no positions"):
        nb.ActivationGrid(googlenet, img, "fc")
    with pytest.raises(UnknownClassError):
        nb.ChannelAttribution(s, img, "conv3", target="hexagon")
    with pytest.raises(UnknownClassError):
        nb.SpatialAttribution(s, img, "conv3", "conv4", classes=["solid circle", "blue moon"])
    with pytest.raises(ImageError):
        nb.SemanticDictionary(s, {"not": "an image"}, "conv3")
    with pytest.raises(NeuroblocksError, match="at least two layers"):
        nb.GroupFlow(s, img, ["conv4"])
    with pytest.raises(NeuroblocksError, match="objective, or a layer and a channel"):
        nb.FeatureVis(s, layer="conv3")
    with pytest.raises(TypeError, match="Session"):
        nb.SemanticDictionary("shapes", img, "conv3")
    with pytest.raises(NeuroblocksError, match="two classes"):
        nb.ClassComparison(s, img, "conv3", classes=["solid circle"])


def test_clicking_a_channel_drills_down_and_up(views, shapes_session):
    s, img = shapes_session, SCENE.image
    view = views["channels"]
    c = int(unpack(view.shown)[0])
    view.set_state({"focus": c})
    view.wait(icons=True)
    drill = view.drill
    assert drill["channel"] == c and drill["below"]["layer"] == "conv2" and drill["above"]["layer"] == "conv4"
    fed = attribution.channel(s, img, "conv2", attribution.Hidden("conv3", lambda h: h[:, c].flatten(1).sum(1)))
    assert unpack(drill["below"]["channels"]).tolist() == fed.topk(6).indices.tolist()
    feeds = attribution.layer_to_layer(s, img, "conv3", "conv4", "channels")[:, c]
    np.testing.assert_allclose(unpack(drill["above"]["values"]), feeds.topk(6).values.numpy(), rtol=1e-4, atol=1e-7)
    assert all(f"conv4:{k}" in view.icons for k in unpack(drill["above"]["channels"]))
    # Clicking a channel of the layer above moves the view there, with that channel in focus.
    k = int(unpack(drill["above"]["channels"])[0])
    view._message(view, {"action": "goto", "layer": "conv4", "channel": k}, [])
    view.wait()
    assert view.layer == "conv4" and view.focus == k and view.drill["channel"] == k


def test_neuron_groups_recompute_for_what_they_prioritise(shapes_session):
    view = nb.NeuronGroups(shapes_session, SCENE.image, "conv4", 3, icon_steps=0).wait()
    masks = unpack(view.masks)
    assert masks.shape == (3, 8, 8) and masks.min() >= 0 and masks.max() <= 1
    first = view.masks
    view.set_state({"prioritize": "attributions"})
    view.wait()
    assert view.error == "" and view.masks is not first
    groups = nb.factorize(shapes_session, SCENE.image, "conv4", 3, prioritize="attributions", target=view.classes[0])
    np.testing.assert_allclose(unpack(view.masks), groups.masks.numpy(), rtol=1e-4, atol=1e-6)


def test_group_flow_sends_compatible_groups_and_their_flow(views, shapes_session):
    flow = nb.factorize_layers(shapes_session, SCENE.image, ["conv3", "conv4"], 3)
    view = views["flow"]
    assert [c["layer"] for c in view.columns] == ["conv3", "conv4"]
    np.testing.assert_allclose(unpack(view.flows[0]), flow.flow[0].numpy(), rtol=1e-4, atol=1e-6)


def test_feature_vis_renders_cancels_and_reuses_the_cache(shapes_session, tmp_path, monkeypatch):
    monkeypatch.setenv("NEUROBLOCKS_CACHE", str(tmp_path))
    done = nb.FeatureVis(shapes_session, layer="conv2", channel=5, size=64, steps=24).wait()
    assert done.state == "done" and done.step == 24 and done.result.startswith(b"\x89PNG")
    long = nb.FeatureVis(shapes_session, layer="conv2", channel=6, size=64, steps=100_000)
    while long.step < 3:
        long.wait(0.05) if long.state != "running" else __import__("time").sleep(0.05)
    long._message(long, {"action": "cancel"}, [])
    long.wait()
    assert long.state == "cancelled" and long.step < 100_000 and long.result.startswith(b"\x89PNG")
    again = nb.FeatureVis(shapes_session, layer="conv2", channel=5, size=64, steps=24, start=False)
    assert again.state == "idle"
    again._message(again, {"action": "start"}, [])
    again.wait()
    assert again.state == "done" and again.result == done.result, "the second render comes from the disk cache"


def _until(condition, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


def test_closing_a_view_stops_only_the_work_no_other_view_waits_for(tmp_path, monkeypatch):
    """Re-running a cell three times asks for one render three times: it runs once. Closing a
    view stops its render within a second, unless another view still waits for the same one."""
    monkeypatch.setenv("NEUROBLOCKS_CACHE", str(tmp_path))
    session = nb.Session.load("shapes")  # its own icon service, so `rendered` counts only this test
    alone = nb.FeatureVis(session, layer="conv3", channel=1, size=64, steps=100_000)
    _until(lambda: alone.step >= 2)
    closed_at = time.monotonic()
    alone.close()
    alone.wait(timeout=5)
    assert alone.state == "cancelled" and time.monotonic() - closed_at < 1.0

    started = []
    render = icons_module.render
    monkeypatch.setattr(icons_module, "render", lambda *a, **k: started.append(1) or render(*a, **k))
    reruns = [nb.FeatureVis(session, layer="conv3", channel=2, size=48, steps=300) for _ in range(3)]
    _until(lambda: any(v.step >= 2 for v in reruns))
    reruns[0].close()  # the first two outputs go, as a re-run clears them; the third still wants it
    reruns[1].close()
    reruns[2].wait(timeout=120)
    assert reruns[2].state == "done" and reruns[2].step == 300
    assert len(started) == 1 and nb.featurevis.icon_service(session).rendered == 1, "three views of one objective, one render, never restarted"
    again = nb.FeatureVis(session, layer="conv3", channel=2, size=48, steps=300).wait()
    assert again.result == reruns[2].result and nb.featurevis.icon_service(session).rendered == 1


def test_closing_a_view_stops_its_icon_stream(tmp_path, monkeypatch):
    monkeypatch.setenv("NEUROBLOCKS_CACHE", str(tmp_path))
    view = nb.ActivationGrid(nb.Session.load("shapes"), shapes.scene(4, classes=2).image, "conv3", icon_steps=100_000, icon_size=32).wait()
    stream = view._streams[0]
    _until(lambda: stream._thread is not None and stream._thread.is_alive())
    view.close()
    assert stream.join(timeout=1.0), "the icon render stopped within a second of the close"


def test_html_export_is_self_contained(views, tmp_path):
    d, g = views["dictionary"], views["grid"]
    links = nb.link(d, g)
    path = nb.to_html(tmp_path / "figure.html", nb.row(d, g), views["teaser"])
    links.unlink()
    page = path.read_text()
    assert not re.search(r"<script[^>]+src=|<link[^>]+href=|https?://(cdn|unpkg)", page), "nothing is fetched"
    data = json.loads(re.search(r'id="neuroblocks-data">(.*?)</script>', page, re.S).group(1).replace("<\\/", "</"))
    assert data["layout"] == {"column": [{"row": [{"view": 0}, {"view": 1}]}, {"view": 2}]}
    assert {"members": [[0, "position"], [1, "position"]]} in data["links"]
    kinds = [v["state"]["kind"] for v in data["views"]]
    assert kinds == ["semantic_dictionary", "activation_grid", "class_comparison"]
    acts = next(b for b in data["views"][0]["buffers"] if b["path"] == ["acts", "data"])
    assert len(acts["base64"]) >= len(d.acts["data"]) * 4 // 3
    with pytest.raises(TypeError, match="views and row/column"):
        nb.to_html(tmp_path / "x.html", ipywidgets.IntSlider())


def test_switching_channels_off_recomputes_with_them_ablated(shapes_session):
    s, img = shapes_session, SCENE.image
    view = nb.ChannelAttribution(s, img, "conv3", icon_steps=0).wait()
    target = view.target_classes[0]
    off = [int(c) for c in unpack(view.shown)[:2]]
    view.set_state({"ablated": off})  # the browser's switch
    view.wait()
    with nb.ablate(s, "conv3", off):
        expected_logits = s.trace(img).logits
        expected_values = attribution.channel(s, img, "conv3", target)
    np.testing.assert_allclose(unpack(view.logits), expected_logits.numpy(), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(unpack(view.values), expected_values.numpy(), rtol=1e-4, atol=1e-6)
    assert unpack(view.logits)[target] < unpack(view.base_logits)[target], "switching off the strongest channels lowers the target"
    assert set(off) <= set(unpack(view.shown).tolist()), "switched-off channels stay on show, to be switched back on"
    view.layer = "conv4"
    view.wait()
    assert view.ablated == [] and view.error == ""


def test_switching_a_group_off_updates_the_logits(shapes_session):
    s, img = shapes_session, SCENE.image
    view = nb.NeuronGroups(s, img, "conv4", 3, icon_steps=0).wait()
    view.set_state({"ablated": [0]})
    view.wait()
    with nb.ablate(s, "conv4", [0], units=view.groups):
        expected = s.trace(img).logits
    np.testing.assert_allclose(unpack(view.logits), expected.numpy(), rtol=1e-5, atol=1e-6)
    assert not np.allclose(unpack(view.logits), unpack(view.base_logits))


def test_dissection_view_shows_the_best_units_with_examples(shapes_session):
    from neuroblocks import dissection as D

    items = [D.ShapesConcepts(40)[i] for i in range(40)]
    result = D.dissect(shapes_session, "conv2", items)
    baseline = D.dissect(shapes_session, "conv2", items, units=D.random_directions(32, 32))
    examples = D.dataset_examples(shapes_session, "conv2", items, k=3)
    view = nb.DissectionView(shapes_session, result, examples, units=5, baseline=baseline, icon_steps=0).wait()
    best = result.best[0]
    assert [r["unit"] for r in view.rows] == best.argsort(descending=True)[:5].tolist()
    assert [r["iou"] for r in view.rows] == [round(float(best[u]), 4) for u in best.argsort(descending=True)[:5]]
    assert unpack(view.maps).shape == (5, 3, 64, 64) and all(strip.startswith(b"\x89PNG") for strip in view.strips)
    assert "random directions" in view.summary
    state, _, _ = _remove_buffers({k: v for k, v in view.get_state().items() if k != "icons"})
    assert longest_json_list(state) <= 64
    with pytest.raises(NeuroblocksError, match="not of the dissected layer"):
        nb.DissectionView(shapes_session, result, D.dataset_examples(shapes_session, "conv3", items[:4], k=2))
