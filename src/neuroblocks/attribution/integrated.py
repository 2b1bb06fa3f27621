"""Path-integrated gradients at a layer: the gradient averaged along the straight path from a
baseline to the actual activations (right Riemann sum), times their difference. The baseline is
zero activations (docs/explanations/attribution.md) or, given a baseline image, that image's activations, as Captum's
LayerIntegratedGradients does. Attributions then sum to the target's change from the baseline."""

from __future__ import annotations

import torch

from .. import precision
from ..images import ImageLike
from ..session import Session
from . import tokens
from .gradient import above_fn
from .settings import settings
from .targets import TargetLike, resolve


def integrated_gradient(
    session: Session,
    image: ImageLike,
    layer: str,
    target: TargetLike,
    steps: int,
    *,
    baseline: ImageLike | None = None,
    relax: bool = False,
    rule: str | None = None,
    batch: int = 25,
) -> tuple[torch.Tensor, torch.Tensor]:
    """(activations − baseline activations, gradient averaged at n/steps along the path, n = 1…steps),
    a token layer's as one row of every token (see `tokens`)."""
    if steps < 1:
        raise ValueError(f"steps must be at least 1, not {steps}")
    layer, image = session.check_layer(layer), session.read(image)
    resolved = resolve(session, target, layer)
    a = tokens.activations(session, image, layer)
    start_point = torch.zeros_like(a) if baseline is None else tokens.activations(session, baseline, layer)
    delta = a - start_point
    f = above_fn(session.above(image, layer), relax, resolved, resolved.layers, rule)
    total = torch.zeros_like(a)
    with precision.applied(settings(session).precision):
        for first in range(1, steps + 1, batch):
            alphas = torch.arange(first, min(first + batch, steps + 1), dtype=a.dtype, device=a.device) / steps
            points = (start_point + alphas.view(-1, *[1] * a.dim()) * delta).requires_grad_()
            (grads,) = torch.autograd.grad(f(points).sum(), points)
            total += grads.sum(0)
    return delta, total / steps
