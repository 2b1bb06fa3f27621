"""A unit's activation statistics over a dataset, as a dataset job: its mean and standard
deviation over every position of every image, its peak, and how often it is on (above zero).
Sums merge, so shards on any engine agree."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

import torch

from ..datasets import DatasetError, batches
from ..keywords import checked
from ..scale import runner
from ..scale.options import RunOptions, dataset_job
from ..session import Session
from ..dissection.units import of_layer, unit_maps
from ..units import Units


@dataclass
class Sums:
    """A partial result: per unit, the sum, sum of squares, peak and count of positions on, over `n` positions."""

    total: torch.Tensor
    squares: torch.Tensor
    peak: torch.Tensor
    on: torch.Tensor
    n: int

    def merge(self, other: Sums) -> Sums:
        return Sums(self.total + other.total, self.squares + other.squares, torch.maximum(self.peak, other.peak), self.on + other.on, self.n + other.n)


@dataclass(frozen=True)
class _Count:
    units: Units
    batch: int

    def map(self, session: Session, items: Iterable, start: int, tick: Callable[[int], None]) -> Sums | None:
        found = None
        for _, images, _ in batches(items, session.channels, self.batch, start):
            maps = unit_maps(session, self.units, images).double()  # (N, units, h, w)
            flat = maps.transpose(0, 1).flatten(1)
            part = Sums(flat.sum(1).cpu(), (flat**2).sum(1).cpu(), flat.amax(1).float().cpu(), (flat > 0).sum(1).cpu(), flat.shape[1])
            found = part if found is None else found.merge(part)
            tick(len(images))
        return found

    def enough(self, partial: Sums) -> bool:
        return False


@dataclass(frozen=True)
class Statistics:
    """Per unit over the dataset's positions: mean, std, peak, and the share of positions it is on."""

    mean: torch.Tensor
    std: torch.Tensor
    peak: torch.Tensor
    active: torch.Tensor


@checked
@dataset_job
def unit_statistics(session: Session, layer: str, data: Iterable, *, units: Units | torch.Tensor | None = None, batch: int = 32, run: RunOptions) -> Statistics:
    """The activation statistics of `units` of `layer` (default its channels) over `data`; engine,
    progress and cancel as every dataset job takes them (`scale.RunOptions`)."""
    units = of_layer(session, session.check_layer(layer), units)
    with runner(session, run) as job:
        sums = job(_Count(units, batch), data, "unit statistics")
    if sums is None:
        raise DatasetError("the dataset is empty: statistics need images")
    mean = sums.total / sums.n
    std = (sums.squares / sums.n - mean**2).clamp(min=0).sqrt()
    return Statistics(mean.float(), std.float(), sums.peak, (sums.on.double() / sums.n).float())
