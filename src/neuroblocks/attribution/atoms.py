"""Atoms: the pieces an activation cube is cut into for attribution.

An atom's attribution to an output is the inner product of the output's gradient with the atom's
tangent, the part of the activations the atom stands for (activation × gradient summed over the
atom's neurons, docs/explanations/attribution.md). Each kind gives its tangents (for forward mode, one per atom) and reduces
a batch of gradients to per-atom sums (for reverse mode) without building every tangent.
"""

from __future__ import annotations

import torch

from ..errors import AttributionError


class Positions:
    """Each (y, x) with its whole C-vector; atoms numbered row-major, y * W + x."""

    def __init__(self, shape: tuple[int, ...], layer: str) -> None:
        if len(shape) != 3:
            raise AttributionError(f"layer {layer!r} has no spatial dimensions (shape {shape}); use channel attribution")
        self.count = shape[1] * shape[2]

    def tangents(self, a: torch.Tensor, atoms: torch.Tensor) -> torch.Tensor:
        c, h, w = a.shape
        t = torch.zeros(len(atoms), c, h * w, dtype=a.dtype, device=a.device)
        rows = torch.arange(len(atoms), device=a.device)
        t[rows, :, atoms] = a.reshape(c, h * w)[:, atoms].T
        return t.reshape(len(atoms), c, h, w)

    def reduce(self, a: torch.Tensor, grads: torch.Tensor) -> torch.Tensor:
        return (a * grads).sum(1).flatten(1)


class Channels:
    """Each channel with its H×W map (or each feature of a flat layer)."""

    def __init__(self, shape: tuple[int, ...], layer: str) -> None:
        self.count = shape[0]

    def tangents(self, a: torch.Tensor, atoms: torch.Tensor) -> torch.Tensor:
        t = torch.zeros(len(atoms), *a.shape, dtype=a.dtype, device=a.device)
        t[torch.arange(len(atoms), device=a.device), atoms] = a[atoms]
        return t

    def reduce(self, a: torch.Tensor, grads: torch.Tensor) -> torch.Tensor:
        products = a * grads
        return products.flatten(2).sum(2) if products.dim() > 2 else products  # a flat layer's features are its channels


class Directions:
    """Given tangents, one per atom: e.g. neuron groups, each its spatial map × channel direction."""

    def __init__(self, tangents: torch.Tensor) -> None:
        self._tangents = tangents
        self.count = tangents.shape[0]

    def tangents(self, a: torch.Tensor, atoms: torch.Tensor) -> torch.Tensor:
        return self._tangents[atoms]

    def reduce(self, a: torch.Tensor, grads: torch.Tensor) -> torch.Tensor:
        return torch.einsum("p...,n...->np", self._tangents, grads)


def groups(spatial: torch.Tensor, channels: torch.Tensor) -> Directions:
    """Atoms for factors: spatial (k, H, W) and channel directions (k, C) → reconstructions."""
    if spatial.shape[0] != channels.shape[0]:
        raise AttributionError(f"{spatial.shape[0]} spatial factors but {channels.shape[0]} channel directions")
    return Directions(channels[:, :, None, None] * spatial[:, None])


def projections(a: torch.Tensor, directions: torch.Tensor) -> Directions:
    """Atoms for directions (k, C) in channel space: each the activations' projection on one
    direction (a·d / |d|² times d, at every position), so a direction's attribution is
    activation × gradient summed over its part of the activations (one-hot directions give channels)."""
    d = directions.to(a)
    weights = torch.einsum("chw,kc->khw", a, d) / (d * d).sum(1).clamp(min=1e-12)[:, None, None]
    return groups(weights, d)


def of_kind(kind: str, shape: tuple[int, ...], layer: str) -> Positions | Channels:
    if kind == "positions":
        return Positions(shape, layer)
    if kind == "channels":
        return Channels(shape, layer)
    raise AttributionError(f"atoms are 'positions' or 'channels', not {kind!r}")
