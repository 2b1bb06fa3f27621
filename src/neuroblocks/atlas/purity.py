"""How pure an atlas's cells are in concepts, against the same cells with the layout shuffled.

For a dataset with masks, each sampled vector knows the concepts under its position. A cell's
purity in a family (texture, shape, …) is the share of its vectors that lie on the cell's most
common concept of that family, among its vectors that lie on any concept of that family (a
vector on the background says nothing about textures, and counting it would make every
background cell look impure, or pure, whatever the layout did); shuffling which vector lands in which cell (keeping the cells'
sizes) gives what chance alone would show. An atlas whose cells are no purer than that has
laid the vectors out by something other than what the masks name.
"""

from __future__ import annotations

import numpy as np

from ..datasets import family as family_of
from ..keywords import checked
from .cells import Cells
from .sampling import AtlasError


@checked
def cell_purity(cells: Cells, present: np.ndarray, concepts: tuple[str, ...], family: str, members: np.ndarray | None = None) -> np.ndarray:
    """(M,) each cell's share of its on-concept vectors that lie on its majority concept of
    `family` (NaN for a cell with none); `members` (N,) overrides which cell each sample is in
    (a shuffled layout)."""
    columns = [k for k, c in enumerate(concepts) if family_of(c) == family]
    if not columns:
        raise AtlasError(f"the sampled dataset has no masks of the family {family!r}; its concepts are {sorted(set(map(family_of, concepts)))}")
    members = cells.members if members is None else members
    on = np.asarray(present)[:, columns].astype(np.int64)
    inside = (members >= 0) & (on.sum(1) > 0)
    totals = np.zeros((len(cells), len(columns)), np.int64)
    np.add.at(totals, members[inside], on[inside])
    sizes = np.bincount(members[inside], minlength=len(cells))
    return np.where(sizes > 0, totals.max(1) / np.maximum(sizes, 1), np.nan)


@checked
def purity_against_shuffled(cells: Cells, present: np.ndarray, concepts: tuple[str, ...], family: str, seed: int = 0) -> tuple[float, float]:
    """(mean purity of the cells, mean purity of the same cells with the vectors shuffled among
    them), over the cells that hold any vector on the family's concepts."""
    real = cell_purity(cells, present, concepts, family)
    shuffled = cells.members.copy()
    inside = np.flatnonzero(shuffled >= 0)
    shuffled[inside] = np.random.default_rng(seed).permutation(shuffled[inside])
    return float(np.nanmean(real)), float(np.nanmean(cell_purity(cells, present, concepts, family, shuffled)))
