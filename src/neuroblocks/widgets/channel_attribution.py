"""Channel attribution: the channels that most support and most oppose a class (or a class
difference), as icons with values. Hovering a channel shows its activation over the image and
the classes it supports most; clicking it drills down and up: which channels of the layer below
fed it, which channels of the layer above it feeds (docs/views.md). The drill is computed on click,
the only step here that asks the kernel. The channels and their maps come first, the classes
each supports after. Given other units of the layer (`units=`: a trained dictionary's latents,
directions, groups) the entries are those units (attribution d(target)/dz · z, maps their
codes, switches that ablate their parts); the drill-down then lists the channels below that
fed a unit and the channels above that its part feeds."""

from __future__ import annotations

from collections.abc import Iterator

import torch
import traitlets

from .. import attribution, faithfulness
from ..ablation import ablate
from ..featurevis import objectives
from ..errors import NeuroblocksError
from ..images import ImageLike
from ..session import Session
from ..units import Units
from ..work import Job
from .base import Part, View, Wanted
from .deletion_readout import readout
from .inputs import class_names, default_layer, legend_length, neighbours, shown_units, spatial_cube, target_of, unit_icons, units_layer
from .payload import array, top_entries, unpack
from .traits import Array, TopEntries

DRILL = 6  # channels listed below and above a clicked one


def _describe(session: Session, target) -> str:
    if isinstance(target, tuple):
        return f"{session.class_name(target[0])} − {session.class_name(target[1])}"
    return session.class_name(target)


