"""Checkerboard smoothing of gradient maps: cosmetic, and off unless asked for.

A 3×3 kernel with 1/4 on the centre, 1/2 shared by the 4 edge neighbours and 1/4 by the 4
corners (zero padding) removes the residual checkerboard strided convolutions leave. It changes
the numbers, so attributions smoothed this way no longer sum to the linear approximation.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

_KERNEL = torch.tensor([[1 / 16, 1 / 8, 1 / 16], [1 / 8, 1 / 4, 1 / 8], [1 / 16, 1 / 8, 1 / 16]])


def smooth(grad: torch.Tensor) -> torch.Tensor:
    """Smooth each channel of a (C, H, W) or (N, C, H, W) gradient map."""
    batched = grad if grad.dim() == 4 else grad[None]
    channels = batched.shape[1]
    kernel = _KERNEL.to(grad).expand(channels, 1, 3, 3)
    out = F.conv2d(batched, kernel, padding=1, groups=channels)
    return out if grad.dim() == 4 else out[0]
