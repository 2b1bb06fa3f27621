"""The activation pass a dictionary trains on: every position's C-vector of a layer over a
dataset, streamed batch by batch and kept within a memory cap (a uniform sample of all positions
once they outgrow it). It is a dataset job (`scale.job`), so it runs in this process or on Ray
workers and gives the same vectors either way."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

import torch

from ..datasets import batches
from ..errors import NeuroblocksError
from ..session import Session


def layer_vectors(session: Session, layer: str, images: torch.Tensor) -> torch.Tensor:
    """(vectors, C) of a batch of images, from a pass that stops at `layer`."""
    with torch.no_grad():
        return as_vectors(session.forward(images.to(session.device), capture=[layer], stop=True).activations[layer].float(), layer)


def as_vectors(a: torch.Tensor, layer: str) -> torch.Tensor:
    """(vectors, C) of a layer's batch: each position of a grid layer (a token layer's patches),
    or each image of a flat one."""
    if a.dim() == 4:
        return a.permute(0, 2, 3, 1).reshape(-1, a.shape[1])
    if a.dim() == 2:
        return a
    raise NeuroblocksError(f"layer {layer!r} gives {tuple(a.shape[1:])} per image: a dictionary needs a grid (C, H, W) or a vector (C,)")


@dataclass
class Vectors:
    """A shard's vectors with a random key each; merging keeps the `cap` smallest keys, so the
    sample is uniform over every position seen, whatever the shards. `seen`: positions read."""

    keys: torch.Tensor
    vectors: torch.Tensor
    cap: int
    seen: int

    def merge(self, other: Vectors) -> Vectors:
        if not len(self.keys) or not len(other.keys):  # an empty shard has no width to concatenate
            kept = other if not len(self.keys) else self
            return Vectors(kept.keys, kept.vectors, self.cap, self.seen + other.seen)
        keys, vectors = torch.cat([self.keys, other.keys]), torch.cat([self.vectors, other.vectors])
        if len(keys) > self.cap:
            keep = keys.topk(self.cap, largest=False).indices
            keys, vectors = keys[keep], vectors[keep]
        return Vectors(keys, vectors, self.cap, self.seen + other.seen)

    def ordered(self) -> torch.Tensor:
        """The vectors by key: the same order on every engine (their hash names the training set)."""
        return self.vectors[self.keys.argsort()]


@dataclass(frozen=True)
class CollectVectors:
    layer: str
    cap: int
    seed: int
    batch: int

    def map(self, session: Session, items: Iterable, start: int, tick: Callable[[int], None]) -> Vectors:
        found = None
        for first, images, _ in batches(items, session.channels, self.batch, start):
            v = layer_vectors(session, self.layer, images).cpu()
            # Keys from the batch's first dataset index: engines form the same batches, so the same keys.
            keys = torch.rand(len(v), generator=torch.Generator().manual_seed(self.seed * 1_000_003 + first), dtype=torch.float64)
            part = Vectors(keys, v, self.cap, len(v))
            found = part if found is None else found.merge(part)
            tick(len(images))
        return found if found is not None else Vectors(torch.zeros(0, dtype=torch.float64), torch.zeros(0, 0), self.cap, 0)

    def enough(self, partial: Vectors) -> bool:
        return False
