"""The network above one layer for one image, as a function of that layer's activations: what
attribution and every layer-to-layer computation differentiate (docs/explanations/session.md).
One is made per (image, layer) while the weights and layer edits stay as they are, so maps for
several targets, views and calls on one image share one pass below the layer."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterable

import torch

from . import forward as fw
from .decoded import Decoded


class Above:
    """The part of the network above one layer, for one image: activations → logits.

    Everything that finishes before the layer starts is replayed from one recording, so a
    call costs only the work above the layer, whatever the architecture.
    """

    def __init__(self, session: "Session", image: Decoded, layer: str) -> None:  # noqa: F821 (the Session makes it)
        self.session, self.layer = session, layer
        self._x = session.model_input(image.pixels[None])
        modules = session.catalogue.modules
        with session.lock:
            # The image's first pass to the layer records what lies below it too; a pass is run
            # for the recording alone only when the layer's activations were already cached.
            with fw.recording_below(modules, layer) as recorded:
                trace = session.trace(image, layer, logits=False)
            self._frozen = recorded or fw.record_below(session.model, modules, self._x, layer)
        self.shape = tuple(trace[layer].shape)
        #: A token layer's own prefix tokens (P, C), used where a call gives none.
        self.prefix = trace.prefixes.get(layer)

    def __call__(self, activations: torch.Tensor, *, prefix: torch.Tensor | None = None, capture: Iterable[str] = (), stop: bool = False) -> fw.Pass:
        """Run with `activations` (N, *shape) as the layer's output, and for a token layer
        `prefix` (N, P, C) as its prefix tokens (default: the image's own); gradients flow to both."""
        if tuple(activations.shape[1:]) != self.shape:
            raise ValueError(f"activations of {self.layer!r} have shape (N, {', '.join(map(str, self.shape))}), not {tuple(activations.shape)}")
        capture = [self.session.check_layer(layer) for layer in capture]
        x = self._x.expand(activations.shape[0], *self._x.shape[1:])
        layouts = self.session.catalogue.layouts([*capture, self.layer])
        args = dict(
            capture=capture, replace={self.layer: activations}, stop=stop, frozen=self._frozen, layouts=layouts,
            replace_prefixes={self.layer: self.prefix[None] if prefix is None else prefix} if self.prefix is not None else None,
            structured=self.session.structured, logits_of=self.session.logits_of,
        )
        with self.session.lock:
            try:
                return fw.run(self.session.model, self.session.catalogue.modules, x, **args)
            except RuntimeError as e:
                if "single memory location" not in str(e):
                    raise
                # The model writes in place into a replayed output: serve copies instead.
                return fw.run(self.session.model, self.session.catalogue.modules, x, copy_frozen=True, **args)


#: recordings kept per session: the layers of the images on screen
KEPT = 8


def above_of(session: "Session", image: Decoded, layer: str) -> Above:  # noqa: F821
    """The session's `Above` for `image` at `layer`: made on first use, then served while the
    weights and layer edits (`session.fingerprint`) are unchanged; the `KEPT` latest are kept."""
    kept: OrderedDict = session.state("above", lambda s: OrderedDict())
    key = (session.fingerprint, image.digest, tuple(image.pixels.shape), layer)
    with session.lock:
        if key in kept:
            kept.move_to_end(key)
            return kept[key]
        made = kept[key] = Above(session, image, layer)
        while len(kept) > KEPT:
            kept.popitem(last=False)
        return made
