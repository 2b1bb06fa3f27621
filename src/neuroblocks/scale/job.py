"""What a dataset job is: a map from a shard of the dataset to a small partial result, and an
associative, commutative merge of partial results.

Network dissection, dataset examples, atlas sampling and icon rendering are each written once
in this form; an engine (`local`, or `ray`) decides where the shards are mapped.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Protocol, TypeVar

from ..errors import NeuroblocksError
from ..session import Session

P = TypeVar("P", bound="Partial")


class Partial(Protocol):
    """A shard's result; `merge` is associative and commutative (equal results in any order)."""

    def merge(self: P, other: P) -> P: ...


class ShardJob(Protocol):
    """A picklable job. `batch`: images per forward pass; shards hold a multiple of it, so every
    engine forms the same batches and computes bit-identical activations."""

    batch: int

    def map(self, session: Session, items: Iterable, start: int, tick: Callable[[int], None]) -> Partial:
        """The partial result of `items`, the dataset's items from index `start` on; `tick(n)`
        after every n images (progress, and where a cancelled local job stops)."""
        ...

    def enough(self, partial: Partial) -> bool:
        """True once a partial result of the dataset's first shards is all the job needs."""
        ...


def merged(partials: Iterable[Partial]) -> Partial | None:
    """All partials merged, in the order given (None for none)."""
    out = None
    for p in partials:
        out = p if out is None else out.merge(p)
    return out


def check_same_model(worker: str, session: str) -> None:
    """A worker's Session must hold the driver's weights (fingerprints), or its partial results
    would belong to another model."""
    if worker != session:
        raise NeuroblocksError(
            f"the workers' model (weights {worker}) is not this session's ({session}): the recipe must build the same weights "
            "(a random model differs on every worker: save its weights and load the file, or seed its factory)"
        )
