"""Token layers as attribution reads them: every token of the layer in one row of positions.

A token layer's prefix tokens (class, distillation, register) are atoms like its patches, but
they are not on the image grid. Attribution reads the layer as (C, 1, H·W + P): the patch grid
in row-major order, then the P prefix tokens. So position atoms H·W … H·W + P − 1 are the prefix
tokens, a channel's sum runs over every token, and the same Jacobian code serves both. Layers
without prefix tokens are read as they are.
"""

from __future__ import annotations

import torch

from ..images import ImageLike
from ..layer_layout import LayerLayout
from ..session import Session


def join(grid: torch.Tensor, prefix: torch.Tensor) -> torch.Tensor:
    """(N, C, H, W) patches and (N, P, C) prefix tokens → (N, C, 1, H·W + P)."""
    return torch.cat([grid.flatten(2), prefix.transpose(1, 2)], dim=2)[:, :, None]


def split(row: torch.Tensor, layout: LayerLayout) -> tuple[torch.Tensor, torch.Tensor]:
    """(N, C, 1, H·W + P) → patches (N, C, H, W), prefix tokens (N, P, C)."""
    c, h, w = layout.shape
    flat = row[:, :, 0]
    return flat[:, :, : h * w].reshape(-1, c, h, w), flat[:, :, h * w :].transpose(1, 2)


def activations(session: Session, image: ImageLike, layer: str) -> torch.Tensor:
    """One image's activations of `layer` as attribution reads them (see the module's docstring)."""
    trace = session.trace(image, layer, logits=False)
    if layer not in trace.prefixes:
        return trace[layer]
    return join(trace[layer][None], trace.prefixes[layer][None])[0]


def of_pass(activations: dict[str, torch.Tensor], prefixes: dict[str, torch.Tensor], layer: str) -> torch.Tensor:
    """A pass's batch of `layer` as attribution reads it."""
    return join(activations[layer], prefixes[layer]) if layer in prefixes else activations[layer]


def patches(row: torch.Tensor, layout: LayerLayout) -> torch.Tensor:
    """One image's (C, 1, H·W + P) back to its patch grid (C, H, W); other layers' as they are."""
    return split(row[None], layout)[0][0] if layout.tokens else row


def prefix(row: torch.Tensor, layout: LayerLayout) -> torch.Tensor:
    """One image's prefix tokens (P, C) from its (C, 1, H·W + P); (0, C) for other layers."""
    return split(row[None], layout)[1][0] if layout.tokens else row.new_zeros(0, row.shape[0])
