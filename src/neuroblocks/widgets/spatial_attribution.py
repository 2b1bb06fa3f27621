"""Spatial attribution: two layers side by side, each with attribution maps over the image for
two classes (orange and blue). Hovering a cell of the higher layer shows which cells below fed
it; hovering a cell of the lower layer shows which cells above it feeds; a legend lists the
classes the hovered cell supports most (docs/views.md). Everything hover needs is in the browser; it
arrives in order of use: the class maps, the layer-to-layer flow, the legend ranked among the
top predicted classes, then among all classes (the all-class pass is the longest). Given units
of either layer (`units=`, e.g. a trained dictionary's latents), hovering a cell of that layer
also lists the units there that matter most to the two classes: each unit's attribution at each
position, d(class)/dz · z."""

from __future__ import annotations

from collections.abc import Iterator

import torch
import traitlets

from .. import attribution, faithfulness
from ..errors import NeuroblocksError
from ..images import ImageLike
from ..session import Session
from ..units import Units
from ..attribution.targets import check_order
from .base import Part, View
from .deletion_readout import readout
from .inputs import check_positions, class_names, default_layer, default_upper, legend_first, legend_length, prefix_labels, read_with_classes, unit_icons
from .payload import array, top_entries, unpack
from .traits import Array, TopEntries


