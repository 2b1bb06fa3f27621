"""Robustness transforms applied at every optimisation step (docs/explanations/feature-visualization.md), differentiable and
torch-only: pad 12 px (value 0.5), jitter up to 8 px, scale from {0.90, 0.92, …, 1.10}, rotate
from −10…10 degrees (0 five times more likely), jitter up to 4 px. One random draw per step is
shared by the batch, from a seeded generator, so a seed reproduces a run exactly."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

SCALES = [1 + (i - 5) / 50 for i in range(11)]
ANGLES = list(range(-10, 11)) + [0] * 5


def _pick(options: list, g: torch.Generator):
    return options[int(torch.randint(len(options), (1,), generator=g))]


def pad(x: torch.Tensor, px: int = 12, value: float = 0.5) -> torch.Tensor:
    return F.pad(x, (px, px, px, px), value=value)


def jitter(x: torch.Tensor, d: int, g: torch.Generator) -> torch.Tensor:
    """Crop `d` pixels off each axis at a random offset."""
    dy, dx = (int(v) for v in torch.randint(d + 1, (2,), generator=g))
    return x[..., dy : x.shape[-2] - d + dy, dx : x.shape[-1] - d + dx]


def scale(x: torch.Tensor, factor: float) -> torch.Tensor:
    size = [max(1, round(s * factor)) for s in x.shape[-2:]]
    return F.interpolate(x, size=size, mode="bilinear", align_corners=False)


def rotate(x: torch.Tensor, degrees: float) -> torch.Tensor:
    """Rotate about the centre; what comes in from outside repeats the border (the grey padding)."""
    if degrees == 0:
        return x
    t = math.radians(degrees)
    theta = torch.tensor([[math.cos(t), -math.sin(t), 0.0], [math.sin(t), math.cos(t), 0.0]], dtype=x.dtype, device=x.device)
    grid = F.affine_grid(theta.expand(x.shape[0], 2, 3), list(x.shape), align_corners=False)
    return F.grid_sample(x, grid, mode="bilinear", padding_mode="border", align_corners=False)


def standard(x: torch.Tensor, g: torch.Generator) -> torch.Tensor:
    """The article's transform stack, in order."""
    x = jitter(pad(x), 8, g)
    x = scale(x, _pick(SCALES, g))
    x = rotate(x, _pick(ANGLES, g))
    return jitter(x, 4, g)
