"""Path-integrated gradients at a layer: the gradient averaged along the straight path from a
baseline to the actual activations (right Riemann sum), times their difference. The baseline is
zero activations or, given a baseline image, that image's activations, as Captum's
LayerIntegratedGradients does. The attributions then sum to the target's change from the
baseline (completeness); the Riemann sum leaves an error that shrinks with the steps, reported
with every result (docs/explanations/attribution.md)."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from .. import precision
from ..errors import AttributionError
from ..images import ImageLike
from ..keywords import checked
from ..layer_layout import LayerLayout
from ..session import Session
from . import tokens
from .gradient import above_fn, gradients_on
from .settings import settings
from .targets import TargetLike, resolve


@dataclass(frozen=True)
class Integrated:
    """delta: activations − baseline activations; gradient: the target's gradient averaged along
    the path; both like the layer (a token layer's as one row of every token, see `tokens`).
    change: the target at the activations minus at the baseline, which the attributions'
    total should equal; `error` says how far it is, relative to the change."""

    delta: torch.Tensor
    gradient: torch.Tensor
    change: float
    steps: int

    @property
    def attribution(self) -> torch.Tensor:
        return self.delta * self.gradient

    @property
    def total(self) -> float:
        return float(self.attribution.sum())

    @property
    def error(self) -> float:
        return abs(self.total - self.change) / max(abs(self.change), 1e-12)

    def positions(self, layout: LayerLayout) -> torch.Tensor:
        """(H, W): summed over channels at each position of the grid (a token layer's patches)."""
        return tokens.patches(self.attribution, layout).sum(0)

    def prefix(self, layout: LayerLayout) -> torch.Tensor:
        """(P,): each prefix token's, summed over channels ((0,) for a grid layer)."""
        return tokens.prefix(self.attribution, layout).sum(1)

    @property
    def note(self) -> str:
        """What a view says of it, e.g. "integrated over 32 steps: sums to 4.31 of the target's change 4.36 (1.1% off)"."""
        return f"integrated over {self.steps} steps: sums to {self.total:.3g} of the target's change {self.change:.3g} ({100 * self.error:.1f}% off)"


@checked
@gradients_on
def integrated(
    session: Session,
    image: ImageLike,
    layer: str,
    target: TargetLike,
    steps: int = 32,
    *,
    baseline: ImageLike | None = None,
    relax: bool = False,
    rule: str | None = None,
    batch: int = 25,
) -> Integrated:
    """The target's gradient at `layer` integrated over `steps` points of the straight path from
    zero activations (or `baseline` image's activations) to the image's, with its completeness:
    `.attribution` (delta × mean gradient), `.change` and `.error`. `spatial`, `channel` and `unit`
    take `steps=` and `baseline=` and sum it as they sum activation × gradient."""
    if steps < 1:
        raise AttributionError(f"steps is the number of points on the integration path, at least 1, not {steps}")
    layer, image = session.check_layer(layer), session.read(image)
    resolved = resolve(session, target, layer)
    f = above_fn(session.above(image, layer), relax, resolved, resolved.layers, rule)  # first: its pass caches `a`
    a = tokens.activations(session, image, layer)
    start_point = torch.zeros_like(a) if baseline is None else tokens.activations(session, baseline, layer)
    delta = a - start_point
    total = torch.zeros_like(a)
    with precision.applied(settings(session).precision):
        for first in range(1, steps + 1, batch):
            alphas = torch.arange(first, min(first + batch, steps + 1), dtype=a.dtype, device=a.device) / steps
            points = (start_point + alphas.view(-1, *[1] * a.dim()) * delta).requires_grad_()
            (grads,) = torch.autograd.grad(f(points).sum(), points)
            total += grads.sum(0)
        with torch.no_grad():
            ends = f(torch.stack([start_point, a]))
    return Integrated(delta, total / steps, float(ends[1] - ends[0]), steps)
