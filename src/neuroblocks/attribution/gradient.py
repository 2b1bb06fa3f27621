"""Activations of a layer and the gradient of a target with respect to them, for one image.

Only the network above the layer runs (`Session.above`); the activations come from the shared
cache. An all-zero gradient is an error, not a silent map of zeros: it means the target does not
depend on the layer.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import TypeVar

import torch

from ..errors import AttributionError
from ..forward import Pass
from ..images import ImageLike
from ..above import Above
from ..session import Session
from .. import attribution_rules as rules
from .. import precision
from . import tokens
from .relaxation import relaxed_max_pool
from .settings import settings
from .smoothing import smooth
from .targets import TargetLike, resolve

F = TypeVar("F", bound=Callable)


def gradients_on(fn: F) -> F:
    """Decorate a block that takes gradients so it works inside a caller's `torch.no_grad()` or
    `torch.inference_mode()` (habits of most PyTorch code) and gives the same numbers there."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        with torch.inference_mode(False), torch.enable_grad():
            return fn(*args, **kwargs)

    return wrapper  # type: ignore[return-value]


def above_fn(
    above: Above, relax: bool, read: Callable[[Pass], torch.Tensor], capture: tuple[str, ...] = (), rule: str | None = None
) -> Callable[[torch.Tensor], torch.Tensor]:
    """Batch of activations of `above.layer` (a token layer's as one row, see `tokens`) →
    `read(pass)`, running only the network above it (up to the captured layers when there are
    any), with relaxed max pools if asked, its derivatives following `rule` (default: the
    session's `rule`, `configure`; see `rules`). The rule holds while the network runs, not while
    `read` computes the target from its pass."""
    layout = above.session.layout(above.layer)
    rule = rules.check(settings(above.session).rule if rule is None else rule)

    def f(x: torch.Tensor) -> torch.Tensor:
        grid, prefix = tokens.split(x, layout) if layout.tokens else (x, None)
        with relaxed_max_pool(relax):
            with rules.applied(rule):
                p = above(grid, prefix=prefix, capture=capture, stop=bool(capture))
            return read(p)

    return f


@gradients_on
def activations_and_gradient(
    session: Session,
    image: ImageLike,
    layer: str,
    target: TargetLike,
    *,
    relax: bool = False,
    smoothing: bool = False,
    all_tokens: bool = False,
    rule: str | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """(activations, gradient of the target), both shaped like one image's output of `layer`
    as the blocks see it; with `all_tokens` a token layer's come as one row of every token (see
    `tokens`). `rule`: see `rules` (default: the session's)."""
    layer, image = session.check_layer(layer), session.read(image)
    resolved = resolve(session, target, layer)
    layout = session.layout(layer)
    above = session.above(image, layer)  # first: its pass caches the activations read next
    a = tokens.activations(session, image, layer)
    leaf = a[None].clone().requires_grad_()
    with precision.applied(settings(session).precision):
        value = above_fn(above, relax, resolved, resolved.layers, rule)(leaf)
        (grad,) = torch.autograd.grad(value.sum(), leaf, allow_unused=True)  # unused: no path at all
    if grad is None or not grad.any():
        raise AttributionError(
            f"the target {resolved.description} does not depend on layer {layer!r} for this image (all-zero gradient): "
            "either the layer is not below the target, or every path from it is switched off here "
            "(e.g. ReLUs closed because the model sees no evidence for that class); pick another layer or target"
        )
    grad = grad[0]
    if not all_tokens:
        a, grad = tokens.patches(a, layout), tokens.patches(grad, layout)
    return a, smooth(grad) if smoothing and grad.dim() == 3 and not (all_tokens and layout.tokens) else grad
