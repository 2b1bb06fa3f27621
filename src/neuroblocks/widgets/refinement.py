"""Icons that refine themselves: a view's icons on screen rendered again at the full budget
(`featurevis.full_budget`: 128 px and 512 steps on a CPU) behind the view, the ones shown most
recently first, each batch swapped in as it finishes.

The quick icons a view streams first (`icon_stream`) read at once but are often mush on a
trained network; the full budget draws what the unit detects, at about six times the cost. So
the full renders go only where someone looks: the browser reports the icons on screen, a script
or an export asks for all; and they give way to foreground work: a render stops within a step
when the session's work queue has a job (a view computing what the user asked for), and starts
again once it is idle. They land in the icon cache like every icon, so a second look, another
view or an exported page gets them without rendering. `stop()` ends the refinement; a new request
starts it again.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable

from .. import threads, work
from ..featurevis.icon_cache import icon_service
from ..featurevis.objectives import Objective
from ..featurevis.settings import Budget, full_budget, settings
from ..session import Session
from ..work import Cancelled
from .payload import png

#: Icons per full render: small, so the first swaps in soon (a batch of 4 at 128 px and 512
#: steps takes about 18 s on a 2-core CPU); larger batches are not cheaper per icon there.
BATCH = 4


def full_icon(session: Session, objective: Objective, icon, budget: Budget) -> dict:
    """What a view sends for a full-budget icon: its PNG, stage "full" and its render's response."""
    response = icon_service(session).response(objective, budget.size, budget.steps)
    return {"png": png(icon), "stage": "full", "response": None if response is None else list(response)}


class Refiner:
    """One view's full-budget renders: `offer` tells it which objective each icon key shows
    (per generation of the view's content), `ask` which keys to refine (newest request first),
    `deliver(icons, generation)` hears each finished batch, `changed(state)` hears "on" while it
    renders, "stopped" after `stop`, "" when all it was asked for is in."""

    def __init__(self, deliver: Callable[[dict, int], None], changed: Callable[[str], None], on_error: Callable[[Exception, int], None]) -> None:
        self.deliver, self.changed, self.on_error = deliver, changed, on_error
        self._lock = threading.Lock()
        self._known: dict[str, tuple[Session, Objective]] = {}
        self._asked: list[str] = []
        self._done: set[str] = set()
        self._generation = 0
        self._halted = False  # stopped by the user until the next request
        self._stopped = threading.Event()
        self._thread: threading.Thread | None = None

    def reset(self, generation: int) -> None:
        """The view's content changed: forget its icons and stop rendering the old ones."""
        with self._lock:
            self._generation = generation
            self._known.clear()
            self._asked.clear()
            self._done.clear()
            self._halted = False
        self._stopped.set()

    def offer(self, wanted: Iterable[tuple[str, Objective]], session: Session, generation: int) -> None:
        with self._lock:
            if generation != self._generation:
                return
            self._known.update((key, (session, obj)) for key, obj in wanted)
        self._kick()  # the browser may have reported these icons on screen before the kernel offered them

    def mark(self, keys: Iterable[str]) -> None:
        """These keys are already at the full budget (a cache held them)."""
        with self._lock:
            self._done.update(keys)

    def ask(self, keys: Iterable[str]) -> None:
        """Refine `keys` before what was asked earlier; starts rendering if idle (and not stopped
        since: a new request after `stop` starts again)."""
        keys = list(dict.fromkeys(keys))
        with self._lock:
            self._asked = keys + [k for k in self._asked if k not in set(keys)]
            self._halted = False
        self._kick()

    def stop(self) -> None:
        with self._lock:
            self._halted = True
        self._stopped.set()
        self.changed("stopped")

    def _kick(self) -> None:
        with self._lock:
            todo = [k for k in self._asked if k in self._known and k not in self._done]
            if self._halted or not todo or not all(settings(s).refine for s in {self._known[k][0] for k in todo}):
                return
            if self._thread is not None and self._thread.is_alive() and not self._stopped.is_set():
                return
            self._stopped = threading.Event()
            self._thread = threads.start(self._run, "neuroblocks-refine", self._stopped)
        self.changed("on")

    def pending(self, keys: Iterable[str] | None = None) -> list[str]:
        """Of `keys` (default: all known), those not yet at the full budget."""
        with self._lock:
            return [k for k in (self._known if keys is None else keys) if k in self._known and k not in self._done]

    def join(self, timeout: float | None = None) -> bool:
        """Wait for the renders asked for; True once none runs."""
        thread = self._thread
        if thread is not None:
            thread.join(timeout)
        return thread is None or not thread.is_alive()

    def _next(self) -> tuple[int, list[tuple[str, Session, Objective]]]:
        with self._lock:
            todo = [k for k in self._asked if k in self._known and k not in self._done]
            first = todo[:1]
            same = [k for k in todo if first and self._known[k][0] is self._known[first[0]][0]]  # one session per render
            if not same:
                self._thread = None  # idle: the next request starts a new thread
            return self._generation, [(k, *self._known[k]) for k in same[:BATCH]]

    def _run(self) -> None:
        stopped = self._stopped
        generation = self._generation
        try:
            while not stopped.is_set():
                generation, batch = self._next()
                if not batch:  # all asked for is in
                    self.changed("")
                    return
                session = batch[0][1]
                queue = work.queue(session)
                if queue.pending():  # what the user asked for goes first: wait until the session's queue is idle
                    stopped.wait(0.2)
                    continue
                budget = full_budget(session)
                try:
                    icons = icon_service(session).get([obj for _, _, obj in batch], budget.size, budget.steps, cancel=lambda: stopped.is_set() or queue.pending() > 0)
                except Cancelled:
                    if stopped.is_set():
                        return
                    continue  # interrupted by foreground work: render the batch again once it is done
                with self._lock:
                    if generation != self._generation:
                        continue
                    self._done.update(k for k, _, _ in batch)
                self.deliver({k: full_icon(session, obj, icon, budget) for (k, _, obj), icon in zip(batch, icons)}, generation)
        except Cancelled:
            return
        except Exception as e:  # a failed render must not take the view down; it says why instead
            self.on_error(e, generation)
