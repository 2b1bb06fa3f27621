"""Dataset examples (SPEC §6): for each unit (or direction, or neuron group), the images of a
dataset that activate it most, with a crop around where it fires hardest and its upsampled map
on that crop, streamed with a running top-k so memory does not grow with the dataset."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from ..session import Session
from .data import DissectionDataError, batches
from .units import unit_maps, upsampled

THUMB = 64  # side of the stored crops, px


@dataclass(frozen=True)
class Examples:
    """scores, images: (units, k) peak activation and dataset index, best first; crops: (units, k,
    THUMB, THUMB, 3) uint8; maps: (units, k, THUMB, THUMB) the unit's activation over each crop,
    scaled to [0, 1] by the unit's top score; directions: the (units, C) directions the units
    are, or None when they are the layer's channels."""

    layer: str
    scores: torch.Tensor
    images: torch.Tensor
    crops: torch.Tensor
    maps: torch.Tensor
    directions: torch.Tensor | None = None


def crop_around(images: torch.Tensor, centres: torch.Tensor, fraction: float, size: int = THUMB) -> torch.Tensor:
    """size×size crops (N, C, size, size) of images[i] (N, C, H, W) around centres[i] (y, x in
    pixels), each a square of `fraction` × the shorter side, kept inside the image."""
    _, _, h, w = images.shape
    side = max(8, round(fraction * min(h, w)))
    pieces = []
    for image, (y, x) in zip(images, centres.tolist()):
        top = min(max(0, int(y) - side // 2), h - side)
        left = min(max(0, int(x) - side // 2), w - side)
        pieces.append(image[:, top : top + side, left : left + side])
    return F.interpolate(torch.stack(pieces), size=(size, size), mode="bilinear", align_corners=False)


def as_uint8(pictures: torch.Tensor) -> torch.Tensor:
    """(N, 3, h, w) in [0, 1] → (N, h, w, 3) uint8."""
    return (pictures.clamp(0, 1) * 255).round().to(torch.uint8).permute(0, 2, 3, 1)


def dataset_examples(
    session: Session, layer: str, data: Iterable, k: int = 8, *, directions: torch.Tensor | None = None, crop: float = 0.5
) -> Examples:
    """The top-k images of `data` for each unit of `layer` (or each of `directions` (K, C); pass a
    neuron group's `channels` to get its examples), with crops of `crop` × the image side."""
    layer = session.check_layer(layer)
    best = None
    seen = 0
    for images, _ in batches(data, session.channels):
        maps = upsampled(unit_maps(session, layer, images, directions), tuple(images.shape[2:]))
        n, units, h, w = maps.shape
        peak, where = maps.flatten(2).max(2)  # (n, units)
        # Candidates: what is kept so far, then this batch; keep the k best per unit.
        scores = peak.T
        index = torch.arange(seen, seen + n).expand(units, n)
        if best is not None:
            scores, index = torch.cat([best[0], scores], 1), torch.cat([best[1], index], 1)
        top, pick = scores.topk(min(k, scores.shape[1]), dim=1)
        new = pick >= (0 if best is None else best[0].shape[1])
        crops = torch.zeros(units, top.shape[1], THUMB, THUMB, 3, dtype=torch.uint8)
        regions = torch.zeros(units, top.shape[1], THUMB, THUMB)
        if best is not None:
            old = ~new
            kept = pick.clamp(max=best[0].shape[1] - 1)
            crops[old] = best[2].gather(1, kept[..., None, None, None].expand(-1, -1, THUMB, THUMB, 3))[old]
            regions[old] = best[3].gather(1, kept[..., None, None].expand(-1, -1, THUMB, THUMB))[old]
        u, j = new.nonzero(as_tuple=True)
        if len(u):
            row = pick[u, j] - (0 if best is None else best[0].shape[1])
            flat = where[row, u]
            centres = torch.stack([flat // w, flat % w], 1)
            crops[u, j] = as_uint8(crop_around(session.display(images[row]), centres, crop))
            regions[u, j] = crop_around(maps[row, u][:, None], centres, crop)[:, 0]
        best = (top, index.gather(1, pick), crops, regions)
        seen += n
    if best is None:
        raise DissectionDataError("the dataset is empty: dataset examples need images")
    scale = best[0][:, :1].clamp(min=1e-12)[..., None, None]
    return Examples(layer, best[0], best[1], best[2], (best[3] / scale).clamp(0, 1), None if directions is None else directions.detach().float().cpu())
