"""Background threads (the work queue's, renders), stopped cleanly when Python exits.

Renders run in daemon threads so they never keep a kernel alive, but a daemon thread still
inside torch when the interpreter finalises aborts the process; at exit each is cancelled and
given a moment to reach its next step."""

from __future__ import annotations

import atexit
import threading
from collections.abc import Callable

_running: list[tuple[threading.Event, threading.Thread]] = []
_lock = threading.Lock()


def start(target: Callable[[], None], name: str, cancel: threading.Event | None = None) -> threading.Thread:
    """Start `target` in a daemon thread; `cancel` (if given) is set at exit."""
    thread = threading.Thread(target=target, name=name, daemon=True)
    with _lock:
        _running[:] = [(e, t) for e, t in _running if t.is_alive()]
        _running.append((cancel or threading.Event(), thread))
    thread.start()
    return thread


@atexit.register
def _stop_all(grace_s: float = 10.0) -> None:
    with _lock:
        running = list(_running)
    for cancel, _ in running:
        cancel.set()
    for _, thread in running:
        thread.join(grace_s)
