"""Redirected ReLU gradients for rendering, as Lucid does by default.

A unit that is off everywhere on the grey starting image gets exactly zero gradient and its
icon never moves. Where a ReLU passes no gradient at all for an image, this lets through the
part of the incoming gradient that would raise its negative inputs (and still blocks the part
that would push them lower). Forward values are unchanged. It reaches every `F.relu` (every
`nn.ReLU`) of any model; code that calls `torch.relu` directly keeps the plain gradient.
"""

from __future__ import annotations

import torch

from ..swap import FunctionalSwap


class _Redirected(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return x.clamp(min=0)

    @staticmethod
    def backward(ctx, grad):
        (x,) = ctx.saved_tensors
        plain = grad * (x > 0)
        # Descent moves x by −grad: a positive grad on a negative input would push it lower.
        redirected = torch.where((x < 0) & (grad > 0), torch.zeros_like(grad), grad)
        passes = plain.flatten(1).norm(dim=1) > 0 if x.dim() > 1 else plain.norm() > 0
        return torch.where(passes.view(-1, *[1] * (x.dim() - 1)) if x.dim() > 1 else passes, plain, redirected)


def _relu(original, input, inplace: bool = False):
    return _Redirected.apply(input)


_SWAP = FunctionalSwap("relu", _relu)


def redirected_relu(enabled: bool = True):
    """Within this block (and this thread), ReLUs have redirected gradients."""
    return _SWAP.active(enabled)
