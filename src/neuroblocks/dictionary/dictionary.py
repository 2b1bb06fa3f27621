"""A trained dictionary of one layer: its latents are atoms like channels and neuron groups.

A latent m has two directions in the layer's space: its encoder row (what detects it; its
feature-visualization icon) and its decoder atom (what it writes). On one image its code at
each position times its atom is its part of the activations, so a latent on an image is a
neuron group (spatial map = code, direction = atom) and everything built for groups (attribution
to every class, ablation, icons) takes latents as they are (docs/explanations/dictionaries.md).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace

import torch

from ..units import Units
from .sae import SparseAutoencoder


@dataclass(frozen=True)
class Settings:
    """How a dictionary is trained; with the model, layer and training vectors, its cache key."""

    expansion: int = 8
    k: int = 16
    encoder: str = "topk"
    epochs: int = 10
    batch: int = 256
    lr: float | None = None  # Adam's rate; None: Gao et al.'s, scaled to the dictionary's size (`rate`)
    seed: int = 0

    def rate(self, latents: int) -> float:
        """Adam's learning rate for a dictionary of `latents`: `lr`, or 2e-4 / √(M / 2¹⁴) (Gao et
        al. 2024: smaller dictionaries take larger steps)."""
        return self.lr if self.lr is not None else 2e-4 / math.sqrt(latents / 2**14)


@dataclass(frozen=True)
class Dictionary(Units):
    """Units of `layer`: its latents (`neuroblocks.units`). `sae` works on vectors scaled by `scale` (E‖scale·x‖² = C over the training vectors).
    key: names the dictionary (model, layer, training vectors, settings) in caches and icons.
    trained_on: how many vectors it was trained on, of `seen` positions read."""

    layer: str
    sae: SparseAutoencoder
    scale: float
    settings: Settings
    key: str
    trained_on: int
    seen: int
    report: object = field(default=None, compare=False)  # its Quality on its training vectors
    icons: str = "encoder"  # which direction the views draw a latent by: "encoder" or "decoder" (`drawn_by`)

    noun = "latent"
    linear = False

    @property
    def latents(self) -> int:
        return self.sae.latents

    @property
    def count(self) -> int:
        return self.sae.latents

    @property
    def encoder_directions(self) -> torch.Tensor:
        """(M, C): each latent's encoder row, the direction that detects it."""
        return self.sae.encoder.detach().clone()

    @property
    def atoms(self) -> torch.Tensor:
        """(M, C): each latent's decoder atom in the layer's units (what one unit of code adds)."""
        return self.sae.decoder.detach() / self.scale

    @property
    def offset(self) -> torch.Tensor:
        """(C,): the decoder bias in the layer's units."""
        return self.sae.b_dec.detach() / self.scale

    def _on(self, device: torch.device) -> SparseAutoencoder:
        return self.sae if self.sae.decoder.device == device else self.sae.to(device)

    @torch.no_grad()
    def encode(self, vectors: torch.Tensor) -> torch.Tensor:
        """Codes (N, M) of vectors (N, C) in the layer's units."""
        sae = self._on(vectors.device)
        return sae.encode(vectors.float() * self.scale)

    @torch.no_grad()
    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """x̂ (N, C) in the layer's units from codes (N, M)."""
        return self._on(z.device).decode(z) / self.scale

    def reconstruct(self, vectors: torch.Tensor) -> torch.Tensor:
        """x̂ (N, C) in the layer's units."""
        return self.decode(self.encode(vectors)).to(vectors.dtype)

    def codes(self, a: torch.Tensor) -> torch.Tensor:
        """Code maps of a cube: (C, H, W) → (M, H, W), or a batch (N, C, H, W) → (N, M, H, W)."""
        return _per_position(self.encode, a)

    def reconstructed(self, a: torch.Tensor) -> torch.Tensor:
        """A cube (C, H, W) or batch (N, C, H, W) with every position's vector replaced by x̂."""
        return _per_position(self.reconstruct, a)

    @property
    def description(self) -> str:
        """What the views say it is, e.g. "a dictionary of 512 latents (topk, k = 8, 76,800 vectors)"."""
        s = self.settings
        drawn = ", icons of atoms" if self.icons == "decoder" else ""
        return f"a dictionary of {self.latents} latents ({s.encoder}, k = {s.k}, {self.trained_on:,} vectors{drawn})"

    @property
    def icon_directions(self) -> torch.Tensor:
        """(M, C): what the views' icons maximise, each latent's encoder row (what detects it) or
        its atom (what it writes), as `drawn_by` chose."""
        return self.encoder_directions if self.icons == "encoder" else self.atoms.clone()

    def drawn_by(self, icons: str) -> Dictionary:
        """The same dictionary, its latents' icons drawn by their "encoder" or "decoder" direction."""
        if icons not in ("encoder", "decoder"):
            raise ValueError(f"a latent is drawn by its 'encoder' or 'decoder' direction, not {icons!r}")
        return replace(self, icons=icons)

    def icon_direction(self, m: int) -> torch.Tensor:
        return self.icon_directions[m]

    @property
    def icon_key(self) -> str:
        """Icons of latent m are keyed f"{icon_key}:{m}": apart from the layer's channels', other
        dictionaries' and the other direction's."""
        return f"{self.layer}:latents-{self.key[:10]}-{self.icons}"

    def summed(self, h: torch.Tensor) -> torch.Tensor:
        """(N, M) summed codes of a batch, with gradients (`encode` has none)."""
        sae = self._on(h.device)
        return _per_position(lambda x: sae.encode(x * self.scale), h.float()).flatten(2).sum(2)

    def __str__(self) -> str:
        return f"{self.description[2:]} of {self.layer}"


def _per_position(f, a: torch.Tensor) -> torch.Tensor:
    """f applied to every position's vector of a cube (C, H, W) or batch (N, C, H, W), laid out as it."""
    batch = a if a.dim() == 4 else a[None]
    n, c, h, w = batch.shape
    out = f(batch.permute(0, 2, 3, 1).reshape(-1, c))
    out = out.reshape(n, h, w, out.shape[1]).permute(0, 3, 1, 2)
    return out if a.dim() == 4 else out[0]
