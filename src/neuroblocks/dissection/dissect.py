"""Network dissection (Bau et al. 2017; docs/guides/faithfulness.md): threshold each unit's upsampled activation map at
its top 0.5% over the dataset, compare the thresholded region with each concept's mask by IoU,
and label the unit with its best concept where the IoU reaches 0.04.

Two streaming passes over the dataset: the first finds the thresholds (`TopQuantile`, memory
bounded whatever the dataset's size), the second counts intersections and unions. Nothing per
image is kept. Each pass is a dataset job (`scale.job`): its shards' summaries and counts merge,
so the passes run in this process or on Ray workers (`engine=`) with the same result.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field

import torch

from ..datasets import DatasetError, batches, family
from ..keywords import checked
from ..scale import runner
from ..scale.options import RunOptions, dataset_job
from ..session import Session
from .quantiles import TopQuantile
from ..units import Units
from .units import of_layer, unit_maps, upsampled


@dataclass(frozen=True)
class Dissection:
    """iou: (units, concepts). thresholds: (units,). exact: the thresholds are exact quantiles;
    rank_bound: otherwise, how far (in values) their true rank may lie from the tail's."""

    layer: str
    concepts: list[str]
    iou: torch.Tensor
    thresholds: torch.Tensor
    images: int
    exact: bool
    min_iou: float
    rank_bound: int = 0

    @property
    def best(self) -> tuple[torch.Tensor, torch.Tensor]:
        """Each unit's best IoU and the index of its concept."""
        return self.iou.max(1)

    @property
    def labels(self) -> list[str | None]:
        """Each unit's concept, or None where its best IoU is under `min_iou`."""
        values, index = self.best
        return [self.concepts[int(i)] if float(v) >= self.min_iou else None for v, i in zip(values, index)]

    def units_of(self, concept: str) -> list[int]:
        """Units labelled with `concept`, best IoU first."""
        found = [u for u, label in enumerate(self.labels) if label == concept]
        return sorted(found, key=lambda u: -float(self.iou[u, self.concepts.index(concept)]))

    def families(self) -> dict[str, list[int]]:
        """Labelled units per concept family ("shape", "texture", "color", …)."""
        out: dict[str, list[int]] = {family(c): [] for c in self.concepts}
        for u, label in enumerate(self.labels):
            if label is not None:
                out[family(label)].append(u)
        return out

    def mean_best_iou(self) -> float:
        return float(self.best[0].mean())


def _maps(session: Session, job, items: Iterable, start: int):
    """(upsampled maps (N, U, H, W), masks, images N) of each batch, at the masks' resolution."""
    for _, images, masks in batches(items, session.channels, job.batch, start):
        if not masks:
            raise DatasetError(
                "dissection needs concept masks: items (image, {concept: mask}) or batches of them; these items have none "
                "(images, or an ImageFolder's (image, label)): dataset_examples and atlas read those"
            )
        maps = unit_maps(session, job.units, images)
        yield upsampled(maps, tuple(images.shape[2:])), masks


@dataclass
class Tails:
    """Pass 1's partial result: the units' top-tail summary, images seen, pixels per concept."""

    quantile: TopQuantile | None = None
    images: int = 0
    pixels: dict[str, int] = field(default_factory=dict)

    def merge(self, other: Tails) -> Tails:
        quantile = other.quantile if self.quantile is None else self.quantile if other.quantile is None else self.quantile.merge(other.quantile)
        pixels = {c: self.pixels.get(c, 0) + other.pixels.get(c, 0) for c in {**self.pixels, **other.pixels}}
        return Tails(quantile, self.images + other.images, pixels)


@dataclass
class Overlaps:
    """Pass 2's partial result: per unit and concept, pixels above threshold and in the mask
    (inter), and per unit pixels above threshold (fired)."""

    inter: torch.Tensor
    fired: torch.Tensor

    def merge(self, other: Overlaps) -> Overlaps:
        return Overlaps(self.inter + other.inter, self.fired + other.fired)


