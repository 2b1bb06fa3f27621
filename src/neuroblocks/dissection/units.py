"""What dissection and dataset examples measure: the code maps of any units of a layer (its
channels by default; directions, a dictionary's latents: `neuroblocks.units`)."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from ..errors import NeuroblocksError
from ..keywords import checked
from ..session import Session
from ..units import Units, units_of


def unit_maps(session: Session, units: Units, images: torch.Tensor) -> torch.Tensor:
    """(N, units, h, w): each unit's code map over a batch (a layer's channels: its activations)."""
    with torch.no_grad():
        a = session.forward(images.to(session.device), capture=[units.layer], stop=True).activations[units.layer].float()
        if a.dim() != 4:
            raise NeuroblocksError(f"layer {units.layer!r} has no positions (shape {tuple(a.shape[1:])}); dissection needs a convolutional layer")
        return units.codes(a)


def of_layer(session: Session, layer: str, units: Units | torch.Tensor | None) -> Units:
    """What a dataset job's `units=` gives, checked against the layer (None: its channels)."""
    return units_of(layer, tuple(session.layer_shape(layer)), units)


def upsampled(maps: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Maps at the masks' resolution, bilinearly (as network dissection does)."""
    return F.interpolate(maps, size=size, mode="bilinear", align_corners=False)


@checked
def random_directions(channels: int, count: int, seed: int = 0) -> torch.Tensor:
    """(count, channels) unit vectors drawn uniformly on the sphere: the chimera baseline."""
    g = torch.Generator().manual_seed(seed)
    d = torch.randn(count, channels, generator=g)
    return d / d.norm(dim=1, keepdim=True)
