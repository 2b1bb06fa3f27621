"""Max-pool gradient relaxation: forward stays max pooling, the gradient is shared.

Strided max pooling sends all gradient to each window's winner, which makes attribution maps
noisy and checkerboarded. The relaxed backward flows as through
`avg_pool(x*x) / (eps + avg_pool(|x|))` with the same window, so inputs share in proportion to
their activation. The output is `max + (s - s.detach())`: bit-identical forward values, the
surrogate's derivative in both reverse and forward mode. Zero padding of the surrogate keeps it
finite where max pooling pads with -inf.
"""

from __future__ import annotations

import torch.nn.functional as F

from ..swap import FunctionalSwap

EPS = 1e-2


def _relaxed(original, input, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False, return_indices=False):
    out = original(input, kernel_size, stride, padding, dilation, ceil_mode=ceil_mode, return_indices=return_indices)
    if return_indices or dilation not in (1, (1, 1)):
        return out
    window = dict(kernel_size=kernel_size, stride=stride, padding=padding, ceil_mode=ceil_mode, count_include_pad=True)
    surrogate = F.avg_pool2d(input * input, **window) / (EPS + F.avg_pool2d(input.abs(), **window))
    return out.detach() + (surrogate - surrogate.detach())


_SWAP = FunctionalSwap("max_pool2d", _relaxed)
_original_max_pool2d = _SWAP.original


def relaxed_max_pool(enabled: bool = True):
    """Within this block (and this thread), every `F.max_pool2d`, hence every `nn.MaxPool2d`,
    has the relaxed gradient. A no-op when `enabled` is False."""
    return _SWAP.active(enabled)
