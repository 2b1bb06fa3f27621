"""The atlas's cells (docs/guides/dataset-scale.md): the layout cut into a g×g grid, and in every cell
with more than `threshold` vectors their count, their mean, their mean attribution to every
class and the samples nearest the cell's centre (the dataset patches a view shows for it)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..keywords import checked


@dataclass(frozen=True)
class Cells:
    """One resolution of an atlas. `where` (M, 2) the (row, column) of each kept cell, row 0 at
    the top (layout y = 0); `counts` (M,); `means` (M, C); `examples` (M, E) sample indices,
    nearest the centre first, -1 where a cell has fewer; `members` (N,) each sample's cell in
    `where`, or -1 when its cell was dropped; `classes` (M, K) the mean over the cell's vectors
    of their attribution to every class."""

    size: int
    where: np.ndarray
    counts: np.ndarray
    means: np.ndarray
    examples: np.ndarray
    members: np.ndarray
    classes: np.ndarray

    def __len__(self) -> int:
        return len(self.counts)


def _means(members: np.ndarray, values: np.ndarray, counts: np.ndarray) -> np.ndarray:
    sums = np.zeros((len(counts), values.shape[1]))
    inside = members >= 0
    np.add.at(sums, members[inside], values[inside])
    return (sums / counts[:, None]).astype(np.float32)


@checked
def grid(points: np.ndarray, vectors: np.ndarray, classes: np.ndarray, size: int, threshold: int = 5, examples: int = 6) -> Cells:
    """Cells of a size×size grid over `points` (N, 2) as (x, y) in [0, 1], keeping cells with
    more than `threshold` of the samples, whose `vectors` (N, C) and `classes` (N, K) they average."""
    rc = np.minimum((points[:, [1, 0]] * size).astype(np.int64), size - 1)  # (row from y, column from x)
    flat = rc[:, 0] * size + rc[:, 1]
    counts = np.bincount(flat, minlength=size * size)
    kept = np.flatnonzero(counts > threshold)
    slot = np.full(size * size, -1)
    slot[kept] = np.arange(len(kept))
    members = slot[flat]
    centres = (np.stack([kept % size, kept // size], 1) + 0.5) / size  # (x, y)
    nearest = np.full((len(kept), examples), -1)
    for m in range(len(kept)):
        own = np.flatnonzero(members == m)
        order = own[np.argsort(((points[own] - centres[m]) ** 2).sum(1), kind="stable")][:examples]
        nearest[m, : len(order)] = order
    where = np.stack([kept // size, kept % size], 1)
    return Cells(size, where, counts[kept], _means(members, vectors, counts[kept]), nearest, members, _means(members, classes, counts[kept]))
