"""The top tail of every unit's activations over a dataset, in bounded memory.

Each unit keeps its `capacity` largest values. The tail's rank r = ceil(tail · n) grows with
the count n, and while r stays within half the buffer the threshold (the r-th largest value) is
exact. Beyond that, every other retained value is dropped and each one left stands for twice as
many, and later batches are thinned the same way before they are merged, so memory stays flat as
the dataset grows, at a rank error of about one weight. All units see the same number of values
(positions of the same images), so one count and one weight serve all.
"""

from __future__ import annotations

import math

import torch


class TopQuantile:
    """Streaming threshold above which a `tail` fraction of each unit's values lie."""

    def __init__(self, units: int, tail: float = 0.005, capacity: int = 4096) -> None:
        if not 0 < tail < 1:
            raise ValueError(f"tail is a fraction in (0, 1), not {tail}")
        self.tail, self.capacity = tail, capacity
        self.top = torch.empty(units, 0)
        self.n = 0  # values seen per unit
        self.weight = 1  # values each retained one stands for
        self._offset = 0

    def update(self, values: torch.Tensor) -> None:
        """values: (units, k), any k."""
        values = values.detach().float().cpu()
        self.n += values.shape[1]
        if self.weight > 1:  # thin the batch to the retained values' weight
            ordered = values.sort(dim=1, descending=True).values
            values = ordered[:, self._offset % self.weight :: self.weight]
            self._offset += 1
        merged = torch.cat([self.top, values], dim=1).sort(dim=1, descending=True).values
        while math.ceil(self.tail * self.n) > self.capacity * self.weight // 2:
            merged = merged[:, self._offset % 2 :: 2]
            self.weight *= 2
            self._offset += 1
        self.top = merged[:, : self.capacity].contiguous()

    @property
    def exact(self) -> bool:
        """True while nothing has been thinned: the threshold is the exact quantile."""
        return self.weight == 1

    def threshold(self) -> torch.Tensor:
        """(units,): the r-th largest value of each unit, r = ceil(tail · n)."""
        if self.n == 0:
            raise ValueError("no values seen yet")
        rank = math.ceil(self.tail * self.n)
        return self.top[:, min(math.ceil(rank / self.weight), self.top.shape[1]) - 1]
