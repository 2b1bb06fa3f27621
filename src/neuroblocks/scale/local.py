"""The local engine: the whole dataset as one shard, mapped in this process (streaming, so
memory does not grow with the dataset)."""

from __future__ import annotations

from collections.abc import Iterable

import torch

from ..items import items_of
from ..session import Session
from .job import Partial, ShardJob
from .progress import Cancel, Tracker, Watcher


class Local:
    """engine="local": today's in-process computation, with progress and cancel."""

    def __init__(self, session: Session, watcher: Watcher | None = None, cancel: Cancel = None) -> None:
        self.session, self.watcher, self.cancel = session, watcher, cancel

    def run(self, job: ShardJob, data: Iterable, label: str) -> Partial:
        tracker = Tracker(label, 1, _images(data), self.watcher, self.cancel)
        tracker.check()
        partial = job.map(self.session, items_of(data), 0, lambda n: tracker.add(images=n))
        tracker.add(shards=1)
        return partial


def _images(data: Iterable) -> int | None:
    """How many images `data` holds, where that is known ahead (a DataLoader's length counts batches)."""
    if isinstance(data, torch.utils.data.DataLoader):
        data = data.dataset
    try:
        return len(data)  # type: ignore[arg-type]
    except TypeError:  # no length: a generator, an IterableDataset
        return None
