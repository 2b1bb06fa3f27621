"""A dictionary's latents on one image as neuron groups: latent m's part of the activations is its
code map times its atom, so the strongest latents of an image are groups (spatial factor = code,
direction = atom) and the groups' attribution (reconstruction × gradient, every class in one
pass per group) is d(target)/d(z)·z summed over positions, the attribution docs/explanations/dictionaries.md gives for a
latent. Ablating such a group removes exactly the latent's part."""

from __future__ import annotations

import torch

from ..factorization.groups import Groups, build_groups
from ..images import ImageLike
from ..session import Session
from .dictionary import Dictionary


def latent_groups(session: Session, image: ImageLike, d: Dictionary, n: int = 6) -> Groups:
    """The `n` latents with the largest total code on `image`, as groups ordered left to right;
    `error`: the relative error of the image's activations rebuilt from these latents alone
    (plus the dictionary's bias)."""
    a = session.trace(image, d.layer, logits=False)[d.layer].float()
    z = d.codes(a)  # (M, H, W)
    strongest = z.flatten(1).sum(1).topk(min(n, d.latents)).indices
    spatial, atoms = z[strongest], d.atoms.to(a)[strongest]
    rebuilt = torch.einsum("khw,kc->chw", spatial, atoms) + (d.sae.b_dec.detach().to(a) / d.scale)[:, None, None]
    error = float((a - rebuilt).norm() / a.norm().clamp(min=1e-12))
    return build_groups(
        session, image, d.layer, a, spatial.flatten(1).T.cpu().numpy(), atoms.cpu().numpy(), strongest.cpu().numpy(),
        error=error, converged=True, method="dictionary", prioritize="activations",
        found_by=f"the strongest latents of {d.description}",
    )
