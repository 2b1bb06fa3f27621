"""How a worker builds its own Session: a Session is not sent over the wire (it holds a model,
threads and caches); a recipe is, and every worker builds a replica from it."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import NeuroblocksError
from ..session import Session


@dataclass(frozen=True)
class Recipe:
    """`Recipe(make_session, *args, **kwargs)` calls a function that returns a Session (any
    model, any preprocessing); `Recipe.load(name, weights=…)` is `Session.load`'s arguments.
    The function must be importable or picklable by value (a notebook's function is)."""

    factory: Callable[..., Session]
    args: tuple = ()
    kwargs: dict[str, Any] = field(default_factory=dict)

    def __init__(self, factory: Callable[..., Session], *args: Any, **kwargs: Any) -> None:
        if not callable(factory):
            raise TypeError(f"a Recipe starts from a function that returns a Session, not a {type(factory).__name__}")
        object.__setattr__(self, "factory", factory)
        object.__setattr__(self, "args", args)
        object.__setattr__(self, "kwargs", kwargs)

    @classmethod
    def load(cls, name: str, weights: str | Path | None = None, fallback: str | None = None) -> Recipe:
        """`Session.load(name, weights=…, fallback=…)` on each worker, on the worker's device."""
        return cls(Session.load, name, weights=None if weights is None else str(weights), fallback=fallback)

    def build(self) -> Session:
        session = self.factory(*self.args, **self.kwargs)
        if not isinstance(session, Session):
            raise TypeError(f"the recipe's function {getattr(self.factory, '__name__', self.factory)!r} returned a {type(session).__name__}, not a Session")
        return session


def check_same_model(worker: str, session: str) -> None:
    """A worker's Session must hold the driver's weights (fingerprints), or its partial results
    would belong to another model."""
    if worker != session:
        raise NeuroblocksError(
            f"the workers' model (weights {worker}) is not this session's ({session}): the recipe must build the same weights "
            "(a random model differs on every worker: save its weights and load the file, or seed its factory)"
        )
