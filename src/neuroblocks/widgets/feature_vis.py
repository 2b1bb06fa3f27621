"""Feature visualization, live: an objective rendered in a background thread, the image shown
as it improves, with progress and a cancel button. Finished renders are cached on disk, so a
second view of the same objective appears at once."""

from __future__ import annotations

from collections.abc import Iterator

import threading

import traitlets

from .. import threads
from ..errors import NeuroblocksError
from ..featurevis import clamps, objectives
from ..featurevis.sizes import default_size
from ..featurevis.icon_cache import icon_service
from ..featurevis.objectives import Objective
from ..featurevis.settings import settings as featurevis_settings
from ..session import Session
from ..work import Cancelled
from .base import Part, View, describe
from .payload import png

PREVIEW_EVERY = 16  # steps between the images sent while rendering


class FeatureVis(View):
    """Renders `objective` (or the channel `channel` of `layer`); `start=False` waits for the button."""

    kind = traitlets.Unicode("feature_vis").tag(sync=True)
    description = traitlets.Unicode("").tag(sync=True)
    size = traitlets.Int(128).tag(sync=True)
    steps = traitlets.Int(512).tag(sync=True)
    step = traitlets.Int(0).tag(sync=True)
    state = traitlets.Enum(["idle", "running", "done", "cancelled", "error"], "idle").tag(sync=True)
    result = traitlets.Bytes(b"").tag(sync=True)  # PNG of the latest image
    drawn = traitlets.Unicode("").tag(sync=True)  # how an image for a model that is not RGB is drawn
    inputs = ()

    def __init__(
        self, session: Session, objective: Objective | None = None, *, layer: str | None = None, channel: int | None = None,
        size: int | None = None, steps: int | None = None, start: bool = True, **options,
    ) -> None:
        if objective is None:
            if layer is None or channel is None:
                raise NeuroblocksError("FeatureVis needs an objective, or a layer and a channel")
            objective = objectives.channel(session.check_layer(layer), int(channel))
        if not isinstance(objective, Objective):
            raise TypeError(f"objective must be a neuroblocks.featurevis objective, not {type(objective).__name__}")
        objective.check(session)
        self.objective = objective
        self._cancel = threading.Event()
        self._render: threading.Thread | None = None
        size, steps = size or default_size(session, objective.layers), steps or featurevis_settings(session).steps
        super().__init__(session, layer=layer or "", unit=channel, size=size, steps=steps, **options)
        if start:
            self.start()

    def _compute(self) -> Iterator[Part]:
        read = clamps.note(self.session, self.objective.layers)
        yield {"description": self.objective.description + (f" ({read})" if read else ""), "drawn": self.session.display_note}, []

    def start(self) -> None:
        """Render in the background (a finished render comes from the disk cache)."""
        if self.state == "running":
            return
        self._cancel = threading.Event()
        self.state, self.step, self.error = "running", 0, ""
        cancel = self._cancel
        self._render = threads.start(lambda: self._run(cancel), "neuroblocks-featurevis", cancel)

    def cancel(self) -> None:
        """Stop at the next step; the image reached so far stays on show."""
        self._cancel.set()

    def _run(self, cancel: threading.Event) -> None:
        def progress(p) -> None:
            if p.images is not None:
                self.result = png(p.images[0])
            if p.images is not None or p.step % 4 == 0:
                self.step = p.step

        thresholds = range(PREVIEW_EVERY, self.steps, PREVIEW_EVERY)
        try:
            icon = icon_service(self.session).get([self.objective], self.size, self.steps, progress=progress, cancel=cancel, thresholds=thresholds)[0]
        except Cancelled as stop:  # with no images when it was waiting for another view's render
            if len(stop.images):
                self.result = png(stop.images[0])
            self.state = "cancelled"
        except Exception as e:  # shown in the view
            self.error, self.state = describe(e), "error"
        else:
            self.result, self.step, self.state = png(icon), self.steps, "done"

    def wait(self, timeout: float = 120, icons: bool = False) -> FeatureVis:
        """Block until the render has ended (done, cancelled or failed)."""
        if self._render is not None:
            self._render.join(timeout)
            if self._render.is_alive():
                raise TimeoutError(f"FeatureVis still rendering after {timeout} s")
        return self

    def close(self) -> None:
        """Closing the view stops its render (one that another view also waits for goes on)."""
        if hasattr(self, "_cancel"):  # not when its construction failed
            self.cancel()
        super().close()

    def on_start(self, _content: dict) -> None:
        self.start()

    def on_cancel(self, _content: dict) -> None:
        self.cancel()
