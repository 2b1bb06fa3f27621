"""A microscope published as a static site, in Chromium: every page of a shapes microscope loads
with no console error and no request leaving the machine, its links lead to pages that exist,
and a 2,000-unit layer's grid draws its first screen within a second. The widget browses a
microscope in an exported page."""

from __future__ import annotations

import pytest
import torch
from torch import nn

import neuroblocks as nb
from neuroblocks import dissection as D

from .conftest import view, watch_console

pytestmark = pytest.mark.browser


class Wide(nn.Module):
    """A model with a 2,000-channel layer: a microscope's grid at the size where paging and lazy
    loading must hold up."""

    def __init__(self) -> None:
        super().__init__()
        self.pool = nn.AvgPool2d(4)  # few positions: the layer is wide, not expensive
        self.wide = nn.Conv2d(3, 2000, 1)
        self.head = nn.Linear(2000, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(torch.relu(self.wide(self.pool(x))).mean((2, 3)))


def visit(page, url: str) -> list[str]:
    """Open `url` and return the requests it made that left the machine."""
    outside: list[str] = []
    page.on("request", lambda r: outside.append(r.url) if not r.url.startswith(("file://", "data:", "blob:")) else None)
    page.goto(url)
    page.wait_for_load_state("load")
    return outside


def test_every_page_of_a_microscope_site_loads_offline_and_its_links_resolve(page, tmp_path, monkeypatch):
    monkeypatch.setenv("NEUROBLOCKS_CACHE", str(tmp_path / "cache"))
    session = nb.featurevis.configure(nb.Session.load("shapes"), steps=4, full_size=16, full_steps=4)
    data = [D.ShapesConcepts(12, start=13_000)[i] for i in range(12)]
    store = nb.microscope(session, ["conv1", "conv2"], data=data, out=tmp_path / "m", images=2, k=2, diversity=2)
    index = store.export(tmp_path / "site")
    site = index.parent
    pages = sorted(site.rglob("*.html"))
    assert len(pages) == 1 + 2 + 16 + 32, "the index, a grid per layer, a page per unit"
    errors = watch_console(page)
    for path in pages:
        assert visit(page, path.as_uri()) == [], f"{path} reached outside the machine"
        for link in page.locator("a[href]").all():
            href = link.get_attribute("href")
            assert (path.parent / href).resolve().is_file(), f"{path.relative_to(site)} links to missing {href}"
        assert page.evaluate("() => [...document.images].every(i => i.loading === 'lazy' || (i.complete && i.naturalWidth > 0))"), f"{path}: an image did not load"
    assert not errors, errors

    page.goto((site / "conv2" / "index.html").as_uri())
    page.locator("#search").fill("no clear")
    labelled = sum(1 for label in store.labels("conv2") if not label)
    assert page.locator("#found a").count() == labelled, "search finds units by label across the layer"


def test_a_two_thousand_unit_layer_draws_its_first_screen_within_a_second(page, tmp_path, monkeypatch):
    monkeypatch.setenv("NEUROBLOCKS_CACHE", str(tmp_path / "cache"))
    torch.manual_seed(0)
    session = nb.Session(Wide(), labels=[f"class {i}" for i in range(10)], input_size=16)
    nb.featurevis.configure(session, size=16, steps=2, full_size=16, full_steps=2)
    nb.featurevis.icon_service(session).batch = 100  # a small model: render many icons per pass
    data = [torch.rand(3, 16, 16, generator=torch.Generator().manual_seed(i)) for i in range(8)]
    store = nb.microscope(session, "wide", data=data, out=tmp_path / "m", images=1, k=2, diversity=1)
    assert store.finished("wide") == set(range(2000))
    site = store.export(tmp_path / "site").parent
    errors = watch_console(page)
    page.set_viewport_size({"width": 1280, "height": 800})
    assert visit(page, (site / "wide" / "index.html").as_uri()) == []
    page.wait_for_function("""() => [...document.images].filter(i => { const r = i.getBoundingClientRect(); return r.top < innerHeight && r.bottom > 0; })
                                    .every(i => i.complete && i.naturalWidth > 0)""")
    first_screen_ms = page.evaluate("() => performance.now()")
    on_screen = page.evaluate("() => [...document.images].filter(i => i.getBoundingClientRect().top < innerHeight).length")
    loaded = page.evaluate("() => [...document.images].filter(i => i.complete && i.naturalWidth > 0).length")
    assert on_screen >= 40 and loaded < 600, f"{loaded} images loaded for {on_screen} on screen: the rest wait until scrolled to"
    assert first_screen_ms <= 1000, f"the first screen of 600 cards took {first_screen_ms:.0f} ms"
    assert page.locator(".card").count() == 600 and page.locator("nav a").count() >= 4, "2,000 units in pages of 600"
    assert not errors, errors


def test_the_widget_browses_a_microscope_on_an_exported_page(page, tmp_path, monkeypatch):
    monkeypatch.setenv("NEUROBLOCKS_CACHE", str(tmp_path / "cache"))
    session = nb.featurevis.configure(nb.Session.load("shapes"), steps=4, full_size=16, full_steps=4)
    data = [D.ShapesConcepts(12, start=14_000)[i] for i in range(12)]
    store = nb.microscope(session, ["conv1", "conv2"], data=data, out=tmp_path / "m", images=2, k=2, diversity=2)
    scope = nb.Microscope(session, store, layer="conv2", unit=3).wait()
    dictionary = nb.SemanticDictionary(session, nb.shapes.scene(1, classes=2).image, "conv2", icon_steps=0)
    nb.link(scope, dictionary, traits=["unit"])
    errors = watch_console(page)
    page.goto(nb.to_html(tmp_path / "scope.html", nb.row(scope, dictionary)).as_uri())
    shown = view(page, "Microscope")
    assert shown.locator(".nb-microscope-card").count() == 32 and shown.locator(".nb-microscope-card img[src]").count() == 32
    assert shown.locator(".nb-microscope-unit .nb-title").inner_text().startswith("conv2 · channel 3")
    shown.locator(".nb-unit-search").fill("no clear")
    assert shown.locator(".nb-microscope-card").count() == sum(1 for label in store.labels("conv2") if not label)
    shown.locator(".nb-unit-search").fill("")
    shown.locator(".nb-microscope-card[data-unit='7']").click()
    note = view(page, "Semantic dictionary").locator(".nb-channel-note")
    assert note.get_attribute("data-channel") == "7", "selecting a unit selects it in the linked view"
    assert not errors, errors