class ChannelAttribution(View):
    """`top` channels for and `top` against `target` (default: the top class); `focus` is the
    clicked channel, whose drill-down lands in `drill`."""

    kind = traitlets.Unicode("channel_attribution").tag(sync=True)
    needs_grid = True
    top = traitlets.Int(8).tag(sync=True)
    target_label = traitlets.Unicode("").tag(sync=True)
    values = Array("float32", 1, help="(K,): the attribution of every unit")
    shown = Array("int32", 1, help="(n,): the units on display, most for first, then most against")
    maps = Array("float32", 3, help="(n, H, W): each shown unit's code over the image")
    channel_classes = TopEntries(help="per shown unit, the classes it supports most")
    class_names = traitlets.Dict().tag(sync=True)
    focus = traitlets.Int(None, allow_none=True).tag(sync=True)
    drill = traitlets.Dict().tag(sync=True)
    ablated = traitlets.List(traitlets.Int()).tag(sync=True)  # units switched off (docs/guides/faithfulness.md)
    logits = Array("float32", 1, help="(classes,): the logits with the ablation in force")
    base_logits = Array("float32", 1, help="(classes,): the logits without it")
    target_classes = traitlets.List().tag(sync=True)  # [class] or [a, b] of the resolved target
    noun = traitlets.Unicode("channel").tag(sync=True)  # what an entry is: the units' noun ("channel", "latent", …)
    unit_key = traitlets.Unicode("").tag(sync=True)  # icons of entry u are keyed f"{unit_key}:{u}"
    found_by = traitlets.Unicode("").tag(sync=True)  # the given units' description ("" for the layer's channels)
    integration = traitlets.Unicode("").tag(sync=True)  # with steps=: how closely the values sum to the target's change
    faithfulness = traitlets.Dict().tag(sync=True)  # the values' deletion curve (`deletion_readout`), once computed
    inputs = ("image", "layer", "target", "top", "ablated")

    def __init__(
        self, session: Session, image: ImageLike, layer: str | None = None, target=None, *, top: int = 8, units: Units | None = None,
        steps: int | None = None, baseline: ImageLike | None = None, **options
    ) -> None:
        """units: units of a layer (`neuroblocks.units`, e.g. a trained dictionary); while the view
        shows their layer, the entries are those units (another layer, reached by a drill-down,
        shows its channels). steps: the values integrated over that many steps from zero
        activations (or from `baseline` image's), as `attribution.unit(steps=)`."""
        self._refocus: int | None = None
        self._drilling: Job | None = None
        self.units, self.steps, self.baseline = units, steps, None if baseline is None else session.read(baseline)
        if steps is None and baseline is not None:
            raise NeuroblocksError("baseline= is where the values' integration path starts: give steps= too (e.g. steps=32)")
        layer = default_layer(session, units_layer(layer, units))
        super().__init__(session, image=image, layer=layer, target=target, top=top, **options)
        self.observe(lambda change: self._drill(), names=["focus"])
        # Switched-off units are units of one layer: a new layer starts with all on.
        self.observe(lambda change: setattr(self, "ablated", []), names=["layer"])

    def _check(self) -> None:
        super()._check()
        if self.target is not None:
            target_of(self.session, self.photo, self.target)

    def _entries(self) -> Units:
        """The entries: the given units while the view shows their layer, else its channels."""
        return shown_units(self.session, self.layer, self.units)

    def _compute(self) -> Iterator[Part]:
        s, image, layer, units = self.session, self.photo, self.layer, self._entries()
        yield f"{units.noun} attribution of {layer}"
        base = s.trace(image).logits
        target = target_of(s, image, self.target)  # the top class without ablation: it must not move
        if self.ablated:
            # Computed whole: the ablation holds the session, so no other view's step may run inside it.
            with ablate(s, layer, self.ablated, units=units):
                parts = list(self._attribute(s, image, layer, base, target))
            yield from parts
        else:
            yield from self._attribute(s, image, layer, base, target)

    def _attribute(self, s: Session, image: ImageLike, layer: str, base: torch.Tensor, target) -> Iterator[Part]:
        units = self._entries()
        codes = units.codes(spatial_cube(s, image, layer).float())
        values = attribution.unit(s, image, units, target, steps=self.steps, baseline=self.baseline)
        n = max(1, min(self.top, len(values)))
        # Switched-off units stay on show (at zero), so they can be switched back on.
        shown = list(dict.fromkeys(values.topk(n).indices.tolist() + (-values).topk(n).indices.tolist() + list(self.ablated)))
        legend = legend_length(s)
        logits = s.trace(image).logits
        referenced = [*(target if isinstance(target, tuple) else (target,)), *logits.topk(legend).indices.tolist()]
        result = {
            "picture": self.picture_of(image),
            "target_label": _describe(s, target),
            "values": array(values),
            "shown": array(torch.tensor(shown), "int32"),
            "maps": array(codes[shown]),
            "channel_classes": {},
            "class_names": class_names(s, referenced),
            "focus": self._refocus,
            "drill": {},
            "logits": array(logits),
            "target_classes": list(target) if isinstance(target, tuple) else [target],
            "base_logits": array(base),
            "unit": None,
            "noun": units.noun,
            "unit_key": units.icon_key,
            "found_by": units.description if units is self.units else "",
            "integration": self._integration(target),
            "faithfulness": {},
        }
        self._refocus = None
        yield result, unit_icons(units, shown)
        yield from self.meaning(units, shown, [f"{units.icon_key}:{u}" for u in shown])
        probed = target[0] if isinstance(target, tuple) else target
        yield f"faithfulness: deletion of {units.noun}s by their values"
        found = faithfulness.unit_deletion(s, image, probed, values, layer, units=units)
        yield {"faithfulness": readout([found], [s.class_name(probed)])}, []
        yield f"the classes each {units.noun} supports"
        to_classes = attribution.to_classes(s, image, layer, units, only=shown)
        referenced += to_classes.topk(legend, dim=1).indices.flatten().tolist()
        yield {"channel_classes": top_entries(to_classes, legend), "class_names": class_names(s, referenced)}, []

    def _integration(self, target) -> str:
        """With `steps`: how closely the integrated values sum to the target's change."""
        if not self.steps:
            return ""
        path = attribution.integrated(self.session, self.photo, self.layer, target, self.steps, baseline=self.baseline)
        start = "the baseline image's activations" if self.baseline is not None else "zero activations"
        return f"values integrated over {self.steps} steps from {start}: they sum to the target's change within {100 * path.error:.1f}%"

    def strongest(self, n: int = 1, against: bool = False) -> list[int]:
        """The n units most for the target (or most against it), strongest first (once computed)."""
        self.wait()
        values = torch.from_numpy(unpack(self.values).copy())
        return (-values if against else values).topk(min(n, len(values))).indices.tolist()

    def _drill(self) -> None:
        """Trace the focused channel: the channels below that fed it come first, then those
        above it feeds (a new focus cancels a trace under way)."""
        if self._drilling is not None:
            self._drilling.cancel()
        c = self.focus
        if c is None:
            self._drilling = None
            self.drill = {}
            return
        self._drilling = self._launch(lambda: self._trace(c), f"tracing {self._entries().noun} {c}…")

    def _trace(self, c: int) -> Iterator[Part]:
        s, image, layer, units = self.session, self.photo, self.layer, self._entries()
        below, above = neighbours(s, layer)
        found: dict = {"channel": c, "layer": layer}
        name = f"{units.noun} {c}"
        if below is not None:
            yield f"channels of {below} that fed {name}"
            wanted: Wanted = []
            fed = attribution.channel(s, image, below, attribution.Hidden(layer, lambda h: units.summed(h)[:, c]))
            found["below"] = _strongest(below, fed, wanted)
            yield {"drill": dict(found)}, wanted
        if above is not None:
            yield f"channels of {above} that {name} feeds"
            wanted = []
            feeds = attribution.layer_to_layer(s, image, layer, above, units, only=[c])[:, 0]
            found["above"] = _strongest(above, feeds, wanted)
            yield {"drill": dict(found)}, wanted
        if below is None and above is None:
            yield {"drill": found}, []

    def on_goto(self, content: dict) -> None:
        """A channel of the drill-down was clicked: show its layer, with it in focus."""
        self._refocus = int(content["channel"])
        if content["layer"] == self.layer:
            self.focus = self._refocus
        else:
            self.layer = str(content["layer"])


def _strongest(layer: str, values: torch.Tensor, wanted: Wanted) -> dict:
    """The channels of `layer` with the largest values, adding their icons to `wanted`."""
    order = values.topk(min(DRILL, len(values))).indices
    wanted += [(f"{layer}:{int(k)}", objectives.channel(layer, int(k))) for k in order.tolist()]
    return {"layer": layer, "channels": array(order, "int32"), "values": array(values[order])}
