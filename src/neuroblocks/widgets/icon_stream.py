"""Icons fill in behind a view while the user already works with it.

A stream renders the icons a view asked for in a background thread, a batch at a time, most
important first. Each icon goes through three stages in the view: a placeholder (nothing sent),
a preview (the batch's image a few steps in), and the final render at the view's budget; the
view may then refine it to the full budget (`refinement`). Icons any cache holds arrive at once,
at the full budget where a cache holds that. A final icon carries its render's `response` (the objective at the first and the
last step), so the view can mark a unit that barely responds. A stream stops when the view
recomputes or closes.

A render waits while the session's views still compute (`work`), up to `YIELD_S` a batch: on a
few cores icons rendered beside a computation slow it several-fold, and a view's content matters
before its icons' polish: the gallery notebook's views are all computed in 35 s with icons
waiting, in 90 s with icons rendering beside them (MobileNetV2, 2-core CPU).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence

from .. import threads
from ..featurevis.icon_cache import icon_service
from ..featurevis.objectives import Objective
from ..featurevis.render import RenderStep
from ..featurevis.settings import Budget
from ..session import Session
from ..work import Cancelled, queue
from .payload import png
from .refinement import full_icon


#: The longest a batch of icons waits for the session's computations (a dataset pass may take minutes).
YIELD_S = 30.0


class IconStream:
    """Renders `wanted` [(key, objective)], calling `deliver({key: {png, stage}})` as they come and
    `finish()` once all are final (not after a cancel)."""

    def __init__(
        self,
        session: Session,
        wanted: Sequence[tuple[str, Objective]],
        deliver: Callable[[dict], None],
        finish: Callable[[], None],
        *,
        size: int,
        steps: int,
        batch: int = 16,
        preview_step: int = 32,
        full: Budget | None = None,
        on_error: Callable[[Exception], None] | None = None,
    ) -> None:
        self.session, self.wanted, self.deliver, self.finish = session, list(wanted), deliver, finish
        self.size, self.steps, self.batch = size, steps, batch
        self.preview_step, self.full = preview_step, full
        self.on_error = on_error
        self.cancelled = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> IconStream:
        if self.wanted and self.steps > 0:
            self._thread = threads.start(self._run, "neuroblocks-icons", self.cancelled)
        return self

    def cancel(self) -> None:
        self.cancelled.set()

    def join(self, timeout: float | None = None) -> bool:
        """Wait for the stream; True when it has finished (or never started)."""
        if self._thread is not None:
            self._thread.join(timeout)
        return self._thread is None or not self._thread.is_alive()

    def _run(self) -> None:
        service = icon_service(self.session)
        try:
            for start in range(0, len(self.wanted), self.batch):
                if self.cancelled.is_set():
                    return
                chunk = self.wanted[start : start + self.batch]
                ready, missing = {}, []
                for key, obj in chunk:
                    full = None if self.full is None else service.cached(obj, self.full.size, self.full.steps)
                    icon = service.cached(obj, self.size, self.steps) if full is None else None
                    if full is not None:
                        ready[key] = full_icon(self.session, obj, full, self.full)
                    elif icon is None:
                        missing.append((key, obj))
                    else:
                        ready[key] = self._final(service, obj, icon)
                if ready:
                    self.deliver(ready)
                if missing:
                    self._render(service, missing)
            if not self.cancelled.is_set():
                self.finish()
        except Cancelled:
            return
        except Exception as e:  # a failed icon must not take the view down; it says why instead
            if self.on_error is not None and not self.cancelled.is_set():
                self.on_error(e)

    def _render(self, service, missing: list[tuple[str, Objective]]) -> None:
        keys = [key for key, _ in missing]
        queue(self.session).wait_idle(YIELD_S, self.cancelled)

        def preview(p: RenderStep) -> None:
            if p.images is not None and len(p.images) == len(keys) and not self.cancelled.is_set():
                self.deliver({k: {"png": png(img), "stage": "preview"} for k, img in zip(keys, p.images)})

        thresholds = (self.preview_step,) if self.preview_step < self.steps else ()
        icons = service.get([obj for _, obj in missing], self.size, self.steps, progress=preview, cancel=self.cancelled, thresholds=thresholds)
        if not self.cancelled.is_set():
            self.deliver({k: self._final(service, obj, icon) for (k, obj), icon in zip(missing, icons)})

    def _final(self, service, objective: Objective, icon) -> dict:
        response = service.response(objective, self.size, self.steps)
        return {"png": png(icon), "stage": "final", "response": None if response is None else list(response)}
