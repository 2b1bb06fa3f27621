"""Layers that end in a clamp are optimised on the value the clamp receives.

ReLU6 (every block of MobileNetV2), hardtanh and hardsigmoid stop at a ceiling; past it no
gradient flows. An icon whose unit reaches the ceiling
everywhere (MobileNetV2's `features.18` reaches exactly 6.0) then stops improving and stays a
low-contrast blur. So when the layer an objective reads is such a clamp, or a `Sequential`
(torchvision's Conv-BN-activation blocks) whose last module is one, rendering optimises the
clamp's input instead: the same unit, unclamped, which keeps rising past the ceiling and sharpens
the picture. The icon's cache key and description say so (`note`). A floor alone (hardswish,
ReLU) is no ceiling and is read as it is: its redirected gradient (`redirected`) helps units that
start off. Clamps called as functions inside a module's own `forward` are not seen.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import ExitStack, contextmanager

import torch
from torch import nn

from ..session import Session

#: Modules whose output stops at a ceiling (ReLU6 is a Hardtanh).
CLAMPS = (nn.Hardtanh, nn.Hardsigmoid)


def trailing_clamp(session: Session, layer: str) -> str | None:
    """The clamp module `layer` ends in: the layer itself, or a Sequential's last module, recursively; else None."""
    name, module = layer, session.model.get_submodule(layer)
    while not isinstance(module, CLAMPS):
        if not isinstance(module, nn.Sequential) or len(module) == 0:
            return None
        last = list(module._modules)[-1]
        name, module = f"{name}.{last}" if name else last, module[-1]
    return name


def clamped(session: Session, layers: Iterable[str]) -> dict[str, nn.Module]:
    """The layers among `layers` that end in a clamp, each with its clamp module."""
    known = set(session.layers)
    found = {layer: trailing_clamp(session, layer) for layer in sorted(layers) if layer in known}
    return {layer: session.model.get_submodule(clamp) for layer, clamp in found.items() if clamp is not None}


def note(session: Session, layers: Iterable[str]) -> str:
    """How the clamped ones among `layers` are read, e.g. "features.18 read before its ReLU6"; empty if none."""
    return "; ".join(f"{layer} read before its {type(clamp).__name__}" for layer, clamp in clamped(session, layers).items())


@contextmanager
def before_clamps(session: Session, clamps: dict[str, nn.Module]) -> Iterator[dict[str, torch.Tensor]]:
    """Within this block, which holds the session's lock (no other thread's pass sees the hooks),
    passes record what each clamp of `clamps` (see `clamped`) receives, in its layer's canonical
    layout, into the dict it yields (layer → batch)."""
    seen: dict[str, torch.Tensor] = {}

    def recorder(layer: str):
        layout = session.layout(layer)

        def hook(module, inputs):
            seen[layer] = layout.to_canonical(inputs[0].clone())  # a copy: an in-place clamp overwrites its input

        return hook

    with session.lock, ExitStack() as stack:
        for layer, clamp in clamps.items():
            stack.callback(clamp.register_forward_pre_hook(recorder(layer)).remove)
        yield seen
