"""Semantic dictionary: the image with the layer's grid; a hovered cell shows its strongest
channels (or other units of the layer, e.g. a trained dictionary's latents), each as its
feature-visualization icon with a bar for its code (docs/views.md, docs/explanations/dictionaries.md)."""

from __future__ import annotations

from collections.abc import Iterator

import torch
import traitlets

from ..images import ImageLike
from ..session import Session
from ..units import Units
from .base import Part, View
from .inputs import default_layer, prefix_labels, shown_units, spatial_cube, unit_icons, units_layer
from .payload import array
from .traits import Array


class SemanticDictionary(View):
    """`top` units per position; icons are rendered for every unit in some position's top."""

    kind = traitlets.Unicode("semantic_dictionary").tag(sync=True)
    needs_grid = True
    acts = Array("float32", 3, help="(K, H, W): every unit's code at every position (a layer's channels: its activations)")
    prefix_acts = Array("float32", 2, help="(P, K): a token layer's prefix tokens' codes, hovered as [-1, p]")
    prefix_labels = traitlets.List().tag(sync=True)
    top = traitlets.Int(6).tag(sync=True)
    noun = traitlets.Unicode("channel").tag(sync=True)  # what an entry is: the units' noun ("channel", "latent", …)
    unit_key = traitlets.Unicode("").tag(sync=True)  # entry u's icon is keyed f"{unit_key}:{u}"
    found_by = traitlets.Unicode("").tag(sync=True)  # the given units' description ("" for the layer's channels)
    inputs = ("image", "layer", "top")

    def __init__(self, session: Session, image: ImageLike, layer: str | None = None, *, top: int = 6, units: Units | None = None, **options) -> None:
        """units: units of `layer` (`neuroblocks.units`, e.g. a trained dictionary, whose latents
        are drawn by their encoder direction) shown instead of the layer's channels."""
        self.units = units
        super().__init__(session, image=image, layer=default_layer(session, units_layer(layer, units)), top=top, **options)

    def _compute(self) -> Iterator[Part]:
        units = shown_units(self.session, self.layer, self.units)
        cube = spatial_cube(self.session, self.photo, self.layer).float()
        a = units.codes(cube)
        prefix = self.session.trace(self.photo, self.layer, logits=False).prefixes.get(self.layer)
        prefix = units.prefix_codes(prefix.float()) if prefix is not None and len(prefix) else a.new_zeros(0, a.shape[0])
        every = torch.cat([a.flatten(1), prefix.T], dim=1)  # (C, positions and prefix tokens)
        k = max(1, min(self.top, a.shape[0]))
        tops = every.topk(k, dim=0).indices.unique()
        # Icons of the channels that fire hardest anywhere come first.
        order = tops[every[tops].amax(1).argsort(descending=True)]
        wanted = unit_icons(units, order.tolist())
        values = {
            "noun": units.noun, "unit_key": units.icon_key, "found_by": units.description if units is self.units else "",
            "acts": array(a), "prefix_acts": array(prefix) if len(prefix) else {}, "prefix_labels": prefix_labels(self.session, self.layer),
            "picture": self.picture_of(self.photo), "position": None,
        }
        yield values, wanted
        shown = order.tolist()
        yield from self.meaning(units, shown, [f"{units.icon_key}:{u}" for u in shown])
