"""Groups that compose across layers, and how much each group feeds each group above (docs/explanations/neuron-groups.md).

Going down from the highest layer: every lower neuron's activation is split into N shares, one
per higher group, in proportion to the neuron's absolute attribution to that group; the
(positions × channels·N) matrix of shares is factorised, and the N copies of each channel are
summed back into one direction. Lower groups then tend to feed one higher group each, which is
what makes the Sankey diagram readable. A higher group is measured by the dot product of its
layer's activations with its direction, weighted by its spatial factor.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch

from .. import attribution_rules as rules
from .. import precision
from ..attribution.targets import check_order
from ..attribution.settings import settings as attribution_settings
from ..images import ImageLike
from ..keywords import checked
from ..session import Session
from ..units import Parts
from .groups import Groups, activation_directions, build_groups
from .methods import factorise
from .one_layer import factorize


@dataclass(frozen=True)
class Flow:
    """Groups of several layers (lowest first) and `flow[i]`: (groups of layers[i+1], groups of
    layers[i]), the attribution of each lower group to each higher group's measure."""

    layers: list[str]
    groups: list[Groups]
    flow: list[torch.Tensor]
    compatible: bool

    def concentration(self) -> list[float]:
        """Per pair of layers: mean over higher groups of the share of their largest feeder."""
        shares = []
        for m in self.flow:
            magnitude = m.abs()
            shares.append(float((magnitude.max(1).values / magnitude.sum(1).clamp(min=1e-30)).mean()))
        return shares


def _group_gradients(session: Session, image: ImageLike, lower: str, higher: Groups) -> tuple[torch.Tensor, torch.Tensor]:
    """(lower activations (C, H, W), gradient of each higher group's measure (N, C, H, W))."""
    a = session.trace(image, lower, logits=False)[lower]
    n = higher.spatial.shape[0]
    copies = a.expand(n, *a.shape).clone().requires_grad_()
    with precision.applied(attribution_settings(session).precision):
        with rules.applied(attribution_settings(session).rule):
            h = session.above(image, lower)(copies, capture=[higher.layer], stop=True).activations[higher.layer]
        weights = higher.reconstruction()  # (N, C2, H2, W2): direction × spatial factor, row j for group j
        (grads,) = torch.autograd.grad((h * weights).sum(), copies)
    return a, grads


def _compatible(session, image, lower: str, k: int, a: torch.Tensor, grads: torch.Tensor, seed: int) -> Groups:
    n = grads.shape[0]
    attribution = (a * grads).abs()
    total = attribution.sum(0, keepdim=True)
    shares = torch.where(total > 0, attribution / total.clamp(min=1e-30), torch.full_like(attribution, 1.0 / n))
    split = (a[None] * shares).permute(2, 3, 1, 0).reshape(a.shape[1] * a.shape[2], a.shape[0] * n)  # columns (c, j)
    signed = bool(split.min() < 0)  # a signed layer (a residual stream): its two parts side by side, as `factorize` does
    x = torch.cat([split.clamp(min=0), (-split).clamp(min=0)], dim=1) if signed else split
    spatial, components, error, converged = factorise(x.double().cpu().numpy(), k, "nmf", seed=seed)
    if signed:
        directions = activation_directions(a.flatten(1).T.double().cpu().numpy(), spatial, nonnegative=False)
    else:
        directions = components.reshape(k, a.shape[0], n).sum(2)
    return build_groups(
        session, image, lower, a, spatial, directions, error=error, converged=converged, method="nmf", prioritize="compatible", split_signs=signed
    )


@checked
def factorize_layers(
    session: Session, image: ImageLike, layers: Sequence[str], n_groups: int | Sequence[int] = 6, *, compatible: bool = True, seed: int = 0
) -> Flow:
    """Factorise several layers of one image; `compatible=False` factorises each on its own."""
    layers = [session.check_layer(layer) for layer in layers]
    for lower, higher in zip(layers, layers[1:]):
        check_order(session, lower, higher)
    counts = [n_groups] * len(layers) if isinstance(n_groups, int) else list(n_groups)
    found = {layers[-1]: factorize(session, image, layers[-1], counts[-1], seed=seed)}
    flows = []
    for i in range(len(layers) - 2, -1, -1):
        lower, higher = layers[i], found[layers[i + 1]]
        a, grads = _group_gradients(session, image, lower, higher)
        found[lower] = _compatible(session, image, lower, counts[i], a, grads, seed) if compatible else factorize(session, image, lower, counts[i], seed=seed)
        below = found[lower]
        flows.insert(0, Parts(below.spatial, below.channels).reduce(a, grads).detach())
    return Flow(layers=layers, groups=[found[layer] for layer in layers], flow=flows, compatible=compatible)
