"""Activation grid: every position of a layer drawn as the feature visualization of its
activation vector, optionally scaled by the vector's length, with an overview that colours
positions by the first three principal components (docs/views.md). Over a trained dictionary, each
position is drawn as its strongest latent's icon, scaled by that latent's code (docs/explanations/dictionaries.md)."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import traitlets

from ..dictionary import Dictionary
from ..factorization.overview import overview_colors
from ..featurevis import objectives
from ..featurevis.sizes import default_size
from ..images import ImageLike
from ..session import Session
from .base import Part, View
from .inputs import default_layer, dictionary_layer, prefix_labels, spatial_cube
from .payload import array
from .traits import Array


class ActivationGrid(View):
    """mode: "icons" or "overview"; scale: cell area proportional to activation magnitude."""

    kind = traitlets.Unicode("activation_grid").tag(sync=True)
    needs_grid = True
    magnitudes = Array("float32", 2, help="(H, W): the length of each activation vector")
    overview = Array("uint8", 3, help="(H, W, 3): each position coloured by its first three principal components")
    prefix_labels = traitlets.List().tag(sync=True)  # a token layer's prefix tokens, cells [-1, p] above the grid
    mode = traitlets.Enum(["icons", "overview"], "icons").tag(sync=True)
    scale = traitlets.Bool(True).tag(sync=True)
    found_by = traitlets.Unicode("").tag(sync=True)  # over a dictionary: what it is

    def __init__(
        self, session: Session, image: ImageLike, layer: str | None = None, *, mode: str = "icons", scale: bool = True, cosine_power: float | None = None,
        dictionary: Dictionary | None = None, **options
    ) -> None:
        """dictionary: a trained `neuroblocks.dictionary.Dictionary` of `layer`; each position is
        then drawn as its strongest latent (the icon of that latent's encoder direction)."""
        self.cosine_power, self.dictionary = cosine_power, dictionary
        layer = default_layer(session, dictionary_layer(layer, dictionary))
        if dictionary is not None:
            options["found_by"] = dictionary.description
        # A grid cell is a fraction of the image: half-size icons are plenty, and 4× cheaper.
        options.setdefault("icon_size", default_size(session, [layer], base=session.icon_defaults["size"] // 2))
        super().__init__(session, image=image, layer=layer, mode=mode, scale=scale, **options)

    def _compute(self) -> Iterator[Part]:
        a = spatial_cube(self.session, self.photo, self.layer)
        c, h, w = a.shape
        norms = a.norm(dim=0)
        colours = (overview_colors(self.session, self.photo, self.layer) * 255).round().astype(np.uint8)
        vectors = a.flatten(1).T
        prefix = self.session.trace(self.photo, self.layer, logits=False).prefixes.get(self.layer, [])
        if self.dictionary is not None:  # each position as its strongest latent, sized by its code
            strongest = self.dictionary.codes(a.float()).flatten(1).max(0)
            norms, vectors = strongest.values.reshape(h, w), self.dictionary.icon_directions.to(a)[strongest.indices]
            prefix = []
        order = norms.flatten().argsort(descending=True).tolist()
        wanted = [(f"-1,{p}", objectives.direction(self.layer, v, prefix=p)) for p, v in enumerate(prefix)] + [
            (f"{p // w},{p % w}", objectives.direction(self.layer, vectors[p], self.cosine_power))
            for p in order if float(norms.flatten()[p]) > 0
        ]
        values = {
            "magnitudes": array(norms), "overview": array(colours, "uint8"), "prefix_labels": prefix_labels(self.session, self.layer) if self.dictionary is None else [],
            "picture": self.picture_of(self.photo), "position": None,
        }
        yield values, wanted
