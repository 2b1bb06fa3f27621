"""Units: one way to cut a layer into the pieces the views show, attribute, ablate and draw.

A layer's channels, directions in its channel space (a probe's, a factorization's, random ones),
one image's neuron groups and a trained dictionary's latents are all units of the same kind of
thing: unit u has a code at each position and an atom, a vector in the layer's channel space,
and its part of the activations is code × atom (docs/explanations/units.md). Every block and
view takes `units=` and asks only what this class declares, so a new kind of unit is a new
subclass and nothing else.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

import torch

from .errors import NeuroblocksError


class UnitsError(NeuroblocksError, ValueError):
    """Units that do not fit the layer or the call they were given to."""


class Units:
    """The contract. Subclasses set `layer`, `noun` and `count`, and give `codes` and `atoms`;
    the rest follows from those two (and may be overridden where a kind knows a faster way)."""

    layer: str
    noun: str = "unit"
    count: int
    #: codes that change linearly (or affinely) with the activations, so that integrating along a
    #: straight path in activation space integrates them too (`attribution.unit(steps=)`)
    linear: bool = True

    def codes(self, a: torch.Tensor) -> torch.Tensor:
        """Each unit's code at each position, differentiably: a cube (C, H, W) → (K, H, W), a batch
        (N, C, H, W) → (N, K, H, W)."""
        raise NotImplementedError

    @property
    def atoms(self) -> torch.Tensor:
        """(K, C): what one unit of code adds to the activations."""
        raise NotImplementedError

    @property
    def offset(self) -> torch.Tensor:
        """(C,): what the activations hold where every code is zero (a dictionary's decoder bias)."""
        return torch.zeros(self.atoms.shape[1])

    @property
    def icon_key(self) -> str:
        """Names the units in caches and icon keys: icons of unit u are keyed f"{icon_key}:{u}"."""
        raise NotImplementedError

    @property
    def description(self) -> str:
        """What titles and status lines say the units are, e.g. "64 channels of conv3"."""
        return f"{self.count} {self.noun}s of {self.layer}"

    def for_any_image(self) -> Units:
        """These units as codes that hold on any image: what a dataset job reads. Most units are;
        neuron groups, parts of one image, are read by the directions their icons draw."""
        return self

    def icon_direction(self, u: int) -> torch.Tensor | None:
        """The channel-space direction unit u's icon maximises, or None for a channel of its own."""
        return self.atoms[u]

    def part(self, a: torch.Tensor, picks: Sequence[int]) -> torch.Tensor:
        """The picked units' part of a batch (N, C, H, W): Σ code × atom, laid out as `a`."""
        codes = self.codes(a.float())[:, list(picks)]
        return torch.einsum("nkhw,kc->nchw", codes, self.atoms[list(picks)].to(codes)).to(a)

    def prefix_codes(self, prefix: torch.Tensor) -> torch.Tensor:
        """Codes of a token layer's prefix tokens, (P, C) → (P, K) or (N, P, C) → (N, P, K): each
        token read as one more position."""
        return self.codes(prefix.transpose(-1, -2)[..., None])[..., 0].transpose(-1, -2)

    def prefix_part(self, prefix: torch.Tensor, picks: Sequence[int]) -> torch.Tensor:
        """The picked units' part of a token layer's prefix tokens (N, P, C)."""
        codes = self.prefix_codes(prefix.float())[..., list(picks)]
        return (codes @ self.atoms[list(picks)].to(codes)).to(prefix)

    def summed(self, h: torch.Tensor) -> torch.Tensor:
        """(N, K): each unit's code summed over the positions of a batch, with gradients: how a unit
        of a higher layer is measured when lower units are attributed to it."""
        return self.codes(h).flatten(2).sum(2)

    def attribution_atoms(self, a: torch.Tensor) -> Parts:
        """The units as attribution atoms on one image's cube `a` (C, H, W) (`neuroblocks.attribution.atoms`)."""
        return Parts(self.codes(a.float()).detach().to(a), self.atoms.to(a))

    def check(self, layer: str, shape: tuple[int, ...]) -> Units:
        """These units, after checking that they cut `layer` of channel-first `shape`."""
        if layer != self.layer:
            raise UnitsError(f"these are units of {self.layer!r} ({self.description}), not of {layer!r}: pass units of {layer!r}")
        if len(shape) != 3:
            raise UnitsError(f"{self.description} have codes at positions, and {layer!r} has none (shape {shape}); use its channels")
        if self.atoms.shape[1] != shape[0]:
            raise UnitsError(f"{self.description} are vectors of {self.atoms.shape[1]} channels but {layer!r} has {shape[0]}")
        return self

    def checked_picks(self, picks: Sequence[int]) -> list[int]:
        """`picks` as ints, each a unit that exists."""
        picks = [int(u) for u in picks]
        bad = [u for u in picks if not 0 <= u < self.count]
        if bad:
            raise UnitsError(f"there are {self.description} (0..{self.count - 1}); there is no {self.noun} {bad[0]}")
        return picks

    def __len__(self) -> int:
        return self.count


class Channels(Units):
    """The layer's own channels (or a flat layer's features): code = activation, atom = one-hot."""

    noun = "channel"

    def __init__(self, layer: str, count: int) -> None:
        self.layer, self.count = layer, count

    def codes(self, a: torch.Tensor) -> torch.Tensor:
        return a

    @property
    def atoms(self) -> torch.Tensor:
        return torch.eye(self.count)

    @property
    def icon_key(self) -> str:
        return self.layer

    def icon_direction(self, u: int) -> torch.Tensor | None:
        return None

    def part(self, a: torch.Tensor, picks: Sequence[int]) -> torch.Tensor:
        out = torch.zeros_like(a)
        out[:, list(picks)] = a[:, list(picks)]
        return out

    def attribution_atoms(self, a: torch.Tensor) -> ChannelParts:
        return ChannelParts(a.shape[0])

    def check(self, layer: str, shape: tuple[int, ...]) -> Units:
        if layer != self.layer or shape[0] != self.count:
            raise UnitsError(f"these are {self.description}, not units of {layer!r} ({shape[0]} channels)")
        return self


class Directions(Units):
    """Directions (K, C) in the layer's channel space, each unit the activations' projection on one:
    code a·d/|d|² at each position, atom d (one-hot directions give the channels)."""

    def __init__(self, layer: str, vectors: torch.Tensor, noun: str = "direction") -> None:
        if not isinstance(vectors, torch.Tensor) or vectors.dim() != 2:
            raise UnitsError(f"directions are a (K, C) tensor of vectors in {layer!r}'s channel space, not {type(vectors).__name__}")
        self.layer, self.noun = layer, noun
        self.vectors = vectors.detach().float().cpu()
        self.count = self.vectors.shape[0]

    def codes(self, a: torch.Tensor) -> torch.Tensor:
        d = self.vectors.to(a.device, a.dtype)
        scaled = d / (d * d).sum(1, keepdim=True).clamp(min=1e-12)
        return torch.einsum("...chw,kc->...khw", a, scaled)

    @property
    def atoms(self) -> torch.Tensor:
        return self.vectors

    @property
    def icon_key(self) -> str:
        return f"{self.layer}:{self.noun}s-{hashlib.sha256(self.vectors.numpy().tobytes()).hexdigest()[:10]}"


class Parts:
    """Attribution atoms of units on one image: unit u's part of the activations is its code map
    times its atom, so its attribution is the gradient's inner product with that part,
    d(target)/dz_u · z_u (docs/explanations/attribution.md). `tangents` gives the parts (forward
    mode, one per atom); `reduce` takes a batch of gradients to per-unit sums (reverse mode)."""

    #: elements of the (outputs, units, H, W) product formed at once in `reduce`
    CHUNK = 2**25

    def __init__(self, codes: torch.Tensor, atoms: torch.Tensor) -> None:
        self.codes, self.atoms, self.count = codes, atoms, codes.shape[0]

    def tangents(self, a: torch.Tensor, picks: torch.Tensor) -> torch.Tensor:
        return self.codes[picks][:, None] * self.atoms[picks][:, :, None, None]

    def reduce(self, a: torch.Tensor, grads: torch.Tensor) -> torch.Tensor:
        rows = max(1, self.CHUNK // max(1, self.codes.numel()))
        return torch.cat([torch.einsum("nchw,mc,mhw->nm", g, self.atoms, self.codes) for g in grads.split(rows)])


class ChannelParts:
    """Channels as attribution atoms, without forming one-hot parts: each channel's map (or a
    flat layer's feature) times its gradient, summed."""

    def __init__(self, count: int) -> None:
        self.count = count

    def tangents(self, a: torch.Tensor, picks: torch.Tensor) -> torch.Tensor:
        t = torch.zeros(len(picks), *a.shape, dtype=a.dtype, device=a.device)
        t[torch.arange(len(picks), device=a.device), picks] = a[picks]
        return t

    def reduce(self, a: torch.Tensor, grads: torch.Tensor) -> torch.Tensor:
        products = a * grads
        return products.flatten(2).sum(2) if products.dim() > 2 else products


def units_of(layer: str, shape: tuple[int, ...], units: Units | torch.Tensor | None) -> Units:
    """What a `units=` keyword gives, for `layer` of channel-first `shape`: the layer's channels
    when None, directions when a (K, C) tensor, else the units themselves, checked."""
    if units is None:
        return Channels(layer, shape[0])
    if isinstance(units, torch.Tensor):
        return Directions(layer, units).check(layer, shape)
    if isinstance(units, Units):
        return units.check(layer, shape)
    raise UnitsError(
        f"units= takes units of {layer!r} (a trained dictionary, neuron groups, nb.units.Directions) or a (K, C) tensor of directions, not {type(units).__name__}"
    )
