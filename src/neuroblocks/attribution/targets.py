"""What an attribution explains: one scalar per batch row, read off a forward pass.

A class, a difference of two classes (logits, never probabilities), any function of the
logits, or a function of a higher layer's activations (`Hidden`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Union

import torch

from ..errors import AttributionError
from ..forward import Pass
from ..session import Session


@dataclass(frozen=True)
class Hidden:
    """A target measured on a higher layer: `fn(activations (N, *shape)) → (N,)`."""

    layer: str
    fn: Callable[[torch.Tensor], torch.Tensor]


TargetLike = Union[str, int, tuple, Callable[[torch.Tensor], torch.Tensor], Hidden]


@dataclass(frozen=True)
class Target:
    """A resolved target: the layers it reads, whether it needs logits, and its value per row."""

    layers: tuple[str, ...]
    read: Callable[[Pass], torch.Tensor]
    description: str

    @property
    def needs_logits(self) -> bool:
        return not self.layers

    def __call__(self, p: Pass) -> torch.Tensor:
        value = self.read(p)
        rows = (p.logits if self.needs_logits else p.activations[self.layers[0]]).shape[0]
        if value.dim() == 0 and rows == 1:
            value = value[None]
        if value.shape != (rows,):
            raise AttributionError(f"target {self.description} must give one number per image, shape ({rows},); got {tuple(value.shape)}")
        return value


def check_order(session: Session, lower: str, higher: str) -> None:
    """Refuse a 'higher' layer that runs before the lower one (its gradient would be zero)."""
    layers = session.layers
    if layers.index(higher) <= layers.index(lower):
        raise AttributionError(f"layer {higher!r} runs before (or is) {lower!r}, so it cannot be the higher layer; swap them")


def resolve(session: Session, target: TargetLike, layer: str) -> Target:
    """Turn what a user passes into a `Target` attributable at `layer`."""
    if isinstance(target, Hidden):
        higher = session.check_layer(target.layer)
        check_order(session, layer, higher)
        return Target((higher,), lambda p: target.fn(p.activations[higher]), f"on layer {higher!r}")
    if isinstance(target, (tuple, list)):
        if len(target) != 2:
            raise AttributionError(f"a pair target is (class a, class b) or [a, b], meaning logit a minus logit b; got {len(target)} items")
        a, b = session.class_index(target[0]), session.class_index(target[1])
        return Target((), lambda p: p.logits[:, a] - p.logits[:, b], f"{session.class_name(a)!r} minus {session.class_name(b)!r}")
    if callable(target):
        return Target((), lambda p: target(p.logits), getattr(target, "__name__", "function of the logits"))
    c = session.class_index(target)
    return Target((), lambda p: p.logits[:, c], repr(session.class_name(c)))


def class_or_pair(session: Session, image, value) -> int | tuple[int, int]:
    """A class name or index, or a pair [a, b] (logit a minus logit b), as indices; None means the
    image's top predicted class. What views and graphs take as a target."""
    if value is None:
        return int(session.trace(image).logits.argmax())
    if isinstance(value, (list, tuple)):
        if len(value) != 2:
            raise AttributionError(f"a pair target is (class a, class b) or [a, b], meaning logit a minus logit b; got {list(value)!r}")
        return session.class_index(value[0]), session.class_index(value[1])
    if callable(value):
        raise AttributionError("this target is a class or a pair of classes (a, b), not a function of the logits")
    return session.class_index(value)
