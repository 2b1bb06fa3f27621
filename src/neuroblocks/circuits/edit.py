"""An edit found with graphs: the units of one layer that the graphs of several misclassified
images agree on, each held at its mean code over unlabelled images wherever it would have
fired, so the model keeps their average level and loses what they tell apart
(docs/guides/shortcut.md). Zeroing them would also move every decision by their mean."""

from __future__ import annotations

from collections.abc import Callable, Sequence
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


def shared_edit(
    session: Session, graphs: Sequence[Graph], layer: str, inputs: torch.Tensor, *, sizes: Sequence[int] = (2, 4, 8, 12, 16, 24, 32), score: Callable[[Edit], float] | None = None
) -> Edit:
    """The edit of the units of `layer` the `graphs` share (`shared_units`), strongest first, held
    at their means over `inputs` (unlabelled images). With `score` (an edit → how good, e.g. the
    worst-group accuracy on a few labelled images), the first n of them for the n in `sizes` that
    scores best, fewest on a tie; without, all of them."""
    found = shared_units(graphs, layer)
    if not found:
        raise GraphError(f"no unit of {layer!r} is kept in half of the graphs: give more graphs, or build them with a higher node_share")
    units = graphs[0].layer_units(layer)
    means = unit_means(session, units, inputs)
    made = lambda n: Edit(layer, units, found[:n], means[found[:n]].tolist())  # noqa: E731
    if score is None:
        return made(len(found))
    candidates = [made(n) for n in sorted({min(n, len(found)) for n in sizes})]
    return max(candidates, key=lambda e: (score(e), -len(e.picks)))
