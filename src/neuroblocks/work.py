"""The order in which a session's background work runs: one step at a time, for the view the
user looked at last.

Views compute in the background in steps (a view's class maps, then its legend). On a laptop's
few cores twenty views computing at once would each finish twenty times later, so a session
runs one step at a time in one worker thread and, between steps, picks the job whose owner was
created, displayed or hovered most recently (`touch`). A step reports how far it is through
`progress()`, which is also where a cancelled job stops. A step runs whole, so it never hands
the worker over while it holds the session (an ablation in force); the worker thread exits
when nothing is left and is started again by the next job.
"""

from __future__ import annotations

import itertools
import threading
import time
import weakref
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from . import threads

_current = threading.local()
_queues: weakref.WeakSet[WorkQueue] = weakref.WeakSet()


class Cancelled(Exception):
    """Raised where cancelled work stops: a job's step whose owner no longer wants the result, a
    dataset pass, a render. A render's carries the `step` it reached and its `images` (uint8)."""

    def __init__(self, step: int | None = None, images: object = None) -> None:
        super().__init__("cancelled" if step is None else f"cancelled at step {step}")
        self.step, self.images = step, images


@dataclass(eq=False)
class Job:
    """Steps of one owner's work: each item a step yields goes to `deliver`, except a string,
    which names the step that comes next; `report(label, done, total)` hears progress;
    `fail(error)` hears an error, which ends the job."""

    owner: object
    steps: Iterator
    deliver: Callable[[object], None]
    report: Callable[[str, int | None, int | None], None]
    fail: Callable[[BaseException], None]
    order: int
    stopping: threading.Event  # the queue's: set when the interpreter exits
    label: str = ""
    cancelled: threading.Event = field(default_factory=threading.Event)
    finished: threading.Event = field(default_factory=threading.Event)

    def cancel(self) -> None:
        self.cancelled.set()

    def wait(self, timeout: float | None = None) -> bool:
        """True once the job has finished, failed or stopped after a cancel."""
        return self.finished.wait(timeout)


def progress(done: int, total: int) -> None:
    """Called from long loops: tell the job's owner how far its step is, and stop a cancelled
    job. Does nothing outside a job (a script's synchronous call)."""
    job: Job | None = getattr(_current, "job", None)
    if job is None:
        return
    if job.cancelled.is_set() or job.stopping.is_set():
        raise Cancelled
    job.report(job.label, done, total)


class WorkQueue:
    """One session's background jobs, run a step at a time, most recently touched owner first."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._jobs: list[Job] = []
        self._interest: dict[int, int] = {}  # id(owner) → tick of its last touch
        self._ticks = itertools.count(1)
        self._worker: threading.Thread | None = None
        self._stop = threading.Event()  # set at interpreter exit
        _queues.add(self)

    def touch(self, owner: object) -> None:
        """The user is looking at `owner`: its jobs go first from the next step on."""
        with self._lock:
            self._interest[id(owner)] = next(self._ticks)

    def forget(self, owner: object) -> None:
        """`owner` is gone: cancel its jobs and drop its place in the order."""
        with self._lock:
            for job in self._jobs:
                if job.owner is owner:
                    job.cancel()
            self._interest.pop(id(owner), None)

    def submit(
        self,
        owner: object,
        steps: Iterator,
        deliver: Callable[[object], None],
        report: Callable[[str, int | None, int | None], None],
        fail: Callable[[BaseException], None],
        label: str = "computing…",
    ) -> Job:
        with self._lock:
            job = Job(owner, steps, deliver, report, fail, order=next(self._ticks), stopping=self._stop, label=label)
            self._jobs.append(job)
            if self._worker is None or not self._worker.is_alive():
                self._worker = threads.start(self._run, "neuroblocks-work", self._stop)
        report(label, None, None)
        return job

    def cancel_all(self, timeout: float = 60) -> bool:
        """Cancel every job and wait (up to `timeout` s) for the step under way to stop; True
        when the queue is idle. Views keep what they show."""
        with self._lock:
            for job in self._jobs:
                job.cancel()
            worker = self._worker
        if worker is not None:
            worker.join(timeout)
        return self.pending() == 0

    def pending(self) -> int:
        """Jobs not yet finished, all owners."""
        with self._lock:
            return len(self._jobs)

    def wait_idle(self, timeout: float, stop: threading.Event) -> None:
        """Wait until no job is pending, `timeout` s have passed or `stop` is set: work that
        should not slow the views' computations (icons) goes after them."""
        deadline = time.monotonic() + timeout
        while self.pending() and time.monotonic() < deadline and not stop.wait(0.05):
            pass

    def _next(self) -> Job | None:
        """The job to step next: its owner touched last, then the oldest job."""
        with self._lock:
            if not self._jobs:
                self._worker = None
                return None
            return max(self._jobs, key=lambda j: (self._interest.get(id(j.owner), 0), -j.order))

    def _run(self) -> None:
        while (job := self._next()) is not None:
            _current.job = job
            try:
                if job.cancelled.is_set() or self._stop.is_set():
                    raise Cancelled
                item = next(job.steps)
            except (StopIteration, Cancelled):
                self._end(job)
            except Exception as e:  # reported to the owner, which shows it; the queue goes on
                job.fail(e)
                self._end(job)
            else:
                if isinstance(item, str):
                    job.label = item
                    job.report(item, None, None)
                elif not job.cancelled.is_set():
                    job.deliver(item)
            finally:
                _current.job = None

    def _end(self, job: Job) -> None:
        with self._lock:
            self._jobs.remove(job)
        job.steps.close()
        job.report("", None, None)  # nothing more is coming
        job.finished.set()


def queue(session) -> WorkQueue:
    """The session's queue for its views' background work (one per session; `Session.state`)."""
    return session.state("work", lambda s: WorkQueue())


def stop_all(timeout: float = 60) -> bool:
    """Cancel the background work of every session in this process and wait for it to stop
    (before timing something else, or between tests); True when all queues are idle."""
    deadline = time.monotonic() + timeout
    return all([queue.cancel_all(max(0.0, deadline - time.monotonic())) for queue in list(_queues)])
