"""What a factorization describes: the (positions × channels) matrix built from activations,
gradients, attributions or a weighted mix of them (docs/explanations/neuron-groups.md).

Gradients and attributions have both signs while NMF needs non-negative input, so a signed
matrix is split into its positive and negative parts, side by side as separate columns. Groups
found that way get their channel directions by fitting the activations onto their spatial
factors (see `groups.activation_directions`), so every group lives in activation space.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Union

import torch

from ..attribution.gradient import activations_and_gradient
from ..attribution.targets import TargetLike
from ..errors import NeuroblocksError
from ..images import ImageLike
from ..session import Session

SOURCES = ("activations", "gradients", "attributions")
Prioritize = Union[str, Mapping[str, float]]


def _weights(prioritize: Prioritize) -> dict[str, float]:
    weights = {prioritize: 1.0} if isinstance(prioritize, str) else dict(prioritize)
    unknown = [k for k in weights if k not in SOURCES]
    if unknown or not weights:
        raise NeuroblocksError(f"prioritize is one of {', '.join(SOURCES)}, or a mapping of them to weights; got {prioritize!r}")
    return weights


def source_cube(session: Session, image: ImageLike, layer: str, prioritize: Prioritize, target: TargetLike | None) -> tuple[torch.Tensor, torch.Tensor]:
    """(activations (C, H, W), the cube to factorise (C, H, W)).

    A mix weighs each source after scaling it to unit norm, so weights compare sources, not units.
    """
    weights = _weights(prioritize)
    a = session.trace(image, layer, logits=False)[layer]
    if a.dim() != 3:
        raise NeuroblocksError(f"layer {layer!r} has no spatial dimensions (shape {tuple(a.shape)}); factorise a convolutional layer")
    if set(weights) == {"activations"}:
        return a, a
    if target is None:
        target = int(session.trace(image).logits.argmax())
    _, g = activations_and_gradient(session, image, layer, target)
    parts = {"activations": a, "gradients": g, "attributions": a * g}
    if len(weights) == 1:
        return a, parts[next(iter(weights))]
    return a, sum(w * parts[name] / parts[name].norm().clamp(min=1e-30) for name, w in weights.items())


def as_matrix(cube: torch.Tensor) -> tuple[torch.Tensor, bool]:
    """(positions × columns) matrix, and whether it was split into positive and negative parts."""
    x = cube.flatten(1).T  # (H·W, C)
    if x.min() >= 0:
        return x, False
    return torch.cat([x.clamp(min=0), (-x).clamp(min=0)], dim=1), True
