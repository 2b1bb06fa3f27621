"""Comparing two models over one dataset: layer similarity (CKA) and unit matching, from one
pass of each model over the data."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import torch

from ..errors import NeuroblocksError
from ..keywords import checked, keyword_names
from ..session import Session
from .cka import MinibatchCKA
from .correlation import RunningCorrelation
from .matching import Matching, matching
from .reading import paired


class CompareError(NeuroblocksError, ValueError):
    """Two models or layers that cannot be compared as asked."""


@dataclass(frozen=True)
class Similarity:
    """Linear CKA between layers of A (rows) and B (columns), with a permutation null."""

    layers_a: list[str]
    layers_b: list[str]
    cka: torch.Tensor  # (len(layers_a), len(layers_b))
    null: torch.Tensor  # (permutations, len(layers_a), len(layers_b))
    images: int

    @property
    def null_p95(self) -> torch.Tensor:
        """95th percentile of the null per pair: CKA above it is more than chance (NaN when
        the survey drew no permutations)."""
        if self.null.shape[0] == 0:
            return torch.full_like(self.cka, float("nan"))
        return self.null.quantile(0.95, dim=0)

    def most_similar(self) -> dict[str, str]:
        """Each layer of A's most similar layer of B."""
        return {a: self.layers_b[int(j)] for a, j in zip(self.layers_a, self.cka.argmax(1))}


@dataclass(frozen=True)
class Survey:
    """Similarity of every layer pair, and the unit matching of each pair (`matchings[a, b]`),
    of the two sessions it was computed with."""

    similarity: Similarity
    matchings: dict[tuple[str, str], Matching]
    sessions: tuple[Session, Session] = field(repr=False, compare=False)


def default_layers(session: Session) -> list[str]:
    """The model's top-level layers (direct children) that give a grid or a vector: the stages a
    comparison usually means, not every inner module."""
    readable = session.readable_layers()
    chosen = [layer for layer in readable if "." not in layer and len(session.layer_shape(layer)) in (1, 3)]
    return chosen or [layer for layer in readable if len(session.layer_shape(layer)) in (1, 3)]


def _layers(session: Session, layers: Sequence[str] | str | None, which: str) -> list[str]:
    if layers is None:
        return default_layers(session)
    chosen = [session.check_layer(layer) for layer in ([layers] if isinstance(layers, str) else layers)]
    if not chosen:
        raise CompareError(f"layers_{which} is empty: name at least one layer (session.layers lists them)")
    for layer in chosen:
        if len(session.layer_shape(layer)) not in (1, 3):
            raise CompareError(f"layer {layer!r} of model {which.upper()} has shape {session.layer_shape(layer)}; comparisons read (C, H, W) grids or (C,) vectors")
    return chosen


#: Memory the unit correlations of a survey may take (two float64 matrices per pair of layers).
UNIT_BUDGET_BYTES = 2 * 2**30


def _check_budget(session_a: Session, session_b: Session, la: list[str], lb: list[str]) -> None:
    need = sum(16 * session_a.layer_shape(a)[0] * session_b.layer_shape(b)[0] for a in la for b in lb)
    if need > UNIT_BUDGET_BYTES:
        raise CompareError(
            f"unit matching for all {len(la)} × {len(lb)} pairs of layers would hold {need / 2**30:.1f} GiB of correlations; "
            "name fewer layers, or pass units=False for CKA alone and match chosen pairs with compare.match"
        )


@checked
def survey(
    session_a: Session,
    session_b: Session,
    data: Iterable,
    layers_a: Sequence[str] | str | None = None,
    layers_b: Sequence[str] | str | None = None,
    *,
    units: bool = True,
    batch: int = 32,
    permutations: int = 8,
    seed: int = 0,
) -> Survey:
    """CKA of every pair of `layers_a` × `layers_b` and, with `units`, every pair's unit matching,
    from one pass of each model over `data` (each reads the images its own way)."""
    if not isinstance(session_a, Session) or not isinstance(session_b, Session):
        raise TypeError("compare two neuroblocks.Session objects")
    if batch < 4:
        raise CompareError(f"batch is {batch}; CKA's unbiased estimator needs batches of at least 4 images")
    if permutations < 0:
        raise CompareError(f"permutations is how many shuffles estimate the null (0 for none), not {permutations}")
    la, lb = _layers(session_a, layers_a, "a"), _layers(session_b, layers_b, "b")
    cka = MinibatchCKA(len(la), len(lb), permutations, seed)
    if units:
        _check_budget(session_a, session_b, la, lb)
    correlations = {(a, b): RunningCorrelation(session_a.layer_shape(a)[0], session_b.layer_shape(b)[0]) for a in la for b in lb} if units else {}
    for acts_a, acts_b in paired(session_a, session_b, data, la, lb, batch):
        cka.update([acts_a[a] for a in la], [acts_b[b] for b in lb])
        for (a, b), running in correlations.items():
            running.update(acts_a[a], acts_b[b])
    if cka.images == 0:
        raise CompareError(f"the dataset gave {cka.left_out} images; CKA needs at least 4")
    values, null = cka.result()
    similarity = Similarity(la, lb, values.float(), null.float(), cka.images + cka.left_out)
    found = {pair: matching(*pair, *running.result(), similarity.images) for pair, running in correlations.items()}
    return Survey(similarity, found, (session_a, session_b))


#: What `similarity` and `match` pass on to `survey` (the rest they set themselves).
SURVEY = keyword_names(survey) - {"session_a", "session_b", "data", "layers_a", "layers_b", "units"}


@checked(also=SURVEY)
def similarity(
    session_a: Session, session_b: Session, data: Iterable, layers_a: Sequence[str] | str | None = None, layers_b: Sequence[str] | str | None = None, **options
) -> Similarity:
    """Linear CKA between every layer of A and every layer of B over `data` (default layers:
    each model's top-level stages), with a permutation null."""
    return survey(session_a, session_b, data, layers_a, layers_b, units=False, **options).similarity


@checked(also=SURVEY)
def match(session_a: Session, layer_a: str, session_b: Session, layer_b: str, data: Iterable, **options) -> Matching:
    """Unit-to-unit correlations between `layer_a` of A and `layer_b` of B over `data`, the
    one-to-one and best-partner matchings, and the shuffled-input null."""
    found = survey(session_a, session_b, data, [layer_a], [layer_b], **options)
    return found.matchings[session_a.check_layer(layer_a), session_b.check_layer(layer_b)]
