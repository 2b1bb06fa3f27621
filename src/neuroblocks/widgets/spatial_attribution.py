"""Spatial attribution: two layers side by side, each with attribution maps over the image for
two classes (orange and blue). Hovering a cell of the higher layer shows which cells below fed
it; hovering a cell of the lower layer shows which cells above it feeds; a legend lists the
classes the hovered cell supports most (SPEC §5). Everything hover needs is sent at once."""

from __future__ import annotations

import torch
import traitlets

from .. import attribution
from ..errors import NeuroblocksError
from ..images import ImageLike
from ..session import Session
from .base import View, Wanted
from .inputs import class_names, legend_length, prefix_labels, spatial_cube, top_classes
from .payload import array, top_entries



class SpatialAttribution(View):
    """`layer` is the lower layer (its `position` is shared with other views), `upper` the
    higher; `classes` two classes (default: the two the model scores highest)."""

    kind = traitlets.Unicode("spatial_attribution").tag(sync=True)
    upper = traitlets.Unicode("").tag(sync=True)
    upper_position = traitlets.Any(None, allow_none=True).tag(sync=True)
    classes = traitlets.List().tag(sync=True)  # two class indices
    lower_maps = traitlets.Dict().tag(sync=True)  # (2, H, W): attribution of each position to each class
    upper_maps = traitlets.Dict().tag(sync=True)
    lower_prefix = traitlets.Dict().tag(sync=True)  # (2, P): a token layer's prefix tokens' attribution, drawn beside the grid
    upper_prefix = traitlets.Dict().tag(sync=True)
    lower_prefix_labels = traitlets.List().tag(sync=True)
    upper_prefix_labels = traitlets.List().tag(sync=True)
    flow = traitlets.Dict().tag(sync=True)  # (upper atoms, lower atoms): positions, then prefix tokens
    lower_legend = traitlets.Dict().tag(sync=True)  # top classes per lower position
    upper_legend = traitlets.Dict().tag(sync=True)
    class_names = traitlets.Dict().tag(sync=True)
    inputs = ("image", "layer", "upper", "classes")

    def __init__(self, session: Session, image: ImageLike, layer: str, upper: str, classes=None, **options) -> None:
        picked = [session.class_index(c) for c in classes] if classes is not None else top_classes(session, image, 2)
        if len(picked) != 2:
            raise NeuroblocksError(f"spatial attribution compares two classes; got {len(picked)}")
        super().__init__(session, image=image, layer=layer, upper=upper, classes=picked, **options)

    def _compute(self) -> tuple[dict, Wanted]:
        s, image, lower, upper = self.session, self.image, self.layer, self.upper
        spatial_cube(s, image, lower), spatial_cube(s, image, upper)  # both need positions
        classes = [s.class_index(c) for c in self.classes]
        maps = {name: torch.stack([attribution.spatial(s, image, name, c) for c in classes]) for name in (lower, upper)}
        to_classes = {name: attribution.to_classes(s, image, name) for name in (lower, upper)}
        # A token layer's prefix tokens are the last rows of its all-class matrix: (2, P) for the two classes.
        prefix = {name: to_classes[name][maps[name][0].numel() :, classes].T for name in (lower, upper) if s.prefix_tokens(name)}
        legend = legend_length(s)
        referenced = classes + [i for m in to_classes.values() for i in m.topk(legend, dim=1).indices.flatten().tolist()]
        values = {
            "picture": self.picture_of(image),
            "lower_maps": array(maps[lower]),
            "upper_maps": array(maps[upper]),
            "lower_prefix": array(prefix[lower]) if lower in prefix else {},
            "upper_prefix": array(prefix[upper]) if upper in prefix else {},
            "lower_prefix_labels": prefix_labels(s, lower),
            "upper_prefix_labels": prefix_labels(s, upper),
            "flow": array(attribution.layer_to_layer(s, image, lower, upper)),
            "lower_legend": top_entries(to_classes[lower], legend),
            "upper_legend": top_entries(to_classes[upper], legend),
            "class_names": class_names(s, referenced),
            "position": None,
            "upper_position": None,
        }
        return values, []