class SpatialAttribution(View):
    """`layer` is the lower layer (its `position` is shared with other views), `upper` the
    higher (default: the suggested layers, see `inputs.default_layer`); `classes` two classes
    (default: the two the model scores highest)."""

    kind = traitlets.Unicode("spatial_attribution").tag(sync=True)
    upper = traitlets.Unicode("").tag(sync=True)
    upper_position = traitlets.Any(None, allow_none=True).tag(sync=True)
    classes = traitlets.List().tag(sync=True)  # two class indices
    lower_maps = Array("float32", 3, help="(2, H, W): the attribution of each position of the lower layer to each class")
    upper_maps = Array("float32", 3, help="(2, H, W): the same for the upper layer")
    lower_prefix = Array("float32", 2, help="(2, P): a token layer's prefix tokens' attribution, drawn beside the grid")
    upper_prefix = Array("float32", 2, help="(2, P): the same for the upper layer")
    lower_prefix_labels = traitlets.List().tag(sync=True)
    upper_prefix_labels = traitlets.List().tag(sync=True)
    flow = Array("float32", 2, help="(upper atoms, lower atoms): what each lower position feeds each upper one (positions, then prefix tokens)")
    lower_legend = TopEntries(help="per lower position, the classes it supports most")
    upper_legend = TopEntries(help="per upper position, the classes it supports most")
    legend_note = traitlets.Unicode("").tag(sync=True)  # which classes the legend ranks while the rest are coming
    class_names = traitlets.Dict().tag(sync=True)
    integration = traitlets.Unicode("").tag(sync=True)  # with steps=: how closely the maps sum to their logits' change
    faithfulness = traitlets.Dict().tag(sync=True)  # the lower maps' deletion curves (`deletion_readout`), once computed
    unit_layer = traitlets.Unicode("").tag(sync=True)  # the layer whose cells list units ("": none)
    noun = traitlets.Unicode("").tag(sync=True)  # what a listed unit is: the units' noun ("latent", …)
    unit_key = traitlets.Unicode("").tag(sync=True)  # icons of unit u are keyed f"{unit_key}:{u}"
    listed = TopEntries((2, 3), help="per position of the units' layer: its top units (P, n) and their attribution to each class (2, P, n)")
    inputs = ("image", "layer", "upper", "classes")

    #: units listed per position, drawn from the image's most important ones
    LISTED = 3
    VOCABULARY = 32

    def __init__(
        self, session: Session, image: ImageLike, layer: str | None = None, upper: str | None = None, classes=None, *,
        units: Units | None = None, steps: int | None = None, baseline: ImageLike | None = None, **options
    ) -> None:
        """units: units of `layer` or of `upper` (`neuroblocks.units`, e.g. a trained dictionary),
        which a hovered cell of their layer lists (while the view shows that layer). steps: the
        class maps integrated over that many steps from zero activations (or from `baseline`
        image's), as `attribution.spatial(steps=)`; the view says how closely they sum."""
        image, picked = read_with_classes(session, image, classes)
        if len(picked) != 2:
            raise NeuroblocksError(f"spatial attribution compares two classes; got {len(picked)}")
        layer = default_layer(session, layer)
        upper = default_upper(session, layer, upper)
        if units is not None and units.layer not in (layer, upper):
            raise NeuroblocksError(f"these are {units.description}, and {units.layer!r} is neither {layer!r} nor {upper!r}: pass it as one of them")
        self.units, self.steps, self.baseline = units, steps, None if baseline is None else session.read(baseline)
        if steps is None and baseline is not None:
            raise NeuroblocksError("baseline= is where the maps' integration path starts: give steps= too (e.g. steps=32)")
        super().__init__(session, image=image, layer=layer, upper=upper, classes=picked, **options)

    def _check(self) -> None:
        super()._check()
        s = self.session
        check_order(s, check_positions(s, self.layer), check_positions(s, self.upper))  # classes: resolved by __init__

    def _compute(self) -> Iterator[Part]:
        s, image, lower, upper = self.session, self.photo, self.layer, self.upper
        classes = [s.class_index(c) for c in self.classes]
        yield f"class maps of {lower} and {upper}" + (f", integrated over {self.steps} steps" if self.steps else "")
        # One gradient pass per class and layer gives its map and its prefix tokens' values.
        both, integration = self._maps(classes)
        maps = {name: torch.stack([grid for grid, _ in found]) for name, found in both.items()}
        prefix = {name: torch.stack([tokens for _, tokens in found]) for name, found in both.items() if s.prefix_tokens(name)}
        yield {
            "integration": integration,
            "faithfulness": {},
            "picture": self.picture_of(image),
            "lower_maps": array(maps[lower]),
            "upper_maps": array(maps[upper]),
            "lower_prefix": array(prefix[lower]) if lower in prefix else {},
            "upper_prefix": array(prefix[upper]) if upper in prefix else {},
            "lower_prefix_labels": prefix_labels(s, lower),
            "upper_prefix_labels": prefix_labels(s, upper),
            "flow": {},
            "lower_legend": {},
            "upper_legend": {},
            "legend_note": "",
            "class_names": class_names(s, classes),
            "position": None,
            "upper_position": None,
            "listed": {},
            "unit_layer": "",
        }, []
        units = self.units
        if units is not None and units.layer in (lower, upper):
            yield f"{units.noun}s of {units.layer} at each position"
            listed = self._listed(units, classes)
            yield listed
            vocabulary = sorted(set(unpack(listed[0]["listed"]["index"]).flatten().tolist()))
            yield from self.meaning(units, vocabulary, [f"{units.icon_key}:{u}" for u in vocabulary])
        yield f"layer-to-layer flow {lower} → {upper}"
        yield {"flow": array(attribution.layer_to_layer(s, image, lower, upper))}, []
        yield f"faithfulness: deletion curves of {lower}'s maps"
        found = [faithfulness.deletion(s, image, c, maps[lower][i]) for i, c in enumerate(classes)]
        yield {"faithfulness": readout(found, [s.class_name(c) for c in classes])}, []
        first = legend_first(s, image, classes)
        everything = len(first) == len(s.labels)
        yield f"legend: the {len(first)} top classes" if not everything else "legend"
        yield self._legend(first, "" if everything else f"among {len(first)} classes (the chosen two and the top predicted); all {len(s.labels)} are coming"), []
        if not everything:
            yield f"legend: all {len(s.labels)} classes"
            yield self._legend(None, ""), []

    def _maps(self, classes: list[int]) -> tuple[dict[str, list[tuple[torch.Tensor, torch.Tensor]]], str]:
        """Each layer's (map, prefix tokens' values) per class, and with `steps` what the view
        says of their completeness (the worst of the four)."""
        s, image, layers = self.session, self.photo, (self.layer, self.upper)
        if not self.steps:
            return {name: [attribution.spatial(s, image, name, c, prefix=True) for c in classes] for name in layers}, ""
        paths = {name: [attribution.integrated(s, image, name, c, self.steps, baseline=self.baseline) for c in classes] for name in layers}
        worst = max((p for found in paths.values() for p in found), key=lambda p: p.error)
        start = "the baseline image's activations" if self.baseline is not None else "zero activations"
        note = f"maps integrated over {self.steps} steps from {start}: each sums to its logit's change within {100 * worst.error:.1f}%"
        return {name: [(p.positions(s.layout(name)), p.prefix(s.layout(name))) for p in found] for name, found in paths.items()}, note

    def _listed(self, units: Units, classes: list[int]) -> Part:
        """Of the `VOCABULARY` units with the largest attribution to the two classes over the
        image, the `LISTED` that matter most at each position of their layer, and their icons
        (so every unit listed has one, on any model)."""
        maps = torch.stack([attribution.unit(self.session, self.photo, units, c, spatial=True) for c in classes])  # (2, K, H, W)
        vocabulary = maps.abs().sum((0, 2, 3)).topk(min(self.VOCABULARY, units.count)).indices  # most important first
        per_position = maps[:, vocabulary].flatten(2).permute(0, 2, 1)  # (2, P, V)
        rank = per_position.abs().sum(0).topk(min(self.LISTED, len(vocabulary)), dim=1).indices  # (P, n) into the vocabulary
        found = {"index": array(vocabulary[rank], "int32"), "value": array(per_position.gather(2, rank[None].expand(2, -1, -1)))}
        return {"listed": found, "unit_layer": units.layer, "noun": units.noun, "unit_key": units.icon_key}, unit_icons(units, vocabulary.tolist())

    def _legend(self, among: list[int] | None, note: str) -> dict:
        """Each position's top classes among `among` (None: all classes)."""
        s, legend, values = self.session, legend_length(self.session), {"legend_note": note}
        named = [s.class_index(c) for c in self.classes]
        for which, layer in (("lower", self.layer), ("upper", self.upper)):
            entries = top_entries(attribution.to_classes(s, self.photo, layer, classes=among), legend, among)
            values[f"{which}_legend"] = entries
            named += unpack(entries["index"]).flatten().tolist()
        values["class_names"] = class_names(s, named)
        return values
