"""A misspelt keyword is refused with the one that was meant, never quietly ignored.

Python names an unexpected keyword but not the one the user meant, and a view hands its
keywords on to traitlets, which only warns about one it does not know (a warning Jupyter hides),
so `SpatialAttribution(..., clases=[...])` used to build a view for the default classes. The
Session, every view and every public block check their keywords here before doing anything.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Iterable
from typing import TypeVar

from .errors import closest

F = TypeVar("F", bound=Callable)


def keyword_names(fn: Callable) -> set[str]:
    """The names `fn` takes as keywords (a method's `self` or `cls` left out)."""
    kinds = (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)
    return {p.name for p in inspect.signature(fn).parameters.values() if p.kind in kinds and p.name not in ("self", "cls")}


def unknown_keyword(where: str, given: str, valid: Iterable[str], listed: Iterable[str] | None = None) -> TypeError:
    """The error for keyword `given`, which `where` does not take: the closest of `valid` first,
    then `listed` (default: all of `valid`) as what it takes."""
    valid = sorted(valid)
    meant = closest(given, valid, 1)
    hint = f"; did you mean {meant[0]!r}?" if meant else ""
    return TypeError(f"{where}() got an unexpected keyword argument {given!r}{hint} ({where} takes {', '.join(valid if listed is None else listed)})")


def check(where: str, given: Iterable[str], valid: Iterable[str], listed: Iterable[str] | None = None) -> None:
    """Raise `unknown_keyword` for the first of `given` not in `valid`."""
    valid = set(valid)
    for name in given:
        if name not in valid:
            raise unknown_keyword(where, name, valid, listed)


def checked(fn: F | None = None, *, also: Iterable[str] = ()) -> F:
    """Decorate a public function (or `__init__`) so an unknown keyword raises `unknown_keyword`
    before it runs. `also`: the keywords it passes on through `**options` to what it calls."""

    def decorate(fn: F) -> F:
        valid = keyword_names(fn) | set(also)
        where = fn.__qualname__.removesuffix(".__init__")

        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            check(where, kwargs, valid)
            return fn(*args, **kwargs)

        return wrapper  # type: ignore[return-value]

    return decorate if fn is None else decorate(fn)
