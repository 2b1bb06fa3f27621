"""How another process (a Ray worker) builds its own Session (docs/guides/scaling-out.md)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..session import Session


@dataclass(frozen=True)
class Recipe:
    """How another process (a Ray worker) builds its own Session: a Session is not sent over the
    wire (it holds a model, threads and caches); a recipe is. `Recipe(make_session, *args,
    **kwargs)` calls a function that returns a Session (any model, any preprocessing);
    `Recipe.load(name, weights=…)` is `Session.load`'s arguments. The function must be importable
    or picklable by value (a notebook's function is)."""

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

    @classmethod
    def of(cls, session: Session) -> Recipe | None:
        """The recipe of a session made by `Session.load` (None for a model given directly)."""
        return None if session.loaded_as is None else cls.load(*session.loaded_as)

    def build(self) -> Session:
        session = self.factory(*self.args, **self.kwargs)
        if not isinstance(session, Session):
            raise TypeError(f"the recipe's function {getattr(self.factory, '__name__', self.factory)!r} returned a {type(session).__name__}, not a Session")
        return session
