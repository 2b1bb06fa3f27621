"""Channel attribution: the channels that most support and most oppose a class (or a class
difference), as icons with values. Hovering a channel shows its activation over the image and
the classes it supports most; clicking it drills down and up: which channels of the layer below
fed it, which channels of the layer above it feeds (SPEC §5). The drill is computed on click,
the only step here that asks the kernel. The channels and their maps come first, the classes
each supports after."""

from __future__ import annotations

from collections.abc import Iterator

import torch
import traitlets

from .. import attribution
from ..ablation import ablate
from ..featurevis import objectives
from ..images import ImageLike
from ..session import Session
from ..work import Job
from .base import Part, View, Wanted
from .inputs import class_names, default_layer, legend_length, neighbours, spatial_cube, target_of
from .payload import array, decode, top_entries

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
    values = traitlets.Dict().tag(sync=True)  # (C,) attribution of every channel
    shown = traitlets.Dict().tag(sync=True)  # int32 (n,): channels on display, most for first, then most against
    maps = traitlets.Dict().tag(sync=True)  # (n, H, W): activation of each shown channel
    channel_classes = traitlets.Dict().tag(sync=True)  # top classes per shown channel
    class_names = traitlets.Dict().tag(sync=True)
    focus = traitlets.Int(None, allow_none=True).tag(sync=True)
    drill = traitlets.Dict().tag(sync=True)
    ablated = traitlets.List(traitlets.Int()).tag(sync=True)  # channels switched off (SPEC §6)
    logits = traitlets.Dict().tag(sync=True)  # (classes,) with the ablation in force
    base_logits = traitlets.Dict().tag(sync=True)  # (classes,) without it
    target_classes = traitlets.List().tag(sync=True)  # [class] or [a, b] of the resolved target
    inputs = ("image", "layer", "target", "top", "ablated")

    def __init__(self, session: Session, image: ImageLike, layer: str | None = None, target=None, *, top: int = 8, **options) -> None:
        self._refocus: int | None = None
        self._drilling: Job | None = None
        super().__init__(session, image=image, layer=default_layer(session, layer), target=target, top=top, **options)
        self.observe(lambda change: self._drill(), names=["focus"])
        # Switched-off channels are channels of one layer: a new layer starts with all on.
        self.observe(lambda change: setattr(self, "ablated", []), names=["layer"])

    def _check(self) -> None:
        super()._check()
        if self.target is not None:
            target_of(self.session, self.photo, self.target)

    def _compute(self) -> Iterator[Part]:
        s, image, layer = self.session, self.photo, self.layer
        yield f"channel attribution of {layer}"
        base = s.trace(image).logits
        target = target_of(s, image, self.target)  # the top class without ablation: it must not move
        if self.ablated:
            # Computed whole: the ablation holds the session, so no other view's step may run inside it.
            with ablate(s, layer, channels=self.ablated):
                parts = list(self._attribute(s, image, layer, base, target))
            yield from parts
        else:
            yield from self._attribute(s, image, layer, base, target)

    def _attribute(self, s: Session, image: ImageLike, layer: str, base: torch.Tensor, target) -> Iterator[Part]:
        a = spatial_cube(s, image, layer)
        values = attribution.channel(s, image, layer, target)
        n = max(1, min(self.top, len(values)))
        # Switched-off channels stay on show (at zero), so they can be switched back on.
        shown = list(dict.fromkeys(values.topk(n).indices.tolist() + (-values).topk(n).indices.tolist() + list(self.ablated)))
        legend = legend_length(s)
        logits = s.trace(image).logits
        referenced = [*(target if isinstance(target, tuple) else (target,)), *logits.topk(legend).indices.tolist()]
        result = {
            "picture": self.picture_of(image),
            "target_label": _describe(s, target),
            "values": array(values),
            "shown": array(torch.tensor(shown), "int32"),
            "maps": array(a[shown]),
            "channel_classes": {},
            "class_names": class_names(s, referenced),
            "focus": self._refocus,
            "drill": {},
            "logits": array(logits),
            "target_classes": list(target) if isinstance(target, tuple) else [target],
            "base_logits": array(base),
            "channel": None,
        }
        self._refocus = None
        yield result, [(f"{layer}:{c}", objectives.channel(layer, c)) for c in shown]
        yield "the classes each channel supports"
        to_classes = attribution.to_classes(s, image, layer, "channels", only=shown)
        referenced += to_classes.topk(legend, dim=1).indices.flatten().tolist()
        yield {"channel_classes": top_entries(to_classes, legend), "class_names": class_names(s, referenced)}, []

    def strongest(self, n: int = 1, against: bool = False) -> list[int]:
        """The n channels most for the target (or most against it), strongest first (once computed)."""
        self.wait()
        values = torch.from_numpy(decode(self.values).copy())
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
        self._drilling = self._launch(lambda: self._trace(c), f"tracing channel {c}…")

    def _trace(self, c: int) -> Iterator[Part]:
        s, image, layer = self.session, self.photo, self.layer
        below, above = neighbours(s, layer)
        found: dict = {"channel": c, "layer": layer}
        if below is not None:
            yield f"channels of {below} that fed channel {c}"
            wanted: Wanted = []
            fed = attribution.channel(s, image, below, attribution.Hidden(layer, lambda h: h[:, c].flatten(1).sum(1)))
            found["below"] = _strongest(below, fed, wanted)
            yield {"drill": dict(found)}, wanted
        if above is not None:
            yield f"channels of {above} that channel {c} feeds"
            wanted = []
            feeds = attribution.layer_to_layer(s, image, layer, above, "channels", only=[c])[:, 0]
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
    wanted += [(f"{layer}:{int(k)}", objectives.channel(layer, int(k))) for k in order]
    return {"layer": layer, "channels": array(order, "int32"), "values": array(values[order])}
