"""How a dataset job runs, declared once: every job (dissection, dataset examples, atlas sampling,
dictionary training, rendering a layer's icons) takes `engine=`, `progress=` and `cancel=` with
the same meaning, and hands them on as one `RunOptions`."""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from dataclasses import dataclass, fields
from typing import TypeVar

from .progress import Cancel, Watcher

F = TypeVar("F", bound=Callable)


@dataclass(frozen=True)
class RunOptions:
    """engine: "local" (this process), "ray", or a `neuroblocks.scale.RayEngine(...)`; progress:
    called with a `scale.Progress` as shards and batches finish; cancel: an Event (or a function)
    that stops the job, raising `work.Cancelled`."""

    engine: object = "local"
    progress: Watcher | None = None
    cancel: Cancel = None


def dataset_job(fn: F) -> F:
    """`fn(..., run: RunOptions)`, called as `fn(..., engine=, progress=, cancel=)`."""
    names = [f.name for f in fields(RunOptions)]
    signature = inspect.signature(fn)
    taken = [p for p in signature.parameters.values() if p.name != "run"]
    added = [inspect.Parameter(f.name, inspect.Parameter.KEYWORD_ONLY, default=f.default, annotation=f.type) for f in fields(RunOptions)]

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        options = RunOptions(**{name: kwargs.pop(name) for name in names if name in kwargs})
        return fn(*args, run=options, **kwargs)

    wrapper.__signature__ = signature.replace(parameters=taken + added)  # type: ignore[attr-defined]
    return wrapper  # type: ignore[return-value]
