"""A microscope of the shapes model, built offline and checked against direct computations: an
exemplar's activation, class support against attribution class by class, the feeds against
`layer_to_layer`, the statistics against the activations; a cancelled build resumes without
redoing a unit; views are served from it; the widget browses it."""

from __future__ import annotations

import json
import threading

import pytest
import torch
import torch.nn.functional as F

import neuroblocks as nb
from neuroblocks import dissection as D
from neuroblocks.microscopy import MicroscopeError, MicroscopeStore
from neuroblocks.work import Cancelled

LAYERS = ["conv2", "conv3"]


def channel_attribution(session, image, c) -> torch.Tensor:
    """conv3's channel attribution to class c by reverse mode; zero where the class does not depend on conv3 here."""
    try:
        return nb.attribution.channel(session, image, "conv3", c).float()
    except nb.AttributionError:
        return torch.zeros(64)


def small_budgets(session: nb.Session) -> nb.Session:
    """Icons cheap enough for a test (the method is the views'; only the budget is small)."""
    return nb.featurevis.configure(session, steps=8, full_size=24, full_steps=12)


@pytest.fixture(scope="module")
def data():
    return [D.ShapesConcepts(32, start=11_000)[i] for i in range(32)]


@pytest.fixture(scope="module")
def built(tmp_path_factory, data):
    cache = tmp_path_factory.mktemp("cache")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("NEUROBLOCKS_CACHE", str(cache))
        session = small_budgets(nb.Session.load("shapes"))
        store = nb.microscope(session, LAYERS, data=data, out=tmp_path_factory.mktemp("microscope"), concepts=data, images=4, k=4, diversity=2)
        yield session, store


def test_every_unit_is_built_and_laid_out_as_documented(built):
    session, store = built
    assert store.root.name == f"shapes-{session.fingerprint[:12]}" and store.layers == LAYERS
    manifest = json.loads((store.root / "manifest.json").read_text())
    assert manifest["full"] == {"size": 24, "steps": 12} and manifest["labels"] == list(session.labels)
    for layer, count in (("conv2", 32), ("conv3", 64)):
        assert store.finished(layer) == set(range(count))
        for name in ("icon.png", "icon-input.png", "diversity.png", "exemplars.png"):
            assert (store.unit_dir(layer, 7) / name).is_file()
    page = store.page("conv3", 7)
    assert set(page) >= {"label", "source", "evidence", "stats", "classes", "top_classes", "below", "above", "exemplar_images", "exemplar_scores"}
    with pytest.raises(MicroscopeError, match="no layer 'conv4'"):
        store.count("conv4")


def test_exemplars_and_statistics_match_the_activations_read_image_by_image(built, data):
    session, store = built
    acts = torch.stack([session.trace(image, "conv3", logits=False)["conv3"] for image, _ in data]).float()  # (N, C, h, w)
    for u in (0, 9, 40):
        page = store.page("conv3", u)
        peaks = torch.stack([F.interpolate(a[None, u : u + 1], size=image.shape[1:], mode="bilinear", align_corners=False).max() for a, (image, _) in zip(acts, data)])
        assert page["exemplar_scores"][0] == pytest.approx(float(peaks.max()), rel=1e-4)
        assert page["exemplar_images"][0] == int(peaks.argmax())
        assert page["stats"]["mean"] == pytest.approx(float(acts[:, u].mean()), rel=1e-4, abs=1e-6)
        assert page["stats"]["peak"] == pytest.approx(float(acts[:, u].max()), rel=1e-4)
        assert page["stats"]["active"] == pytest.approx(float((acts[:, u] > 0).float().mean()), abs=1e-6)


