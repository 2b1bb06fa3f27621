"""Activation grid: every position of a layer drawn as the feature visualization of its
activation vector, optionally scaled by the vector's length, with an overview that colours
positions by the first three principal components (docs/views.md). Given units of the layer
(`units=`, e.g. a trained dictionary's latents), each position is drawn as its strongest unit's
icon, scaled by that unit's code (docs/explanations/dictionaries.md)."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import traitlets

from ..factorization.overview import overview_colors
from ..featurevis import objectives
from ..featurevis.sizes import default_size
from ..images import ImageLike
from ..featurevis.settings import settings as featurevis_settings
from ..session import Session
from ..units import Directions, Units
from .base import Part, View
from .inputs import default_layer, prefix_labels, spatial_cube, units_layer
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
    found_by = traitlets.Unicode("").tag(sync=True)  # with units: what they are
    noun = traitlets.Unicode("").tag(sync=True)  # with units: their noun ("latent", …)

    def __init__(
        self, session: Session, image: ImageLike, layer: str | None = None, *, mode: str = "icons", scale: bool = True, cosine_power: float | None = None,
        units: Units | None = None, **options
    ) -> None:
        """units: units of `layer` (`neuroblocks.units`, e.g. a trained dictionary); each position
        is then drawn as its strongest unit (a latent by its encoder direction)."""
        self.cosine_power, self.units = cosine_power, units
        layer = default_layer(session, units_layer(layer, units))
        if units is not None:
            options.update(found_by=units.description, noun=units.noun)
        # A grid cell is a fraction of the image: half-size icons are plenty, and 4× cheaper.
        options.setdefault("icon_size", default_size(session, [layer], base=featurevis_settings(session).size // 2))
        super().__init__(session, image=image, layer=layer, mode=mode, scale=scale, **options)

    def _compute(self) -> Iterator[Part]:
        a = spatial_cube(self.session, self.photo, self.layer)
        c, h, w = a.shape
        norms = a.norm(dim=0)
        colours = (overview_colors(self.session, self.photo, self.layer) * 255).round().astype(np.uint8)
        vectors = a.flatten(1).T
        prefix = self.session.trace(self.photo, self.layer, logits=False).prefixes.get(self.layer, [])
        drawn = lambda p: objectives.direction(self.layer, vectors[p], self.cosine_power)  # noqa: E731
        if self.units is not None:  # each position as its strongest unit, sized by its code
            strongest = self.units.codes(a.float()).flatten(1).max(0)
            norms, prefix = strongest.values.reshape(h, w), []
            drawn = lambda p: objectives.unit(self.units, int(strongest.indices[p]))  # noqa: E731
        order = norms.flatten().argsort(descending=True).tolist()
        wanted = [(f"-1,{p}", objectives.direction(self.layer, v, prefix=p)) for p, v in enumerate(prefix)] + [
            (f"{p // w},{p % w}", drawn(p)) for p in order if float(norms.flatten()[p]) > 0
        ]
        values = {
            "magnitudes": array(norms), "overview": array(colours, "uint8"), "prefix_labels": prefix_labels(self.session, self.layer) if self.units is None else [],
            "picture": self.picture_of(self.photo), "position": None,
        }
        yield values, wanted
        cells = [p for p in order if float(norms.flatten()[p]) > 0]
        places = [f"[{p // w}, {p % w}]" for p in cells]
        if self.units is None:  # a cell's exemplars: the dataset crops whose activation vectors align most with its own
            shown, picks = Directions(self.layer, vectors[cells].float().cpu(), noun="position"), list(range(len(cells)))
            names = [f"the activation vector at {place}" for place in places]
        else:
            shown, picks = self.units, [int(strongest.indices[p]) for p in cells]
            names = [f"{self.units.noun} {u}, the strongest at {place}" for u, place in zip(picks, places)]
        yield from self.meaning(shown, picks, [f"{p // w},{p % w}" for p in cells], names=names)
