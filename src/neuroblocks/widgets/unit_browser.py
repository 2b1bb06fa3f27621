"""Unit browser: every unit of a layer on one page, as OpenAI Microscope gave each unit of a
model its own: its icon, its top dataset examples with where it fires on them, its dissection
label and IoU when a dissection is given, and the classes it supports most. The units are the
layer's channels, directions such as a factorization's neuron groups, or a dictionary's latents. Search and sort run
in the browser; clicking a unit sets the linked `channel` (or `group`, for directions), so
single-image views follow."""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import torch
import traitlets

from ..attribution import to_classes
from ..dissection import Dissection
from ..dissection import Examples
from ..errors import NeuroblocksError
from ..featurevis import objectives
from ..images import ImageLike
from ..session import Session
from .base import Part, View
from .dissection_view import example_strips
from .payload import top_entries
from .traits import Array, TopEntries


class UnitBrowser(View):
    """The units of `examples.layer` (from `dissection.dataset_examples`: its channels, or the
    `directions=` it was given), labelled by `dissection` (from `dissection.dissect` on the same
    layer and units) when given; `images` (a few dozen of the dataset) give each unit's class
    support: its attribution to every class, summed over them (docs/explanations/attribution.md; for a direction, the
    attribution of the activations' projection on it). `top` classes are listed per unit."""

    kind = traitlets.Unicode("unit_browser").tag(sync=True)
    noun = traitlets.Unicode("unit").tag(sync=True)  # "unit" (channels), "direction" or "latent" (a dictionary's)
    selects = traitlets.Unicode("channel").tag(sync=True)  # the linked trait a click sets
    units = traitlets.List().tag(sync=True)  # [{unit, label, iou, peak}], in unit order
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
        channels = session.layer_shape(session.check_layer(examples.layer))[0]
        if examples.directions is None and units != channels:
            raise NeuroblocksError(f"the examples hold {units} units, not the {channels} channels of {examples.layer!r}")
        if dissection is not None and (dissection.layer != examples.layer or dissection.iou.shape[0] != units):
            raise NeuroblocksError(f"the dissection ({dissection.layer}, {dissection.iou.shape[0]} units) is not of the examples' layer ({examples.layer}, {units} units)")
        self.examples, self.dissection, self.support_images, self.top = examples, dissection, list(images), top
        if hasattr(examples.directions, "atom_kind"):  # a dictionary's latents: a click selects the latent, as a channel
            options = {"noun": "latent", "selects": "channel", **options}
        elif examples.directions is not None:
            options = {"noun": "direction", "selects": "group", **options}
        super().__init__(session, layer=examples.layer, **options)

    def _compute(self) -> Iterator[Part]:
        ex, r = self.examples, self.dissection
        units = list(range(ex.scores.shape[0]))
        best = r.best[0] if r is not None else None
        labels = r.labels if r is not None else [None] * len(units)
        rows = [{"unit": u, "label": labels[u] or "", "iou": None if best is None else round(float(best[u]), 4), "peak": float(ex.scores[u, 0])} for u in units]
        strips, maps = example_strips(ex, units)
        support = {}
        atoms = "channels" if ex.directions is None else ex.directions
        if self.support_images:
            total = sum(to_classes(self.session, image, self.layer, atoms=atoms) for image in self.support_images)
            support = top_entries(total.float(), min(self.top, total.shape[1]))
        counted = f" · class support from {len(self.support_images)} images" if self.support_images else ""
        labelled = f" · {sum(1 for label in labels if label)} labelled by dissection" if r is not None else ""
        values = {"units": rows, "strips": strips, "maps": maps, "support": support, "labels": list(self.session.labels),
                  "summary": f"{len(units)} {self.noun}s of {self.layer}{labelled}{counted}"}
        order = torch.as_tensor([row["peak"] for row in rows]).argsort(descending=True).tolist()
        if ex.directions is None:
            yield values, [(f"{self.layer}:{u}", objectives.channel(self.layer, u)) for u in order]
        else:
            directions = ex.directions.icon_directions if self.noun == "latent" else ex.directions  # what detects a latent
            yield values, [(f"{self.layer}:{u}", objectives.direction(self.layer, directions[u])) for u in order]
