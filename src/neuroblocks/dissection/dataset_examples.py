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
            found = self._batch(session, images, first, best)
            best = found if best is None else best.merge(found) if found is not None else best
            tick(len(images))
        return best

    def _batch(self, session: Session, images: torch.Tensor, first: int, best: Best | None) -> Best | None:
        """This batch's best per unit. Only what can enter a unit's top k is upsampled and cropped:
        an upsampled map never exceeds its grid's maximum (bilinear values are convex combinations),
        so once a unit holds k images, an image whose grid maximum does not beat its k-th is
        passed over (a later image never wins a tie: merges order ties by index). Entries passed
        over stay in the result empty, at -inf, and lose every merge; None when nothing can enter."""
        codes = unit_maps(session, self.units, images)  # (n, units, gh, gw)
        n, units = codes.shape[:2]
        size = tuple(images.shape[2:])
        k = min(self.k, n)
        full = best is not None and best.scores.shape[1] == self.k
        floor = best.scores[:, -1:] if full else torch.full((units, 1), float("-inf"))
        unit, image = torch.nonzero(codes.flatten(2).amax(2).cpu().T > floor, as_tuple=True) if full else (
            torch.arange(units).repeat_interleave(n), torch.arange(n).repeat(units))
        if not len(unit):
            return None
        scores = torch.full((units, n), float("-inf"))
        where = torch.zeros(units, n, dtype=torch.long)
        maps = upsampled(codes[image.to(codes.device), unit.to(codes.device)][:, None], size)[:, 0]
        peak, at = maps.flatten(1).max(1)
        scores[unit, image], where[unit, image] = peak.cpu(), at.cpu()
        index = torch.full((units, n), -1, dtype=torch.long)
        index[unit, image] = torch.arange(len(unit))
        top, row = scores.topk(k, dim=1)
        wins = top > floor
        if not wins.any():
            return None
        won_unit, rank = torch.nonzero(wins, as_tuple=True)
        crops = torch.zeros(units, k, THUMB, THUMB, 3, dtype=torch.uint8)
        regions = torch.zeros(units, k, THUMB, THUMB)
        picked = row[won_unit, rank]
        flat = where[won_unit, picked]
        centres = torch.stack([flat // size[1], flat % size[1]], 1)
        crops[won_unit, rank] = as_uint8(crop_around(session.display(images[picked]), centres, self.crop)).cpu()
        regions[won_unit, rank] = crop_around(maps[index[won_unit, picked].to(maps.device)][:, None], centres, self.crop)[:, 0].cpu()
        return Best(torch.where(wins, top, torch.tensor(float("-inf"))), row + first, crops, regions, self.k)

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
