"""What dissection and dataset examples measure: a layer's units, directions in its space, or a
dictionary's latents (anything with `codes`, a cube batch → code maps; see `neuroblocks.dictionary`)."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from ..errors import NeuroblocksError
from ..keywords import checked
from ..session import Session


def unit_maps(session: Session, layer: str, images: torch.Tensor, directions: object = None) -> torch.Tensor:
    """(N, units, h, w) activation maps of a batch: the layer's channels, its activations
    projected on each of `directions` (K, C), or a dictionary's code maps."""
    with torch.no_grad():
        a = session.forward(images.to(session.device), capture=[layer], stop=True).activations[layer].float()
    if a.dim() != 4:
        raise NeuroblocksError(f"layer {layer!r} has no positions (shape {tuple(a.shape[1:])}); dissection needs a convolutional layer")
    if directions is None:
        return a
    if hasattr(directions, "codes"):
        return directions.codes(a)
    if directions.shape[1] != a.shape[1]:
        raise NeuroblocksError(f"directions have {directions.shape[1]} entries but {layer!r} has {a.shape[1]} channels")
    return torch.einsum("nchw,kc->nkhw", a, directions.to(a))


def as_units(directions: object) -> object:
    """What a job carries to its workers: directions as a float CPU tensor, a dictionary as it is."""
    if directions is None or hasattr(directions, "codes"):
        return directions
    return directions.detach().float().cpu()


def upsampled(maps: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Maps at the masks' resolution, bilinearly (as network dissection does)."""
    return F.interpolate(maps, size=size, mode="bilinear", align_corners=False)


@checked
def random_directions(channels: int, count: int, seed: int = 0) -> torch.Tensor:
    """(count, channels) unit vectors drawn uniformly on the sphere: the chimera baseline."""
    g = torch.Generator().manual_seed(seed)
    d = torch.randn(count, channels, generator=g)
    return d / d.norm(dim=1, keepdim=True)