def test_class_support_and_feeds_match_attribution_computed_directly(built, data):
    session, store = built
    images = [image for image, _ in data[:4]]
    for u in (3, 21):
        page = store.page("conv3", u)
        for name, value in page["top_classes"][:2]:  # reverse mode, one class at a time: another route than the store's
            c = session.class_index(name)
            direct = float(sum(channel_attribution(session, image, c)[u] for image in images)) / len(images)
            assert value == pytest.approx(direct, rel=1e-3, abs=1e-4)
    fed = sum(nb.attribution.layer_to_layer(session, image, "conv2", "conv3", "channels") for image in images) / len(images)
    page = store.page("conv3", 21)
    assert [v for v, _ in page["below"]["units"]] == fed[21].abs().topk(5).indices.tolist() and page["below"]["layer"] == "conv2"
    assert [v for v, _ in store.page("conv2", 5)["above"]["units"]] == fed[:, 5].abs().topk(5).indices.tolist()


def test_a_cancelled_build_resumes_without_redoing_a_unit(tmp_path, data, monkeypatch):
    monkeypatch.setenv("NEUROBLOCKS_CACHE", str(tmp_path / "cache"))
    session = small_budgets(nb.Session.load("shapes"))
    stop = threading.Event()

    def watch(progress) -> None:
        if progress.label == "unit pages" and progress.images_done >= 16:
            stop.set()

    with pytest.raises(Cancelled):
        nb.microscope(session, "conv2", data=data, out=tmp_path / "m", images=2, k=4, diversity=2, progress=watch, cancel=stop)
    root = MicroscopeStore.folder(session, tmp_path / "m")
    store = MicroscopeStore(root)
    done = store.finished("conv2")
    assert 16 <= len(done) < 32, "cancelled after the first batch of units"
    written = {u: store.page_path("conv2", u).stat().st_mtime_ns for u in done}
    service = nb.featurevis.icon_service(session)
    rendered = service.rendered
    store = nb.microscope(session, "conv2", data=data, out=tmp_path / "m", images=2, k=4, diversity=2)
    assert store.finished("conv2") == set(range(32))
    assert {u: store.page_path("conv2", u).stat().st_mtime_ns for u in done} == written, "finished units are not redone"
    assert service.rendered - rendered == 2 * (32 - len(done)), "only the rest are rendered (two scales each)"


def test_views_are_served_from_it_and_the_widget_browses_it(built, tmp_path, monkeypatch):
    session, store = built
    monkeypatch.setenv("NEUROBLOCKS_CACHE", str(tmp_path / "empty"))  # a fresh cache: what views get must come from the store
    fresh = small_budgets(nb.Session.load("shapes"))
    view = nb.Microscope(fresh, store.root, layer="conv3").wait()
    assert [entry["finished"] for entry in view.layers] == [32, 64] and len(view.labels) == 64
    assert sorted(map(int, view.cards)) == list(range(60)), "the first page's icons come with the view"
    view.unit = 12
    assert view.detail["unit"] == 12 and view.detail["label"] == store.page("conv3", 12)["label"] and set(view.detail["pictures"]) == {"icon", "icon-input", "diversity", "exemplars"}
    view.showing = [61, 62]
    assert set(view.cards) == {"61", "62"}

    service = nb.featurevis.icon_service(fresh)
    rendered = service.rendered
    dictionary = nb.SemanticDictionary(fresh, nb.shapes.scene(2, classes=2).image, "conv3", icon_steps=8).wait(icons=True)
    assert dictionary.exemplars, "exemplars come from the microscope, with no dataset given to the session"
    u = int(next(iter(dictionary.exemplars)).rsplit(":", 1)[1])
    assert f"peak activations {store.page('conv3', u)['exemplar_scores'][0]:.2f}" in dictionary.exemplars[f"{dictionary.unit_key}:{u}"]["title"]
    assert {i["stage"] for i in dictionary.icons.values()} == {"full"} and service.rendered == rendered, "its full-budget icons too"
    with pytest.raises(MicroscopeError, match="not this session's"):
        nb.Microscope(nb.Session.load("shapes-seed1"), store.root)
