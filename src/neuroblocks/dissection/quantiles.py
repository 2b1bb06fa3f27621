"""The top tail of every unit's activations over a dataset, in bounded memory, mergeable.

Each unit keeps its `capacity` largest values, sorted. The tail's rank r = ceil(tail · n) grows
with the count n, and while r stays within half the buffer the threshold (the r-th largest
value) is exact. Beyond that the buffer is compacted: every other value is dropped and each one
left stands for twice as many (its weight), so memory stays flat as the dataset grows.

Summaries of disjoint parts of a dataset merge (`merge`, one per shard of a distributed job):
the lighter one is compacted to the heavier one's weight, the two sorted buffers are joined and
compacted again while the rank outgrows them. A batch is merged as a summary of weight 1.

Error bound. For any value x, let est(x) = weight · (retained values ≥ x) and true(x) the count
of values seen ≥ x. Each compaction at weight w changes est(x) by 0 or ±w; merging adds the two
summaries' errors. `error` sums these, so |est(x) − true(x)| ≤ error for every x above the
retained range's floor, and the threshold's true rank lies within r ± (error + weight) (the last
term from rounding r to the buffer's steps): `rank_bound`. An exact summary has rank_bound 0.
"""

from __future__ import annotations

import math

import torch


class TopQuantile:
    """Streaming threshold above which a `tail` fraction of each unit's values lie."""

    def __init__(self, units: int, tail: float = 0.005, capacity: int = 4096) -> None:
        if not 0 < tail < 1:
            raise ValueError(f"tail is a fraction in (0, 1), not {tail}")
        if capacity < 2:
            raise ValueError(f"capacity is the values kept per unit (≥ 2), not {capacity}")
        self.tail, self.capacity = tail, capacity
        self.top = torch.empty(units, 0)
        self.n = 0  # values seen per unit
        self.weight = 1  # values each retained one stands for
        self.error = 0  # bound on |est(x) − true(x)|, in values (see the module docstring)
        #: Per unit, the largest value dropped off the buffer's end: counts are complete above it.
        self.floor = torch.full((units,), -math.inf)
        self._compactions = 0  # alternates the offset of successive compactions

    @classmethod
    def of(cls, values: torch.Tensor, tail: float = 0.005, capacity: int = 4096, keep: int | None = None) -> TopQuantile:
        """The exact summary of `values` (units, k), keeping the `keep` largest of each unit
        (all by default) and the largest one dropped as its floor."""
        summary = cls(values.shape[0], tail, capacity)
        values = values.detach().float()  # kept where the values are (a GPU's)
        summary.floor = summary.floor.to(values.device)
        if keep is not None and keep < values.shape[1]:  # a partial selection, not a sort of everything
            found = values.topk(keep + 1, dim=1).values
            summary.top, summary.floor = found[:, :keep], found[:, keep]
        else:
            summary.top = values.sort(dim=1, descending=True).values
        summary.n = values.shape[1]
        return summary

    def to(self, device: torch.device | str) -> TopQuantile:
        """The same summary with its buffers on `device` (a worker's partial result goes to the CPU)."""
        moved = self._copy()
        moved.top, moved.floor = self.top.to(device), self.floor.to(device)
        return moved

    def update(self, values: torch.Tensor) -> None:
        """values: (units, k), any k. Only what the buffer can keep after the merge is selected
        (a partial selection, not a sort): at most `capacity` values of the merged weight, and,
        when the weight stays and the buffer is full, only down to the buffer's last value,
        since anything lower falls off its end (the batch's values keep their ranks)."""
        n, weight = self.n + values.shape[1], self.weight
        while math.ceil(self.tail * n) > self.capacity * weight // 2:
            weight *= 2
        keep = self.capacity * weight
        if weight == self.weight and self.top.shape[1] >= self.capacity:
            keep = min(keep, int((values >= self.top[:, -1:].to(values.device)).sum(1).max()))
        self._absorb(TopQuantile.of(values, self.tail, self.capacity, keep=keep))

    def merge(self, other: TopQuantile) -> TopQuantile:
        """The summary of both datasets (a new object; neither is changed)."""
        if (self.tail, self.capacity, self.top.shape[0]) != (other.tail, other.capacity, other.top.shape[0]):
            raise ValueError("only summaries of the same units, tail and capacity merge")
        merged = self._copy()
        merged._absorb(other._copy())
        return merged

    def _copy(self) -> TopQuantile:
        twin = TopQuantile(self.top.shape[0], self.tail, self.capacity)
        twin.top, twin.n, twin.weight, twin.error = self.top, self.n, self.weight, self.error
        twin.floor, twin._compactions = self.floor, self._compactions
        return twin

    def _compact(self) -> None:
        self.error += self.weight
        self.top = self.top[:, self._compactions % 2 :: 2]
        self.weight *= 2
        self._compactions += 1

    def _absorb(self, other: TopQuantile) -> None:
        if other.top.device != self.top.device:
            other = other.to(self.top.device)
        while self.weight < other.weight:
            self._compact()
        while other.weight < self.weight:
            other._compact()
        self.top = torch.cat([self.top, other.top], dim=1).sort(dim=1, descending=True).values
        self.n += other.n
        self.error += other.error
        self.floor = torch.maximum(self.floor, other.floor)
        while math.ceil(self.tail * self.n) > self.capacity * self.weight // 2:
            self._compact()
        if self.top.shape[1] > self.capacity:
            self.floor = torch.maximum(self.floor, self.top[:, self.capacity])
            self.top = self.top[:, : self.capacity].contiguous()

    @property
    def exact(self) -> bool:
        """True while nothing has been compacted: the threshold is the exact quantile."""
        return self.weight == 1

    @property
    def rank_bound(self) -> int:
        """The threshold's true rank lies within ceil(tail · n) ± rank_bound."""
        return 0 if self.exact else self.error + self.weight

    def threshold(self) -> torch.Tensor:
        """(units,): the r-th largest value of each unit, r = ceil(tail · n)."""
        if self.n == 0:
            raise ValueError("no values seen yet")
        rank = math.ceil(self.tail * self.n)
        found = self.top[:, min(math.ceil(rank / self.weight), self.top.shape[1]) - 1]
        if bool((found < self.floor).any()):
            raise ValueError(
                f"the merged summaries kept too few values for the {self.tail:.2%} tail (one shard held most of the tail); "
                f"raise capacity (now {self.capacity})"
            )
        return found
