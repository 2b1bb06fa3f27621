"""Random baselines for attribution: is the attribution concentrated in a few units because the
units mean something, or would any basis do? Compare with random rotations of the basis."""

from __future__ import annotations

import torch

from ..attribution.gradient import activations_and_gradient
from ..attribution.targets import TargetLike
from ..images import ImageLike
from ..keywords import checked
from ..session import Session


def _share(values: torch.Tensor, k: int) -> float:
    """Share of the total |attribution| carried by the k largest entries."""
    magnitude = values.abs()
    return float(magnitude.topk(min(k, len(magnitude))).values.sum() / magnitude.sum().clamp(min=1e-30))


@checked
def concentration(session: Session, image: ImageLike, layer: str, target: TargetLike, k: int = 5, rotations: int = 20, seed: int = 0) -> tuple[float, list[float]]:
    """(share of |channel attribution| in the top k channels, the same share in `rotations`
    random orthonormal bases of the layer's activation space). Attribution to a basis vector d
    is (a·d)(g·d) summed over positions, so every basis explains the same total."""
    a, g = activations_and_gradient(session, image, layer, target)
    units = (a * g).flatten(1).sum(1)
    generator = torch.Generator().manual_seed(seed)
    shares = []
    for _ in range(rotations):
        q, _ = torch.linalg.qr(torch.randn(a.shape[0], a.shape[0], generator=generator, dtype=torch.float64))
        ra = torch.einsum("dc,c...->d...", q.to(a), a)
        rg = torch.einsum("dc,c...->d...", q.to(g), g)
        shares.append(_share((ra * rg).flatten(1).sum(1), k))
    return _share(units, k), shares
