"""Objectives: what a feature visualization maximises, composable with + - * / (docs/explanations/feature-visualization.md).

An objective maps the captured activations of a batch, `acts[layer]` (N, ...) plus
`acts["input"]` (the images in [0, 1]) and `acts["logits"]` (and a token layer's prefix tokens
(N, P, C) under `prefix_key(layer)`), to one value per image (N,).
Rendering a list of objectives gives image i to objective i.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable

import torch

from ..errors import NeuroblocksError
from ..keywords import checked
from ..units import Units

INPUT, LOGITS = "input", "logits"
Acts = dict[str, torch.Tensor]


class FeatureVisError(NeuroblocksError, ValueError):
    """An objective or rendering request that cannot work, with what to do instead."""


class Objective:
    """A value per image to maximise; `layers` are what it reads, `description` says what it is."""

    def __init__(self, fn: Callable[[Acts], torch.Tensor], layers: frozenset[str], description: str, checks: tuple = ()) -> None:
        self.fn, self.layers, self.description, self.checks = fn, frozenset(layers), description, checks

    def __call__(self, acts: Acts) -> torch.Tensor:
        return self.fn(acts)

    def check(self, session) -> None:
        """Raise FeatureVisError if the objective does not fit `session`'s model."""
        for check in self.checks:
            check(session)

    def _combine(self, other, op, symbol: str) -> Objective:
        if isinstance(other, Objective):
            return Objective(lambda a: op(self(a), other(a)), self.layers | other.layers, f"({self.description} {symbol} {other.description})", self.checks + other.checks)
        return Objective(lambda a: op(self(a), other), self.layers, f"({self.description} {symbol} {other:g})", self.checks)

    def __add__(self, other):
        return self._combine(other, torch.add, "+")

    def __radd__(self, other):
        return self if other == 0 else self._combine(other, torch.add, "+")  # so sum() works

    def __sub__(self, other):
        return self._combine(other, torch.sub, "-")

    def __mul__(self, scalar: float) -> Objective:
        return self._combine(float(scalar), torch.mul, "*")

    __rmul__ = __mul__

    def __truediv__(self, scalar: float) -> Objective:
        return self._combine(float(scalar), torch.div, "/")

    def __neg__(self) -> Objective:
        return Objective(lambda a: -self(a), self.layers, f"-{self.description}", self.checks)

    def __repr__(self) -> str:
        return f"Objective({self.description})"


def _channel_check(layer: str, c: int):
    def check(session):
        shape = session.layer_shape(layer)
        if not 0 <= c < shape[0]:
            raise FeatureVisError(f"channel {c} is out of range: layer {layer!r} has {shape[0]} channels (0 to {shape[0] - 1})")

    return check


def _length_check(layer: str, n: int):
    def check(session):
        shape = session.layer_shape(layer)
        if n != shape[0]:
            raise FeatureVisError(f"a direction at layer {layer!r} needs {shape[0]} values (one per channel), not {n}")

    return check


def _layer_check(layer: str):
    def check(session):
        session.check_layer(layer)

    return check


def mean_vectors(a: Acts, layer: str) -> torch.Tensor:
    """(N, C): each image's activation vector averaged over positions, computed once per step
    and shared by every objective that reads it. A batch of N channel objectives then costs one
    pass over the activations, forward and backward, instead of N (each slice's gradient is a
    tensor the size of the whole batch's activations)."""
    key = f"{layer}#mean"
    if key not in a:
        x = a[layer]
        a[key] = x.flatten(2).mean(2) if x.dim() > 2 else x
    return a[key]


@checked
def channel(layer: str, c: int) -> Objective:
    """Mean of channel `c` over positions."""
    return Objective(lambda a: mean_vectors(a, layer)[:, c], {layer}, f"{layer}:{c}", (_layer_check(layer), _channel_check(layer, c)))


def unit(units: Units, u: int) -> Objective:
    """Unit u of any units (`neuroblocks.units`): a channel's own mean, else its icon direction."""
    vector = units.icon_direction(u)
    return channel(units.layer, u) if vector is None else direction(units.layer, vector)


def prefix_key(layer: str) -> str:
    """Where a token layer's prefix tokens are in `acts`."""
    return f"{layer}#prefix"


def _prefix_check(layer: str, p: int):
    def check(session):
        if not 0 <= p < session.prefix_tokens(layer):
            raise FeatureVisError(f"layer {layer!r} has {session.prefix_tokens(layer)} prefix tokens; there is no prefix token {p}")

    return check


