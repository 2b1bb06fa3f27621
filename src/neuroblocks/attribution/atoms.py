"""Atoms: the pieces an activation cube is cut into for attribution.

An atom's attribution to an output is the inner product of the output's gradient with the atom's
tangent, the part of the activations the atom stands for (activation × gradient summed over the
atom's neurons, docs/explanations/attribution.md). Units (`neuroblocks.units`) give their own
atoms; positions and given tangents are here. Each kind gives its tangents (for forward mode,
one per atom) and reduces a batch of gradients to per-atom sums (for reverse mode) without
building every tangent.
"""

from __future__ import annotations

import torch

from ..errors import AttributionError
from ..units import ChannelParts, Parts, units_of


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


class Directions:
    """Given tangents, one per atom: the picked few of another kind, each formed once."""

    def __init__(self, tangents: torch.Tensor) -> None:
        self._tangents = tangents
        self.count = tangents.shape[0]

    def tangents(self, a: torch.Tensor, atoms: torch.Tensor) -> torch.Tensor:
        return self._tangents[atoms]

    def reduce(self, a: torch.Tensor, grads: torch.Tensor) -> torch.Tensor:
        return torch.einsum("p...,n...->np", self._tangents, grads)


def of_units(units: object, a: torch.Tensor, layer: str) -> Positions | ChannelParts | Parts:
    """The atoms a `units=` keyword names on one image's cube `a`: "positions" (each with its
    whole channel vector), "channels", or any units of the layer (`neuroblocks.units`)."""
    if units == "positions":
        return Positions(tuple(a.shape), layer)
    if isinstance(units, str) and units != "channels":
        raise AttributionError(f"units are 'positions', 'channels' or units of {layer!r} (a dictionary, groups, directions), not {units!r}")
    return units_of(layer, tuple(a.shape), None if units == "channels" else units).attribution_atoms(a)