@dataclass(frozen=True)
class _FindTails:
    units: Units
    tail: float
    capacity: int
    batch: int

    def map(self, session: Session, items: Iterable, start: int, tick: Callable[[int], None]) -> Tails:
        quantile, images, pixels = None, 0, {}
        for maps, masks in _maps(session, self, items, start):
            quantile = quantile or TopQuantile(maps.shape[1], self.tail, self.capacity).to(maps.device)
            quantile.update(maps.transpose(0, 1).reshape(maps.shape[1], -1))
            images += maps.shape[0]
            for c, m in masks.items():
                pixels[c] = pixels.get(c, 0) + int(m.sum())
            tick(maps.shape[0])
        return Tails(quantile and quantile.to("cpu"), images, pixels)

    def enough(self, partial: Tails) -> bool:
        return False


@dataclass(frozen=True)
class _CountOverlaps:
    units: Units
    thresholds: torch.Tensor
    concepts: tuple[str, ...]
    batch: int

    def map(self, session: Session, items: Iterable, start: int, tick: Callable[[int], None]) -> Overlaps:
        units, names = len(self.thresholds), self.concepts
        found = Overlaps(torch.zeros(units, len(names), dtype=torch.float64), torch.zeros(units, dtype=torch.float64))
        thresholds = self.thresholds.to(session.device)
        for maps, masks in _maps(session, self, items, start):
            # Counts below 2^24 are exact in float32 (fast on a GPU); they add up in float64.
            exact = torch.float32 if maps[0, 0].numel() * maps.shape[0] < 2**24 else torch.float64
            on = (maps > thresholds[None, :, None, None]).transpose(0, 1).reshape(units, -1).to(exact)
            m = torch.stack([masks.get(c, torch.zeros(maps.shape[0], *maps.shape[2:], dtype=torch.bool)) for c in names], dim=-1).to(on)
            found = found.merge(Overlaps((on @ m.reshape(-1, len(names))).double().cpu(), on.sum(1).double().cpu()))
            tick(maps.shape[0])
        return found

    def enough(self, partial: Overlaps) -> bool:
        return False


@checked
@dataset_job
def dissect(
    session: Session,
    layer: str,
    data: Iterable,
    *,
    units: Units | torch.Tensor | None = None,
    tail: float = 0.005,
    min_iou: float = 0.04,
    capacity: int = 4096,
    batch: int = 32,
    run: RunOptions,
) -> Dissection:
    """Dissect `units` of `layer` (`neuroblocks.units`; default its channels; directions (K, C) in
    its activation space, a trained dictionary's latents) over `data`
    (see `neuroblocks.datasets` for the forms it takes), `batch` images per forward pass;
    engine, progress and cancel as every dataset job takes them (`scale.RunOptions`)."""
    layer = session.check_layer(layer)
    if isinstance(data, Iterator):  # a generator, or iter(...) of something
        raise DatasetError("the dataset is a one-shot iterator, but dissection reads it twice: pass a list, a Dataset or a DataLoader")
    units = of_layer(session, layer, units)
    with runner(session, run) as job:
        found = job(_FindTails(units, tail, capacity, batch), data, "dissection pass 1/2 (thresholds)")
        if found is None or found.images == 0:
            raise DatasetError("the dataset is empty: dissection needs images with concept masks")
        empty = [c for c, pixels in found.pixels.items() if pixels == 0]
        if empty:
            raise DatasetError(f"concept {empty[0]!r} has no pixels in any image: its IoU would mean nothing; drop it or check its masks")
        names = tuple(sorted(found.pixels))
        thresholds = found.quantile.threshold()
        counts = job(_CountOverlaps(units, thresholds, names, batch), data, "dissection pass 2/2 (overlaps)")
    area = torch.tensor([found.pixels[c] for c in names], dtype=torch.float64)
    iou = counts.inter / (counts.fired[:, None] + area[None] - counts.inter).clamp(min=1)
    return Dissection(layer, list(names), iou.float(), thresholds, found.images, found.quantile.exact, min_iou, found.quantile.rank_bound)
