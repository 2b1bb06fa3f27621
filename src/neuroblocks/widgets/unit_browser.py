"""Unit browser: every unit of a layer on one page, as OpenAI Microscope gave each unit of a
model its own: its icon, its top dataset examples with where it fires on them, its dissection
label and IoU when a dissection is given, and the classes it supports most. The units are the
layer's channels or any other units of it (`neuroblocks.units`: directions such as a
factorization's neuron groups, a dictionary's latents). Search and sort run in the browser;
clicking a unit sets the linked `unit` (or the trait named by `selects`, e.g. "group" for
groups' directions), so single-image views follow."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator, Sequence

import torch
import traitlets

from ..attribution import to_classes
from ..dissection import Dissection
from ..dissection import Examples
from ..dissection.exemplars import exemplar_labels
from ..errors import NeuroblocksError
from ..images import ImageLike
from ..session import Session
from ..unit_labels import MIN_IOU, UnitLabel, label_unit
from .base import Part, View
from .dissection_view import example_strips
from .inputs import unit_icons
from .payload import top_entries
from .traits import Array, TopEntries


class UnitBrowser(View):
    """The units of `examples` (from `dissection.dataset_examples`: the layer's channels, or the
    `units=` it was given), labelled by `dissection` (from `dissection.dissect` on the same
    layer and units) when given; `images` (a few dozen of the dataset) give each unit's class
    support: its attribution (code × atom against the gradient) to every class, summed over them
    (docs/explanations/attribution.md). `top` classes are listed per unit."""

    kind = traitlets.Unicode("unit_browser").tag(sync=True)
    noun = traitlets.Unicode("channel").tag(sync=True)  # what a unit is: the units' noun ("channel", "direction", "latent", …)
    unit_key = traitlets.Unicode("").tag(sync=True)  # icons of unit u are keyed f"{unit_key}:{u}"
    selects = traitlets.Unicode("unit").tag(sync=True)  # the linked trait a click sets
    rows = traitlets.List().tag(sync=True)  # [{unit, label, source, evidence, supports, iou, peak}] in unit order (`unit_labels`' rule)
    strips = traitlets.List().tag(sync=True)  # per unit: PNG of its examples side by side
    maps = Array("uint8", 4, help="(units, k, 64, 64): the unit over each example")
    support = TopEntries(help="per unit, its summed attribution to the classes it supports most")
    labels = traitlets.List().tag(sync=True)  # class names, in output order
    summary = traitlets.Unicode("").tag(sync=True)
    inputs = ()

    def __init__(
        self, session: Session, examples: Examples, *, dissection: Dissection | None = None, images: Sequence[ImageLike] = (), top: int = 3, **options
    ) -> None:
        if not isinstance(examples, Examples):
            raise TypeError(f"UnitBrowser takes the dataset examples of a layer (neuroblocks.dissection.dataset_examples), not {type(examples).__name__}")
        units = examples.scores.shape[0]
        if units != examples.units.count:
            raise NeuroblocksError(f"the examples hold {units} units, not the {examples.units.description}")
        if dissection is not None and (dissection.layer != examples.layer or dissection.iou.shape[0] != units):
            raise NeuroblocksError(f"the dissection ({dissection.layer}, {dissection.iou.shape[0]} units) is not of the examples' layer ({examples.layer}, {units} units)")
        self.examples, self.dissection, self.support_images, self.top = examples, dissection, list(images), top
        options = {"noun": examples.units.noun, "unit_key": examples.units.icon_key, **options}
        super().__init__(session, layer=examples.layer, **options)

    def _compute(self) -> Iterator[Part]:
        ex, r = self.examples, self.dissection
        units = list(range(ex.scores.shape[0]))
        best, concept = r.best if r is not None else (None, None)
        concepts = None if r is None else [(r.concepts[int(concept[u])], float(best[u])) for u in units]
        strips, maps = example_strips(ex, units)
        support, total = {}, None
        if self.support_images:
            total = sum(to_classes(self.session, image, self.layer, ex.units) for image in self.support_images).float()
            support = top_entries(total, min(self.top, total.shape[1]))
        named = {u: label_unit(self.session.labels, None if total is None else total[u], concept=None if r is None else concepts[u][0],
                               iou=None if r is None else concepts[u][1], min_iou=MIN_IOU if r is None else r.min_iou) for u in units}
        counted = f" · class support summed over {len(self.support_images)} images" if self.support_images else ""
        values = {"rows": self._rows(named, best, total), "strips": strips, "maps": maps, "support": support, "labels": list(self.session.labels), "summary": ""}
        order = torch.as_tensor([float(ex.scores[u, 0]) for u in units]).argsort(descending=True).tolist()
        yield {**values, "summary": self._summary(named, counted)}, unit_icons(ex.units, order)
        yield f"labels from what the model sees in each {self.noun}'s top crops"
        found = exemplar_labels(self.session, ex, units, total, concepts, None if r is None else r.min_iou)
        named = dict(zip(units, found))
        yield {"rows": self._rows(named, best, total), "summary": self._summary(named, counted)}, []

    def _rows(self, named: dict[int, UnitLabel], best: torch.Tensor | None, total: torch.Tensor | None) -> list[dict]:
        """[{unit, label ("" without one), source, evidence, supports: [[class, value]] only the
        classes it supports strongly, iou, peak}] in unit order."""
        ex = self.examples
        return [
            {"unit": u, "label": label.text if label.source else "", "source": label.source, "evidence": label.evidence,
             "supports": [[c, round(float(total[u, c]), 4)] for c in label.classes] if total is not None else [],
             "iou": None if best is None else round(float(best[u]), 4), "peak": float(ex.scores[u, 0])}
            for u, label in named.items()
        ]

    def _summary(self, named: dict[int, UnitLabel], counted: str) -> str:
        """e.g. "32 channels of conv2 · 14 labelled (dissection 10, class support 4)"."""
        by = Counter(label.source for label in named.values() if label.source)
        how = f" ({', '.join(f'{source} {n}' for source, n in sorted(by.items()))})" if by else ""
        return f"{len(named)} {self.noun}s of {self.layer} · {sum(by.values())} labelled{how}{counted}"
