"""A dataset job left running while the notebook goes on: the kernel stays free, so the job's
progress bar updates and its Cancel button is heard (a job run in the cell itself blocks the
kernel until it ends; there, the kernel's interrupt stops it)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

import ipywidgets

from .. import threads, work
from .progress import Progress


class Background:
    """`fn(*args, progress=…, cancel=…, **kwargs)` in a thread, shown as a progress bar, the
    latest `Progress` and a Cancel button; `result()` waits for what `fn` returns."""

    def __init__(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> None:
        self.progress: Progress | None = None
        self._cancel, self._done = threading.Event(), threading.Event()
        self._value: Any = None
        self._error: BaseException | None = None
        self._bar = ipywidgets.FloatProgress(min=0.0, max=1.0, layout=ipywidgets.Layout(width="240px"))
        self._text = ipywidgets.Label("starting…")
        self._button = ipywidgets.Button(description="Cancel", button_style="warning")
        self._button.on_click(lambda _: self.cancel())
        self.widget = ipywidgets.HBox([self._bar, self._text, self._button])
        self._started = time.monotonic()
        call = lambda: self._run(fn, args, {**kwargs, "progress": self._report, "cancel": self._cancel})  # noqa: E731
        threads.start(call, "neuroblocks-job", self._cancel)

    def _report(self, progress: Progress) -> None:
        self.progress = progress
        self._text.value = str(progress)
        share = progress.images_done / progress.images if progress.images else progress.shards_done / max(progress.shards, 1)
        self._bar.value = min(1.0, share)

    def _run(self, fn: Callable[..., Any], args: tuple, kwargs: dict) -> None:
        try:
            self._value = fn(*args, **kwargs)
            self._text.value = f"done in {time.monotonic() - self._started:.1f} s"
            self._bar.bar_style = "success"
        except work.Cancelled as e:
            self._error = e
            self._text.value = "cancelled"
        except BaseException as e:  # shown, and raised again by result()
            self._error = e
            self._text.value = f"failed: {e}"
            self._bar.bar_style = "danger"
        finally:
            self._button.disabled = True
            self._done.set()

    def cancel(self) -> None:
        """Stop the job at its next batch (local) or shard (Ray); `result()` then raises `work.Cancelled`."""
        self._cancel.set()

    def done(self) -> bool:
        return self._done.is_set()

    def result(self, timeout: float | None = None) -> Any:
        """What the job returned, once it has (its error, raised here, if it failed)."""
        if not self._done.wait(timeout):
            raise TimeoutError(f"the job is still running ({self._text.value})")
        if self._error is not None:
            raise self._error
        return self._value

    def _repr_mimebundle_(self, **kwargs: Any) -> dict:
        return self.widget._repr_mimebundle_(**kwargs)


def in_background(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Background:
    """Run a dataset job (`dissect`, `dataset_examples`, `atlas`, `render_icons`) in the
    background: `job = in_background(dissect, session, "conv3", data, engine="ray")`, then
    `job` in a cell shows its progress, `job.result()` gives the result."""
    return Background(fn, *args, **kwargs)
