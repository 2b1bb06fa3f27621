"""Semantic dictionary: the image with the layer's grid; a hovered cell shows its strongest
channels, each as its feature-visualization icon with a bar for its activation (SPEC §5)."""

from __future__ import annotations

from collections.abc import Iterator

import torch
import traitlets

from ..featurevis import objectives
from ..images import ImageLike
from ..session import Session
from .base import Part, View
from .inputs import default_layer, prefix_labels, spatial_cube
from .payload import array


class SemanticDictionary(View):
    """`top` channels per position; icons are rendered for every channel in some position's top."""

    kind = traitlets.Unicode("semantic_dictionary").tag(sync=True)
    needs_grid = True
    acts = traitlets.Dict().tag(sync=True)  # the activation cube (C, H, W), float32
    prefix_acts = traitlets.Dict().tag(sync=True)  # a token layer's prefix tokens (P, C), hovered as [-1, p]
    prefix_labels = traitlets.List().tag(sync=True)
    top = traitlets.Int(6).tag(sync=True)
    inputs = ("image", "layer", "top")

    def __init__(self, session: Session, image: ImageLike, layer: str | None = None, *, top: int = 6, **options) -> None:
        super().__init__(session, image=image, layer=default_layer(session, layer), top=top, **options)

    def _compute(self) -> Iterator[Part]:
        a = spatial_cube(self.session, self.photo, self.layer)
        prefix = self.session.trace(self.photo, self.layer, logits=False).prefixes.get(self.layer, a.new_zeros(0, a.shape[0]))
        every = torch.cat([a.flatten(1), prefix.T], dim=1)  # (C, positions and prefix tokens)
        k = max(1, min(self.top, a.shape[0]))
        tops = every.topk(k, dim=0).indices.unique()
        # Icons of the channels that fire hardest anywhere come first.
        order = tops[every[tops].amax(1).argsort(descending=True)]
        wanted = [(f"{self.layer}:{int(c)}", objectives.channel(self.layer, int(c))) for c in order]
        values = {
            "acts": array(a), "prefix_acts": array(prefix) if len(prefix) else {}, "prefix_labels": prefix_labels(self.session, self.layer),
            "picture": self.picture_of(self.photo), "position": None,
        }
        yield values, wanted
