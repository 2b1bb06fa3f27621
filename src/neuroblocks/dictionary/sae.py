"""The sparse autoencoder itself (docs/explanations/dictionaries.md): a TopK or BatchTopK encoder and a decoder whose atoms
keep unit norm, trained on mean squared error with an auxiliary loss that revives dead latents.

Everything here works on one position's C-vector at a time, already scaled so that E‖x‖² = C:
the layer, its layout and the scale are the `Dictionary`'s business.
"""

from __future__ import annotations

import torch
from torch import nn

ENCODERS = ("topk", "batchtopk")
AUX_WEIGHT = 1 / 32  # Gao et al. 2024


class SparseAutoencoder(nn.Module):
    """M latents over C-vectors: z = sparse(W_enc (x − b_dec) + b_enc), x̂ = zᵀ W_dec + b_dec.

    Rows of `decoder` (M, C) are the atoms, unit norm. `threshold`: BatchTopK's inference
    threshold (the running mean of the smallest code kept in training); TopK keeps k per vector."""

    def __init__(self, channels: int, latents: int, k: int, encoder: str = "topk", seed: int = 0) -> None:
        super().__init__()
        if encoder not in ENCODERS:
            raise ValueError(f"encoder is one of {ENCODERS}, not {encoder!r}")
        if not 0 < k <= latents:
            raise ValueError(f"k must be between 1 and the number of latents ({latents}), not {k}")
        g = torch.Generator().manual_seed(seed)
        atoms = torch.randn(latents, channels, generator=g)
        atoms /= atoms.norm(dim=1, keepdim=True)
        self.k, self.kind = k, encoder
        self.decoder = nn.Parameter(atoms)
        self.encoder = nn.Parameter(atoms.clone())  # W_enc = W_decᵀ at the start
        self.b_enc = nn.Parameter(torch.zeros(latents))
        self.b_dec = nn.Parameter(torch.zeros(channels))
        self.register_buffer("threshold", torch.zeros(()))

    @property
    def latents(self) -> int:
        return self.decoder.shape[0]

    def pre(self, x: torch.Tensor) -> torch.Tensor:
        """Pre-activations (N, M), before the sparsity."""
        return torch.relu((x - self.b_dec) @ self.encoder.T + self.b_enc)

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """Codes (N, M): k nonzero per vector (TopK), or those above the learned threshold (BatchTopK)."""
        pre = self.pre(x)
        if self.kind == "batchtopk" and not self.training:
            return pre * (pre > self.threshold)
        values, rows, cols = self._kept(pre)
        return torch.zeros_like(pre).index_put_((rows, cols), values)

    def _kept(self, pre: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """The codes kept, as (values, rows, columns) of the (N, M) pre-activations: the k largest
        of each row (TopK), or the k·N largest of the batch (BatchTopK, whose smallest kept code
        updates the inference threshold while training)."""
        n, m = pre.shape
        if self.kind == "topk":
            top = pre.topk(self.k, dim=1)
            rows = torch.arange(n, device=pre.device).repeat_interleave(self.k)
            return top.values.flatten(), rows, top.indices.flatten()
        top = pre.flatten().topk(min(self.k * n, pre.numel()))
        positive = top.values[top.values > 0]
        if self.training and len(positive):  # the threshold inference will use: a running mean of the smallest kept code
            self.threshold.lerp_(positive.min().detach(), 0.01 if float(self.threshold) > 0 else 1.0)
        return top.values, torch.div(top.indices, m, rounding_mode="floor"), top.indices % m

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        return z @ self.decoder + self.b_dec

    def loss(self, x: torch.Tensor, dead: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(loss, fired) of a batch: squared error per vector, plus the auxiliary loss (the
        residual x − x̂ reconstructed by the k_aux strongest of the `dead` latents, a bool (M,));
        fired (M,): the latents with a nonzero code in the batch. TopK's x̂ sums just the kept
        codes' atoms (k per vector, not M), forward and backward."""
        pre = self.pre(x)
        values, rows, cols = self._kept(pre)
        if self.kind == "topk":  # k atoms per vector, gathered (an embedding lookup: deterministic backward)
            n = len(x)
            x_hat = torch.einsum("nk,nkc->nc", values.view(n, self.k), nn.functional.embedding(cols.view(n, self.k), self.decoder)) + self.b_dec
        else:  # BatchTopK keeps a varying number per vector
            x_hat = self.decode(torch.zeros_like(pre).index_put((rows, cols), values))
        fired = torch.zeros(self.latents, dtype=torch.bool, device=x.device).index_fill_(0, cols[values > 0], True)
        error = (x - x_hat).pow(2).sum(1).mean()
        n_dead = int(dead.sum())
        if n_dead == 0:
            return error, fired
        k_aux = min(n_dead, max(self.k * 4, x.shape[1] // 2), 512)
        top = pre.masked_fill(~dead, 0).topk(k_aux, dim=1)
        z_aux = torch.zeros_like(pre).scatter(1, top.indices, top.values)
        residual = (x - x_hat).detach()
        aux = (residual - z_aux @ self.decoder).pow(2).sum(1).mean()
        return error + AUX_WEIGHT * aux, fired

    @torch.no_grad()
    def keep_atoms_unit(self) -> None:
        """Before a step: drop each atom's gradient along itself; after: renormalise (docs/explanations/dictionaries.md)."""
        d = self.decoder
        if d.grad is not None:
            d.grad -= (d.grad * d).sum(1, keepdim=True) * d
        d /= d.norm(dim=1, keepdim=True).clamp(min=1e-12)
