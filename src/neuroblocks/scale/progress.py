"""How far a dataset job is, told to whoever watches (a callback, the work queue's busy line),
and where a cancelled job stops."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from .. import work


@dataclass(frozen=True)
class Progress:
    """One report: shards and images done of all (shards 0, images None: not known ahead),
    seconds since the pass began."""

    label: str
    shards_done: int
    shards: int
    images_done: int
    images: int | None
    seconds: float

    @property
    def rate(self) -> float:
        """Images per second so far."""
        return self.images_done / self.seconds if self.seconds > 0 else 0.0

    def __str__(self) -> str:
        if self.images is None and self.images_done == 0:  # steps that read no images (training epochs)
            return f"{self.label}: {self.shards_done}/{self.shards}"
        of = f"/{self.images:,}" if self.images is not None else ""
        shards = f"/{self.shards}" if self.shards else ""  # 0: not known ahead (Ray Data's batches)
        return f"{self.label}: shard {self.shards_done}{shards}, {self.images_done:,}{of} images, {self.rate:,.0f} images/s"


Watcher = Callable[[Progress], None]
Cancel = threading.Event | Callable[[], bool] | None


class Tracker:
    """Counts one pass's shards and images; each count is reported, then a cancel is obeyed
    (raising `work.Cancelled`), also when the job runs in a session's work queue."""

    def __init__(self, label: str, shards: int, images: int | None, watcher: Watcher | None, cancel: Cancel) -> None:
        self.label, self.shards, self.images = label, shards, images
        self.watcher, self._cancel = watcher, cancel
        self.shards_done = self.images_done = 0
        self.started = time.monotonic()

    def cancelled(self) -> bool:
        c = self._cancel
        return bool(c is not None and (c.is_set() if isinstance(c, threading.Event) else c()))

    def check(self) -> None:
        """Raise `work.Cancelled` if the job was cancelled (here or in its work queue)."""
        if self.cancelled():
            raise work.Cancelled
        work.progress(self.images_done, self.images or 0)

    def add(self, images: int = 0, shards: int = 0) -> None:
        self.images_done += images
        self.shards_done += shards
        if self.watcher is not None:
            self.watcher(self.now())
        self.check()

    def now(self) -> Progress:
        return Progress(self.label, self.shards_done, self.shards, self.images_done, self.images, time.monotonic() - self.started)
