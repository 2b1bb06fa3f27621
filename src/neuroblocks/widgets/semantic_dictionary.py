"""Semantic dictionary: the image with the layer's grid; a hovered cell shows its strongest
channels (or a trained dictionary's latents), each as its feature-visualization icon with a bar
for its activation (docs/views.md, docs/explanations/dictionaries.md)."""

from __future__ import annotations

from collections.abc import Iterator

import torch
import traitlets

from ..dictionary import Dictionary
from ..featurevis import objectives
from ..images import ImageLike
from ..session import Session
from .base import Part, View
from .inputs import default_layer, dictionary_layer, latent_icons, prefix_labels, spatial_cube
from .payload import array
from .traits import Array


class SemanticDictionary(View):
    """`top` channels per position; icons are rendered for every channel in some position's top."""

    kind = traitlets.Unicode("semantic_dictionary").tag(sync=True)
    needs_grid = True
    acts = Array("float32", 3, help="(C, H, W): the activation cube (a dictionary's codes over its latents)")
    prefix_acts = Array("float32", 2, help="(P, C): a token layer's prefix tokens, hovered as [-1, p]")
    prefix_labels = traitlets.List().tag(sync=True)
    top = traitlets.Int(6).tag(sync=True)
    unit = traitlets.Unicode("channel").tag(sync=True)  # what an entry is: "channel", or "latent" of a dictionary
    unit_key = traitlets.Unicode("").tag(sync=True)  # entry u's icon is keyed f"{unit_key}:{u}"
    found_by = traitlets.Unicode("").tag(sync=True)  # the dictionary's description, when entries are latents
    inputs = ("image", "layer", "top")

    def __init__(self, session: Session, image: ImageLike, layer: str | None = None, *, top: int = 6, dictionary: Dictionary | None = None, **options) -> None:
        """dictionary: a trained `neuroblocks.dictionary.Dictionary` of `layer`, whose latents are
        shown instead of the layer's channels (icons: each latent's encoder direction)."""
        self.dictionary = dictionary
        layer = default_layer(session, dictionary_layer(layer, dictionary))
        unit = {"unit": "latent", "unit_key": dictionary.icon_key, "found_by": dictionary.description} if dictionary is not None else {"unit_key": layer}
        super().__init__(session, image=image, layer=layer, top=top, **unit, **options)

    def _compute(self) -> Iterator[Part]:
        a = spatial_cube(self.session, self.photo, self.layer)
        prefix = self.session.trace(self.photo, self.layer, logits=False).prefixes.get(self.layer, a.new_zeros(0, a.shape[0]))
        if self.dictionary is not None:
            a = self.dictionary.codes(a)
            prefix = self.dictionary.encode(prefix) if len(prefix) else prefix.new_zeros(0, a.shape[0])
        every = torch.cat([a.flatten(1), prefix.T], dim=1)  # (C, positions and prefix tokens)
        k = max(1, min(self.top, a.shape[0]))
        tops = every.topk(k, dim=0).indices.unique()
        # Icons of the channels that fire hardest anywhere come first.
        order = tops[every[tops].amax(1).argsort(descending=True)]
        wanted = latent_icons(self.dictionary, order.tolist()) if self.dictionary is not None else [(f"{self.layer}:{c}", objectives.channel(self.layer, c)) for c in order.tolist()]
        values = {
            "acts": array(a), "prefix_acts": array(prefix) if len(prefix) else {}, "prefix_labels": prefix_labels(self.session, self.layer),
            "picture": self.picture_of(self.photo), "position": None,
        }
        yield values, wanted
