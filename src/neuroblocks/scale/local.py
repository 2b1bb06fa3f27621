"""The local engine: the whole dataset as one shard, mapped in this process (streaming, so
memory does not grow with the dataset)."""

from __future__ import annotations

from collections.abc import Iterable

from ..items import items_of
from ..session import Session
from .job import Partial, ShardJob
from .progress import Cancel, Tracker, Watcher


class Local:
    """engine="local": today's in-process computation, with progress and cancel."""

    def __init__(self, session: Session, watcher: Watcher | None = None, cancel: Cancel = None) -> None:
        self.session, self.watcher, self.cancel = session, watcher, cancel

    def run(self, job: ShardJob, data: Iterable, label: str) -> Partial:
        tracker = Tracker(label, 1, len(data) if hasattr(data, "__len__") else None, self.watcher, self.cancel)
        tracker.check()
        partial = job.map(self.session, items_of(data), 0, lambda n: tracker.add(images=n))
        tracker.add(shards=1)
        return partial
