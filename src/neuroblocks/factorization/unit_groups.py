"""An image's strongest units as neuron groups: unit u's part of the activations is its code map
times its atom, so the units with the largest total code on an image are groups (spatial factor
= code, direction = atom), and the groups' attribution (reconstruction × gradient, every class
in one pass per group) is d(target)/dz · z summed over positions, the attribution of a unit
(docs/explanations/dictionaries.md). Ablating such a group removes exactly the unit's part. A
trained dictionary's latents are the usual units here; any others serve."""

from __future__ import annotations

import torch

from ..images import ImageLike
from ..session import Session
from ..units import Units
from .groups import Groups, build_groups


def unit_groups(session: Session, image: ImageLike, units: Units, n: int = 6) -> Groups:
    """The `n` units with the largest total code on `image`, as groups ordered left to right;
    `error`: the relative error of the image's activations rebuilt from these units alone
    (plus the units' `offset`, a dictionary's decoder bias)."""
    a = session.trace(image, units.layer, logits=False)[units.layer].float()
    units.check(units.layer, tuple(a.shape))
    with torch.no_grad():
        z = units.codes(a)  # (K, H, W)
    strongest = z.flatten(1).sum(1).topk(min(n, units.count)).indices
    spatial, atoms = z[strongest], units.atoms.to(a)[strongest]
    rebuilt = torch.einsum("khw,kc->chw", spatial, atoms) + units.offset.to(a)[:, None, None]
    error = float((a - rebuilt).norm() / a.norm().clamp(min=1e-12))
    drawn = torch.stack([units.atoms[u] if units.icon_direction(u) is None else units.icon_direction(u) for u in strongest.tolist()])
    return build_groups(
        session, image, units.layer, a, spatial.flatten(1).T.cpu().numpy(), atoms.cpu().numpy(), strongest.cpu().numpy(), drawn,
        error=error, converged=True, method="units", prioritize="activations",
        found_by=f"the strongest {units.noun}s of {units.description}",
    )
