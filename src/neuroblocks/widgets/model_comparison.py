"""Model comparison: how alike two models' layers are (the CKA heatmap, layers of A down and
of B across) and, for a clicked pair of layers, their best-matched units side by side with both
icons and the correlation. Clicking a pair of units selects its channels in the single-image
views linked with `link_views` when they show that pair's layers (else it says which layers it
needs); positions hovered there follow from one model's grid to the other's (docs/guides/comparing-models.md)."""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import torch
import traitlets

from ..compare import Survey
from ..errors import NeuroblocksError
from ..featurevis import objectives
from ..session import Session
from .base import View, Wanted
from .linking import Links, link_traits
from .payload import array
from .traits import Array


def rescale(position: list[int] | None, source: Sequence[int], target: Sequence[int]) -> list[int] | None:
    """The cell of grid `target` whose region holds the centre of `position`'s cell of grid `source`."""
    if position is None:
        return None
    return [min(t - 1, int((p + 0.5) * t / s)) for p, s, t in zip(position, source, target)]


class ModelComparison(View):
    """A `Survey` (from `neuroblocks.compare.survey`) of models A (`session`) and B (`session_b`);
    `pairs` matched units shown per pair of layers, `names` of the two models."""

    kind = traitlets.Unicode("model_comparison").tag(sync=True)
    names = traitlets.List().tag(sync=True)
    layers_a = traitlets.List().tag(sync=True)
    layers_b = traitlets.List().tag(sync=True)
    cka = Array("float32", 2, help="(La, Lb): linear CKA of every pair of layers")
    null = Array("float32", 2, help="(La, Lb): the shuffled-input null's 95th percentile")
    pairs = Array("int32", 4, help="(La, Lb, K, 2): matched units, strongest first")
    pair_values = Array("float32", 3, help="(La, Lb, K): their correlations")
    null_means = Array("float32", 2, help="(La, Lb): the mean correlation of the shuffled-input matching")
    summary = traitlets.Unicode("").tag(sync=True)
    cell = traitlets.Any(None, allow_none=True).tag(sync=True)  # [i, j]: the pair of layers shown
    unit_b = traitlets.Int(None, allow_none=True).tag(sync=True)  # B's unit of the clicked pair (A's is `unit`)
    position_b = traitlets.Any(None, allow_none=True).tag(sync=True)  # `position` in B's grid
    grid_a = traitlets.List().tag(sync=True)  # [h, w] of the linked views' grids
    grid_b = traitlets.List().tag(sync=True)
    linked_layers = traitlets.List().tag(sync=True)  # [A's, B's] layer of the linked views: a pair selects channels there only when it is of these
    inputs = ()

    def __init__(self, session: Session, session_b: Session, survey: Survey, *, pairs: int = 6, names: Sequence[str] = ("A", "B"), **options) -> None:
        if not isinstance(survey, Survey):
            raise TypeError(f"ModelComparison shows a neuroblocks.compare.Survey, not {type(survey).__name__}")
        if survey.sessions[0] is not session or survey.sessions[1] is not session_b:
            raise NeuroblocksError("this survey compared other sessions: pass the two sessions it was computed with, in the same order (A, then B)")
        s = survey.similarity
        missing = [f"{a} × {b}" for a in s.layers_a for b in s.layers_b if (a, b) not in survey.matchings]
        if missing:
            raise NeuroblocksError(f"the survey has no unit matching for {', '.join(missing[:3])}: run compare.survey(..., units=True)")
        if len(names) != 2:
            raise ValueError(f"names are the two models' names, e.g. ('seed 0', 'seed 1'); got {names!r}")
        self.session_b, self.survey, self.k = session_b, survey, max(1, int(pairs))
        self._linked_cell: list[int] | None = None  # the linked views' pair of layers (see `link_views`)
        super().__init__(session, names=list(names), **options)

    def _compute(self) -> Iterator[tuple[dict, tuple[Wanted, Wanted]]]:
        s = self.survey.similarity
        k = min([self.k] + [len(m.pairs) for m in self.survey.matchings.values()])
        grid = [[self.survey.matchings[a, b] for b in s.layers_b] for a in s.layers_a]
        pairs = torch.stack([torch.stack([m.pairs[:k] for m in row]) for row in grid])
        values = torch.stack([torch.stack([m.pair_correlation[:k] for m in row]) for row in grid])
        null_means = torch.tensor([[m.null_mean for m in row] for row in grid])
        # Icons of the most similar layer pairs' units first; a unit is rendered once.
        wanted_a: dict = {}
        wanted_b: dict = {}
        for flat in s.cka.flatten().argsort(descending=True).tolist():
            i, j = divmod(flat, len(s.layers_b))
            la, lb = s.layers_a[i], s.layers_b[j]
            for a, b in pairs[i, j].tolist():
                wanted_a.setdefault(f"A:{la}:{a}", objectives.channel(la, a))
                wanted_b.setdefault(f"B:{lb}:{b}", objectives.channel(lb, b))
        best = s.cka.flatten().argmax().item()
        summary = f"{s.images} images · linear CKA (minibatch, unbiased); cells above the null's 95th percentile are more than chance"
        values_out = {
            "layers_a": s.layers_a, "layers_b": s.layers_b, "cka": array(s.cka), "null": array(s.null_p95),
            "pairs": array(pairs, "int32"), "pair_values": array(values), "null_means": array(null_means),
            "summary": summary, "cell": self._linked_cell or list(divmod(best, len(s.layers_b))),
        }
        yield values_out, (list(wanted_a.items()), list(wanted_b.items()))

    def _apply(self, values: dict, wanted: tuple[Wanted, Wanted], generation: int) -> None:
        super()._apply(values, wanted[0], generation)
        self.stream_icons(wanted[1], generation, session=self.session_b)

    def link_views(self, view_a: View, view_b: View) -> Links:
        """Link a single-image view of model A and one of model B (on the same image): clicking a
        pair selects its channels in them, and a position hovered in one is shown in the other,
        mapped between their grids."""
        for view, session, which in ((view_a, self.session, "A"), (view_b, self.session_b, "B")):
            if view.session is not session:
                raise NeuroblocksError(f"the {which} view is on another model than the comparison's {which} ({self.names['AB'.index(which)]})")
        self.grid_a, self.grid_b = (list(v.session.layer_shape(v.layer)[1:]) for v in (view_a, view_b))
        self.linked_layers = [view_a.layer, view_b.layer]
        s = self.survey.similarity
        if view_a.layer in s.layers_a and view_b.layer in s.layers_b:  # show the linked views' pair of layers first
            self._linked_cell = [s.layers_a.index(view_a.layer), s.layers_b.index(view_b.layer)]
            if self.cka:  # already computed; otherwise the computation starts there
                self.cell = self._linked_cell
        links = link_traits(
            [(self, "unit"), (view_a, "unit")], [(self, "unit_b"), (view_b, "unit")],
            [(self, "position"), (view_a, "position")], [(self, "position_b"), (view_b, "position")],
        )
        # The browser maps positions between the grids itself; this does it for changes made in Python.
        self.observe(lambda change: self._follow("position", "position_b", self.grid_a, self.grid_b), names="position")
        self.observe(lambda change: self._follow("position_b", "position", self.grid_b, self.grid_a), names="position_b")
        return links

    def _follow(self, source: str, target: str, source_grid, target_grid) -> None:
        if source in self._property_lock:  # from the browser, which maps it itself
            return
        here, there = getattr(self, source), getattr(self, target)
        if rescale(there, target_grid, source_grid) == here and there is not None:
            return  # already where the other grid shows it (no ping-pong between grids)
        mapped = rescale(here, source_grid, target_grid)
        if mapped != there:
            setattr(self, target, mapped)
