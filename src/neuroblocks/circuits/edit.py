"""An edit found with graphs: the units of one layer that the graphs of several misclassified
images agree pushed them to the wrong class, each held at its mean code over unlabelled images
wherever it would have fired, so the model keeps their average level and loses what they tell
apart (docs/guides/shortcut.md). Zeroing them would also move every decision by their mean."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch

from ..ablation import Ablation, ablate
from ..dissection.units import unit_maps
from ..session import Session
from ..units import Units
from .consensus import shared_units
from .graph import Graph, GraphError


@dataclass(frozen=True)
class Edit:
    """Units `picks` of `units` held at `values`: `edit(session)` is the ablation that does it."""

    layer: str
    units: Units
    picks: list[int]
    values: list[float]

    def __call__(self, session: Session) -> Ablation:
        return ablate(session, self.layer, self.picks, units=self.units, to=self.values)

    def __repr__(self) -> str:
        return f"<Edit: {len(self.picks)} {self.units.noun}s of {self.layer} held at their means: {self.picks}>"


def unit_means(session: Session, units: Units, inputs: torch.Tensor, batch: int = 128) -> torch.Tensor:
    """(K,): each unit's code averaged over positions and `inputs` (N, channels, H, W) in [0, 1]."""
    codes = [unit_maps(session, units, inputs[start : start + batch]).cpu() for start in range(0, len(inputs), batch)]
    return torch.cat(codes).mean((0, 2, 3))


def shared_edit(session: Session, graphs: Sequence[Graph], layer: str, inputs: torch.Tensor, share: float = 0.5) -> Edit:
    """The edit of the units of `layer` that the `graphs` share and that raised their targets
    (`shared_units(..., raised=True)`), held at their means over `inputs` (unlabelled images).
    The shared units that lowered the targets are left alone: in graphs of mistakes they carry
    the evidence for the right class, and holding them too took the shortcut model's worst group
    from 51.6% to 31.7% (the mean over six draws of labelled scenes, benchmarks/shortcut.py)."""
    found = shared_units(graphs, layer, share, raised=True)
    if not found:
        raise GraphError(f"no unit of {layer!r} that raised the target is kept in {share:.0%} of the graphs: give more graphs, or build them with a higher node_share")
    units = graphs[0].layer_units(layer)
    means = unit_means(session, units, inputs)
    return Edit(layer, units, found, means[found].tolist())
