"""Choosing an engine: `engine="local"` (the default) maps the dataset in this process;
`engine="ray"` (or a configured `RayEngine`) maps its shards on a Ray cluster."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterable, Iterator

from ..errors import NeuroblocksError
from ..session import Session
from .job import Partial, ShardJob
from .local import Local
from .on_ray import RayEngine
from .options import RunOptions

Run = Callable[[ShardJob, Iterable, str], Partial]


@contextlib.contextmanager
def runner(session: Session, options: RunOptions) -> Iterator[Run]:
    """A function that runs a job over a dataset on the options' engine; workers an engine started
    for this call (engine="ray") are stopped when the block ends, a `RayEngine` passed in keeps its own."""
    engine, watcher, cancel = options.engine, options.progress, options.cancel
    if engine == "local":
        yield Local(session, watcher, cancel).run
        return
    if engine == "ray":
        owned = RayEngine()
        try:
            yield owned.bind(session, watcher, cancel)
        finally:
            owned.close()
    elif isinstance(engine, RayEngine):
        yield engine.bind(session, watcher, cancel)
    else:
        raise NeuroblocksError(f"engine is 'local', 'ray' or a neuroblocks.scale.RayEngine(...), not {engine!r}")
