"""How good a dictionary is (docs/explanations/dictionaries.md): how much of the layer it explains (FVU), how sparse it is
(mean L0), how many latents it uses (alive share), and whether the model still decides the same
with the layer replaced by the dictionary's reconstruction (fidelity, on held-out images)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import torch

from ..datasets import batches
from ..errors import NeuroblocksError
from ..keywords import checked
from ..layer_edit import LayerEdit
from ..session import Session
from .dictionary import Dictionary
from .vectors import as_vectors


@dataclass(frozen=True)
class Quality:
    """fvu: Σ‖x − x̂‖² / Σ‖x − x̄‖²; l0: mean nonzero codes per vector; alive: share of latents
    that fire on at least one vector. With images: agreement, the share of images whose top-1
    class is unchanged with the layer reconstructed, and kl, the mean KL divergence from the
    model's softmax to the reconstructed one's (nats)."""

    fvu: float
    l0: float
    alive: float
    vectors: int
    images: int = 0
    agreement: float | None = None
    kl: float | None = None

    def __str__(self) -> str:
        text = f"FVU {self.fvu:.3f}, L0 {self.l0:.1f}, alive {100 * self.alive:.0f}% of latents, over {self.vectors:,} vectors"
        if self.agreement is not None:
            text += f"; layer replaced by its reconstruction on {self.images} images: top-1 agrees on {100 * self.agreement:.0f}%, KL {self.kl:.3f} nats"
        return text


class _Sums:
    """Running sums for FVU, L0 and alive latents over batches of vectors."""

    def __init__(self, latents: int, device: torch.device) -> None:
        self.error = self.count = self.nonzero = 0.0
        self.total = None  # Σx and Σ‖x‖², for the variance about the mean
        self.fired = torch.zeros(latents, dtype=torch.bool, device=device)

    def add(self, d: Dictionary, x: torch.Tensor) -> None:
        z = d.encode(x)
        x_hat = d.decode(z)
        self.error += float((x - x_hat).double().pow(2).sum())
        self.nonzero += float((z > 0).sum())
        self.count += len(x)
        self.fired |= (z > 0).any(0)
        s = (x.double().sum(0), float(x.double().pow(2).sum()))
        self.total = s if self.total is None else (self.total[0] + s[0], self.total[1] + s[1])

    def quality(self, **fidelity) -> Quality:
        if not self.count:
            raise NeuroblocksError("no vectors to measure the dictionary on")
        spread = self.total[1] - float(self.total[0].pow(2).sum()) / self.count
        return Quality(self.error / max(spread, 1e-12), self.nonzero / self.count, float(self.fired.float().mean()), int(self.count), **fidelity)


def on_vectors(d: Dictionary, x: torch.Tensor, batch: int = 8192) -> Quality:
    """FVU, L0 and alive share over vectors (N, C) in the layer's units."""
    sums = _Sums(d.latents, x.device)
    for part in x.split(batch):
        sums.add(d, part)
    return sums.quality()


@checked
def substituted(session: Session, d: Dictionary) -> LayerEdit:
    """A context under which `d.layer`'s output is its reconstruction by `d` (every position of a
    grid; a token layer's patch tokens, its prefix tokens as they are)."""
    layout = session.layout(d.layer)

    def change(native: torch.Tensor) -> torch.Tensor:
        grid = d.reconstructed(layout.to_canonical(native).float()).to(native.dtype)
        return layout.to_native(grid, layout.prefix_of(native)) if layout.tokens else layout.to_native(grid)

    return session.edit(d.layer, change, f"{d.layer} replaced by dictionary {d.key}")


@checked
def measure(session: Session, d: Dictionary, data: Iterable, batch: int = 32) -> Quality:
    """The dictionary's quality on held-out `data`: FVU, L0 and alive share on every position,
    and the model's fidelity with the layer replaced by the reconstruction."""
    sums, agree, kl, images = _Sums(d.latents, session.device), 0, 0.0, 0
    for _, pictures, _ in batches(data, session.channels, batch):
        with torch.no_grad():
            run = session.forward(pictures.to(session.device), capture=[d.layer])  # the layer's vectors and the logits, one pass
            sums.add(d, as_vectors(run.activations[d.layer].float(), d.layer))
            logits = run.logits.float()
            with substituted(session, d):
                replaced = session.forward(pictures.to(session.device)).logits.float()
        agree += int((logits.argmax(1) == replaced.argmax(1)).sum())
        kl += float(torch.nn.functional.kl_div(replaced.log_softmax(1), logits.log_softmax(1), log_target=True, reduction="sum"))
        images += len(pictures)
    return sums.quality(images=images, agreement=agree / max(images, 1), kl=kl / max(images, 1))
