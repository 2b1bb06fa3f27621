"""Redirected gradients for rendering, as Lucid does for ReLUs, extended to clamps.

A unit that is off everywhere on the grey starting image gets exactly zero gradient and its
icon never moves. Where an activation function passes no gradient at all for an image, this
lets through the part of the incoming gradient that would move its inputs back into the range
where it has a slope (and still blocks the part that would push them further out). Forward
values are unchanged. It reaches every `F.relu` (`nn.ReLU`), `F.hardtanh` (`nn.ReLU6`,
`nn.Hardtanh`), `F.relu6`, `F.hardswish` and `F.hardsigmoid` of any model; code that calls
`torch.relu` or `torch.clamp` directly keeps the plain gradient.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import ExitStack, contextmanager

import torch
import torch.nn.functional as F

from ..swap import FunctionalSwap


class _Redirected(torch.autograd.Function):
    """`fn(x)`, whose gradient is flat below `low` and above `high` (either may be None)."""

    @staticmethod
    def forward(ctx, x, fn, low, high):
        ctx.save_for_backward(x)
        ctx.fn, ctx.low, ctx.high = fn, low, high
        return fn(x)

    @staticmethod
    def backward(ctx, grad):
        (x,) = ctx.saved_tensors
        with torch.enable_grad():
            leaf = x.detach().requires_grad_()
            (plain,) = torch.autograd.grad(ctx.fn(leaf), leaf, grad)
        # Descent moves x by −grad: below the range, a positive grad would push it lower; above, a negative one higher.
        below = x < ctx.low if ctx.low is not None else torch.zeros_like(x, dtype=torch.bool)
        above = x > ctx.high if ctx.high is not None else torch.zeros_like(x, dtype=torch.bool)
        away = (below & (grad > 0)) | (above & (grad < 0))
        redirected = torch.where(below | above, torch.where(away, torch.zeros_like(grad), grad), plain)
        passes = plain.flatten(1).norm(dim=1) > 0 if x.dim() > 1 else plain.norm() > 0
        chosen = torch.where(passes.view(-1, *[1] * (x.dim() - 1)) if x.dim() > 1 else passes, plain, redirected)
        return chosen, None, None, None


# Each function's arguments → (the function out of place, where its slope ends below and above).
def _relu(original, inplace=False):
    return original, 0.0, None


def _hardtanh(original, min_val=-1.0, max_val=1.0, inplace=False):
    return (lambda x: original(x, min_val, max_val)), min_val, max_val


def _relu6(original, inplace=False):
    return original, 0.0, 6.0


def _hardswish(original, inplace=False):
    return original, -3.0, None


def _hardsigmoid(original, inplace=False):
    return original, -3.0, 3.0


def _redirect(bind: Callable) -> Callable:
    def variant(original, input, *args, **kwargs):
        fn, low, high = bind(original, *args, **kwargs)
        return _Redirected.apply(input, fn, low, high)

    return variant


_SWAPS = [FunctionalSwap(bind.__name__[1:], _redirect(bind)) for bind in (_relu, _hardtanh, _relu6, _hardswish, _hardsigmoid)]


@contextmanager
def redirected_gradients(enabled: bool = True):
    """Within this block (and this thread), ReLUs and clamps have redirected gradients."""
    with ExitStack() as stack:
        for swap in _SWAPS:
            stack.enter_context(swap.active(enabled))
        yield
