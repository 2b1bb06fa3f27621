"""Microscope: browse a built microscope (`neuroblocks.microscope`) layer by layer, unit by unit:
a paged grid of icons with labels, searched in the browser, and a unit's page with its icons,
diversity set, exemplars, label and evidence, statistics, classes and feeds. The selected unit is
the linked `unit` (and `layer`), so views of the same layer on an image follow it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import traitlets

from ..errors import NeuroblocksError
from ..microscopy import MicroscopeStore
from ..session import Session
from .base import Part, View

PAGE = 60  # cards the browser asks for at once


class Microscope(View):
    """`store` (a `MicroscopeStore` or its folder) of `session`'s model; `layer`: the one shown
    first (default its first). Serves the session's views from the store (`MicroscopeStore.serve`)."""

    kind = traitlets.Unicode("microscope").tag(sync=True)
    layers = traitlets.List().tag(sync=True)  # [{name, noun, count, finished, description}]
    labels = traitlets.List().tag(sync=True)  # the shown layer's label per unit ("" for none or not built)
    showing = traitlets.List(traitlets.Int()).tag(sync=True)  # units whose cards the browser shows: the kernel sends their icons
    cards = traitlets.Dict().tag(sync=True)  # {unit: PNG of its icon}, for `showing`
    detail = traitlets.Dict().tag(sync=True)  # the selected unit's page, with its pictures as PNG bytes
    model_note = traitlets.Unicode("").tag(sync=True)
    inputs = ("layer",)

    def __init__(self, session: Session, store: MicroscopeStore | str | Path, *, layer: str | None = None, **options) -> None:
        self.store = store if isinstance(store, MicroscopeStore) else MicroscopeStore(store)
        self.store.serve(session)
        first = layer or self.store.layers[0]
        if first not in self.store.layers:
            raise NeuroblocksError(f"this microscope has no layer {first!r}; it holds {', '.join(self.store.layers)}")
        super().__init__(session, layer=first, icon_steps=0, **options)
        self.observe(lambda change: self._cards(), names=["showing"])
        self.observe(lambda change: self._detail(), names=["unit"])

    def _compute(self) -> Iterator[Part]:
        store, m = self.store, self.store.manifest
        layers = [{**store.entry(name), "finished": len(store.finished(name))} for name in store.layers]
        note = f"{m['model']} · weights {m['fingerprint'][:12]} · icons {m['full']['size']} px, {m['full']['steps']} steps"
        first = sorted(store.finished(self.layer))[:PAGE]  # the first page's cards come with the content (an export shows them)
        yield {"layers": layers, "labels": store.labels(self.layer), "cards": self._icons(first), "showing": first, "detail": self._page(self.unit), "model_note": note}, []

    def _cards(self) -> None:
        self.cards = self._icons(self.showing[:PAGE])

    def _icons(self, units: list[int]) -> dict[str, bytes]:
        finished = self.store.finished(self.layer)
        return {str(u): (self.store.unit_dir(self.layer, u) / "icon.png").read_bytes() for u in units if u in finished}

    def _detail(self) -> None:
        self.detail = self._page(self.unit)

    def _page(self, u: int | None) -> dict:
        """Unit u's page with its pictures and its feeds' icons ({} for none, or one not built)."""
        if u is None or u not in self.store.finished(self.layer):
            return {}
        page = self.store.page(self.layer, u)
        pictures = {name: (self.store.unit_dir(self.layer, u) / f"{name}.png").read_bytes() for name in ("icon", "icon-input", "diversity", "exemplars")}
        feeds = {}
        for side in ("below", "above"):
            found = page[side]
            if found:
                built = self.store.finished(found["layer"])
                feeds[side] = {str(v): (self.store.unit_dir(found["layer"], v) / "icon.png").read_bytes() for v, _ in found["units"] if v in built}
        return {**page, "pictures": pictures, "feed_icons": feeds}