@checked
def neuron(layer: str, c: int, position: tuple[int, int] | None = None) -> Objective:
    """Channel `c` at `position` (y, x), by default the centre; (-1, p) is a token layer's prefix
    token p (its class token is (-1, 0))."""
    checks = (_layer_check(layer), _channel_check(layer, c))
    if position is not None and position[0] == -1:
        p = int(position[1])
        return Objective(lambda a: a[prefix_key(layer)][:, p, c], {layer}, f"{layer}:{c}@prefix{p}", (*checks, _prefix_check(layer, p)))

    def fn(a: Acts) -> torch.Tensor:
        x = a[layer][:, c]
        if x.dim() != 3:
            return x
        y, x_ = position if position is not None else (x.shape[1] // 2, x.shape[2] // 2)
        return x[:, y, x_]

    where = "centre" if position is None else f"{position[0]},{position[1]}"
    return Objective(fn, {layer}, f"{layer}:{c}@{where}", checks)


@checked
def direction(layer: str, vector, cosine_power: float | None = None, prefix: int | None = None) -> Objective:
    """Mean over positions of the activation vector's dot product with `vector`; with
    `cosine_power` p, each position's dot product is weighted by max(0.1, cos)^p. With `prefix`
    p, the dot product at a token layer's prefix token p instead (its class token is 0)."""
    v = torch.as_tensor(vector, dtype=torch.float32).flatten()

    def fn(a: Acts) -> torch.Tensor:
        if prefix is None and cosine_power is None:  # the mean of dot products is the dot product of the mean
            means = mean_vectors(a, layer)
            return means @ v.to(means)
        x = a[layer] if prefix is None else a[prefix_key(layer)][:, prefix, :, None, None]
        d = v.to(x)
        flat = x.flatten(2) if x.dim() == 4 else x[:, :, None]  # (N, C, positions)
        dots = torch.einsum("ncp,c->np", flat, d)
        if cosine_power is not None:
            cos = dots / (flat.norm(dim=1) * d.norm()).clamp(min=1e-8)
            dots = dots * cos.clamp(min=0.1) ** cosine_power
        return dots.mean(1)

    kind = ("direction" if cosine_power is None else f"direction·cos^{cosine_power:g}") + ("" if prefix is None else f"@prefix{prefix}")
    digest = f"{v.numel()}d#{hashlib.sha1(v.cpu().numpy().tobytes()).hexdigest()[:12]}"  # stable across processes: cache keys use it
    checks = (_layer_check(layer), _length_check(layer, v.numel()), *(() if prefix is None else (_prefix_check(layer, prefix),)))
    return Objective(fn, {layer}, f"{layer}:{kind}[{digest}]", checks)


@checked
def diversity(layer: str, group: int | None = None) -> Objective:
    """Minus the mean cosine similarity of each image's Gram matrix with the others' in the batch;
    with `group` n, only with the others of its run of n consecutive images (many units' diversity
    sets rendered in one batch). Computed once per step however many objectives use it."""
    key = f"{layer}#diversity/{group}"

    def fn(a: Acts) -> torch.Tensor:
        if key in a:
            return a[key]
        x = a[layer].flatten(2)
        gram = torch.einsum("ncp,ndp->ncd", x, x).flatten(1)
        gram = gram / gram.norm(dim=1, keepdim=True).clamp(min=1e-8)
        n = x.shape[0]
        size = n if group is None else group
        block = torch.arange(n, device=x.device) // size
        others = (block[:, None] == block[None, :]) & ~torch.eye(n, dtype=torch.bool, device=x.device)
        count = others.sum(1)
        sims = (gram @ gram.T) * others
        a[key] = torch.where(count > 0, -sims.sum(1) / count.clamp(min=1), torch.zeros((), device=x.device, dtype=x.dtype))
        return a[key]

    return Objective(fn, {layer}, f"diversity({layer}{'' if group is None else f', groups of {group}'})", (_layer_check(layer),))


@checked
def class_logit(c: int | str) -> Objective:
    """The logit of class `c` (a name or an index)."""
    holder: dict[str, int] = {}

    def check(session):
        holder["index"] = session.class_index(c)

    def fn(a: Acts) -> torch.Tensor:
        return a[LOGITS][:, holder["index"]]  # resolved by `check`, which rendering runs first

    return Objective(fn, {LOGITS}, f"logit[{c}]", (check,))


@checked
def total_variation() -> Objective:
    """Sum of absolute differences between neighbouring pixels (subtract it to smooth)."""

    def fn(a: Acts) -> torch.Tensor:
        x = a[INPUT]
        return (x[..., 1:, :] - x[..., :-1, :]).abs().flatten(1).sum(1) + (x[..., 1:] - x[..., :-1]).abs().flatten(1).sum(1)

    return Objective(fn, {INPUT}, "total_variation", ())


@checked
def l1(constant: float = 0.0) -> Objective:
    """Sum of |pixel − constant|."""
    return Objective(lambda a: (a[INPUT] - constant).abs().flatten(1).sum(1), {INPUT}, f"l1({constant:g})", ())


@checked
def l2(constant: float = 0.0) -> Objective:
    """Euclidean norm of (pixels − constant)."""
    return Objective(lambda a: (a[INPUT] - constant).flatten(1).norm(dim=1), {INPUT}, f"l2({constant:g})", ())
