"""Group flow: neuron groups of several layers, factorised to be compatible, drawn as a Sankey
diagram in which each band is how much a lower group feeds a higher one (docs/explanations/neuron-groups.md)."""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import traitlets

from ..errors import NeuroblocksError
from ..factorization import factorize_layers
from ..featurevis import objectives
from ..images import ImageLike
from ..session import Session
from .base import Part, View
from .payload import array


class GroupFlow(View):
    """`layers` lowest first; `layer` is the highest, so `group` selects one of its groups;
    `node` = [layer index, group] is whichever node is hovered."""

    kind = traitlets.Unicode("group_flow").tag(sync=True)
    needs_grid = True
    layers = traitlets.List().tag(sync=True)
    k = traitlets.Int(4).tag(sync=True)
    compatible = traitlets.Bool(True).tag(sync=True)
    columns = traitlets.List().tag(sync=True)  # per layer: {layer, masks (k, H, W), colors}; groups' labels in `unit_labels`
    flows = traitlets.List().tag(sync=True)  # per pair of layers: (higher groups, lower groups)
    node = traitlets.Any(None, allow_none=True).tag(sync=True)
    inputs = ("image", "layers", "k", "compatible")

    def __init__(self, session: Session, image: ImageLike, layers: Sequence[str], k: int = 4, *, compatible: bool = True, **options) -> None:
        if len(layers) < 2:
            raise NeuroblocksError(f"a group flow needs at least two layers, lowest first; got {list(layers)!r}")
        super().__init__(session, image=image, layers=list(layers), layer=layers[-1], k=k, compatible=compatible, **options)

    def _compute(self) -> Iterator[Part]:
        s = self.session
        yield f"{self.k} groups in each of {len(self.layers)} layers and the flow between them"
        flow = factorize_layers(s, self.photo, self.layers, self.k, compatible=self.compatible)
        columns, wanted = [], []
        for groups in flow.groups:
            columns.append({"layer": groups.layer, "masks": array(groups.masks), "colors": array(groups.colors, "uint8")})
            wanted += [(f"{groups.layer}:g{n}", objectives.direction(groups.layer, v)) for n, v in enumerate(groups.channels)]
        values = {
            "picture": self.picture_of(self.photo),
            "columns": columns,
            "flows": [array(m) for m in flow.flow],
            "layer": self.layers[-1],
            "group": None,
            "node": None,
        }
        yield values, wanted
        yield from self.meanings(((g, list(range(g.count)), [f"{g.layer}:g{n}" for n in range(g.count)], g.to_classes) for g in flow.groups), labels=True)
