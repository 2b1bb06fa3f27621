"""Dataset examples (docs/guides/faithfulness.md): for each unit (a channel, direction or latent), the images of a
dataset that activate it most, with a crop around where it fires hardest and its upsampled map
on that crop, streamed with a running top-k so memory does not grow with the dataset. The top-k
of shards merge (`Best`), so the job runs in this process or on Ray workers alike (`engine=`)."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from ..datasets import DatasetError, batches
from ..keywords import checked
from ..scale import runner
from ..scale.options import RunOptions, dataset_job
from ..session import Session
from ..units import Units
from .units import of_layer, unit_maps, upsampled

THUMB = 64  # side of the stored crops, px


@dataclass(frozen=True)
class Examples:
    """scores, images: (units, k) peak activation and dataset index, best first; crops: (units, k,
    THUMB, THUMB, 3) uint8; maps: (units, k, THUMB, THUMB) the unit's activation over each crop,
    scaled to [0, 1] by the unit's top score; units: what the units are (`neuroblocks.units`)."""

    layer: str
    scores: torch.Tensor
    images: torch.Tensor
    crops: torch.Tensor
    maps: torch.Tensor
    units: Units


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


@dataclass
class Best:
    """A partial result: each unit's k best images so far (as in `Examples`, maps not yet scaled),
    ordered by score, then by dataset index, so merges in any order agree."""

    scores: torch.Tensor
    images: torch.Tensor
    crops: torch.Tensor
    regions: torch.Tensor
    k: int

    def merge(self, other: Best) -> Best:
        scores, images = torch.cat([self.scores, other.scores], 1), torch.cat([self.images, other.images], 1)
        by_index = images.argsort(dim=1, stable=True)
        by_score = scores.gather(1, by_index).argsort(dim=1, descending=True, stable=True)
        pick = by_index.gather(1, by_score)[:, : self.k]
        crops, regions = torch.cat([self.crops, other.crops], 1), torch.cat([self.regions, other.regions], 1)
        return Best(
            scores.gather(1, pick),
            images.gather(1, pick),
            crops.gather(1, pick[..., None, None, None].expand(-1, -1, THUMB, THUMB, 3)),
            regions.gather(1, pick[..., None, None].expand(-1, -1, THUMB, THUMB)),
            self.k,
        )


@dataclass(frozen=True)
class _FindExamples:
    units: Units
    k: int
    crop: float
    batch: int

    def map(self, session: Session, items: Iterable, start: int, tick: Callable[[int], None]) -> Best | None:
        best = None
        for first, images, _ in batches(items, session.channels, self.batch, start):
            maps = upsampled(unit_maps(session, self.units, images), tuple(images.shape[2:]))
            n, units, h, w = maps.shape
            peak, where = maps.flatten(2).max(2)  # (n, units)
            top, row = peak.T.topk(min(self.k, n), dim=1)  # this batch's best per unit
            # Only what can enter a unit's top k is cropped: once a unit holds k images, one of this
            # batch must beat its k-th (a later image never wins a tie: merges order ties by index).
            # The rest stay in the batch's result as empty entries that lose every merge.
            full = best is not None and best.scores.shape[1] == self.k
            wins = top.cpu() > best.scores[:, -1:] if full else torch.ones_like(top, dtype=torch.bool, device="cpu")
            unit, rank = torch.nonzero(wins, as_tuple=True)
            crops = torch.zeros(units, top.shape[1], THUMB, THUMB, 3, dtype=torch.uint8)
            regions = torch.zeros(units, top.shape[1], THUMB, THUMB)
            if len(unit):
                image = row.cpu()[unit, rank]
                flat = where.cpu()[image, unit]
                centres = torch.stack([flat // w, flat % w], 1)
                crops[unit, rank] = as_uint8(crop_around(session.display(images[image]), centres, self.crop)).cpu()
                regions[unit, rank] = crop_around(maps[image.to(maps.device), unit.to(maps.device)][:, None], centres, self.crop)[:, 0].cpu()
            scores = torch.where(wins, top.cpu(), torch.tensor(float("-inf")))
            found = Best(scores, row.cpu() + first, crops, regions, self.k)
            best = found if best is None else best.merge(found)
            tick(n)
        return best

    def enough(self, partial: Best) -> bool:
        return False


@checked
@dataset_job
def dataset_examples(
    session: Session,
    layer: str,
    data: Iterable,
    k: int = 8,
    *,
    units: Units | torch.Tensor | None = None,
    crop: float = 0.5,
    batch: int = 32,
    run: RunOptions,
) -> Examples:
    """The top-k images of `data` for each of `units` of `layer` (`neuroblocks.units`; default its
    channels; directions (K, C) such as neuron groups' `channels`, or a dictionary for its
    latents'), with crops of `crop` × the image side; `batch` images per forward pass; engine,
    progress and cancel as every dataset job takes them (`scale.RunOptions`)."""
    layer = session.check_layer(layer)
    units = of_layer(session, layer, units)
    with runner(session, run) as job:
        best = job(_FindExamples(units, k, crop, batch), data, "dataset examples")
    if best is None:
        raise DatasetError("the dataset is empty: dataset examples need images")
    scale = best.scores[:, :1].clamp(min=1e-12)[..., None, None]
    return Examples(layer, best.scores, best.images, best.crops, (best.regions / scale).clamp(0, 1), units)
