"""What every view shares: the selection vocabulary, the image it explains, computing off the
kernel's thread after construction, errors shown inside the view, and icons that stream in.

A view computes synchronously when built, so a bad argument fails at once with one clear
error and a fresh view is complete when displayed or exported. Later changes to its inputs
(`image`, `layer`, and what a subclass lists in `inputs`) recompute in a background thread:
the view shows a busy state meanwhile, and an error in its own box, keeping its last result.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path

import anywidget
import traitlets

from ..errors import NeuroblocksError
from ..featurevis.objectives import Objective
from ..session import Session
from . import threads
from .icon_stream import IconStream
from .payload import picture

STATIC = Path(__file__).resolve().parents[1] / "static"
BUNDLE = STATIC / "neuroblocks.js"

Wanted = list[tuple[str, Objective]]


def describe(error: BaseException) -> str:
    """What a user reads in the view: our errors say what to do; others keep their type."""
    return str(error) if isinstance(error, NeuroblocksError) else f"{type(error).__name__}: {error}"


class View(anywidget.AnyWidget):
    """Base of the neuroblocks widgets; not displayed itself.

    icon_size, icon_steps: of the feature-visualization icons (default: the session's
    `icon_defaults`); icon_steps=0 draws no icons at all.
    """

    if BUNDLE.is_file():  # a checkout that was never built still imports; __init__ says what to run
        _esm = BUNDLE
        _css = STATIC / "neuroblocks.css"

    kind = traitlets.Unicode("").tag(sync=True)  # which view the browser draws
    layer = traitlets.Unicode("").tag(sync=True)
    position = traitlets.Any(None, allow_none=True).tag(sync=True)  # [y, x] in the layer's grid
    channel = traitlets.Int(None, allow_none=True).tag(sync=True)
    group = traitlets.Int(None, allow_none=True).tag(sync=True)
    target = traitlets.Any(None, allow_none=True).tag(sync=True)  # class name, index, or [a, b]
    picture = traitlets.Dict().tag(sync=True)  # the input image: {png, height, width}
    icons = traitlets.Dict().tag(sync=True)  # {key: {png, stage: "final"}}, once a stream has finished
    busy = traitlets.Unicode("").tag(sync=True)
    error = traitlets.Unicode("").tag(sync=True)
    image = traitlets.Any(None)  # what the user passed: a path, URL, PIL image, array or tensor

    #: traits whose change recomputes the view
    inputs: tuple[str, ...] = ("image", "layer")

    def __init__(self, session: Session, *, icon_size: int | None = None, icon_steps: int | None = None, **traits) -> None:
        if not isinstance(session, Session):
            raise TypeError(f"a view needs a neuroblocks.Session as its first argument, not {type(session).__name__}")
        if not BUNDLE.is_file():
            raise NeuroblocksError(f"the views' JavaScript bundle {BUNDLE} is missing: run `make install` (or `npm run build` in js/)")
        self.session = session
        self.icon_size = icon_size or session.icon_defaults["size"]
        self.icon_steps = session.icon_defaults["steps"] if icon_steps is None else icon_steps
        self._guard = threading.Lock()
        self._generation = 0
        self._worker: threading.Thread | None = None
        self._streams: list[IconStream] = []
        self.links: list[list[tuple[View, str]]] = []  # (view, trait) groups kept equal: filled by linking, read by to_html
        super().__init__(**traits)
        self._apply(*self._compute(), generation=0)
        if self.inputs:  # (traitlets reads an empty list of names as "every trait")
            self.observe(lambda change: self.recompute(), names=list(self.inputs))
        self.on_msg(self._message)

    @traitlets.validate("position")
    def _valid_position(self, proposal):
        value = proposal["value"]
        if value is not None and (len(value) != 2 or not all(isinstance(v, int) for v in value)):
            raise traitlets.TraitError(f"position is [y, x] in the layer's grid, or None; got {value!r}")
        return None if value is None else [int(v) for v in value]

    # -- what subclasses provide ------------------------------------------------------------

    def _compute(self) -> tuple[dict, Wanted]:
        """(trait values to set, icons wanted as [(key, objective)], most important first)."""
        raise NotImplementedError

    def picture_of(self, image) -> dict:
        """The input as the views draw it: RGB, or the session's grayscale or composite, noted."""
        return picture(self.session.display(self.session.image(image)), self.session.display_note)

    # -- lifecycle ----------------------------------------------------------------------------

    def _apply(self, values: dict, wanted: Wanted, generation: int) -> None:
        with self._guard:
            if generation != self._generation:
                return  # a newer computation has started; this result is stale
            with self.hold_sync():
                for name, value in values.items():
                    setattr(self, name, value)
                self.icons = {}
                self.error = ""
            self._streams = []
        self.stream_icons(wanted, generation)

    def stream_icons(self, wanted: Wanted, generation: int, session: Session | None = None) -> None:
        """Render icons behind the view, unless it recomputes meanwhile. Each batch goes to the
        browser as one message with binary buffers; the finished set is then stored in `icons`
        in one update, so a view displayed again (or exported) has them without the stream.
        `session`: the model the icons are of, when not the view's own (a comparison's other model)."""
        arrived: dict = {}

        def deliver(icons: dict) -> None:
            with self._guard:
                if generation != self._generation:
                    return
                arrived.update(icons)
                keys = list(icons)
                self.send({"icons": {k: {"stage": icons[k]["stage"], "buffer": i} for i, k in enumerate(keys)}}, [icons[k]["png"] for k in keys])

        def finish() -> None:
            with self._guard:
                if generation == self._generation:
                    self.icons = {**self.icons, **arrived}

        stream = IconStream(
            session or self.session, wanted, deliver, finish, size=self.icon_size, steps=self.icon_steps, on_error=lambda e: self._fail(generation, e)
        )
        self._streams.append(stream.start())

    def _fail(self, generation: int, error: BaseException) -> None:
        with self._guard:
            if generation == self._generation:
                self.error = describe(error)

    def in_background(self, work: Callable[[], object], done: Callable[[object, int], None], label: str = "computing…") -> None:
        """Run `work` off the kernel's thread; `done(result, generation)` unless it failed."""
        generation = self._generation

        def run() -> None:
            try:
                result = work()
            except Exception as e:  # shown in the view, which keeps its last good state
                self._fail(generation, e)
            else:
                done(result, generation)
            finally:
                if generation == self._generation:
                    self.busy = ""

        self.busy = label
        self._worker = threads.start(run, "neuroblocks-view")

    def recompute(self) -> None:
        """Compute again from the current inputs, in the background (cancels icons in flight)."""
        with self._guard:
            self._generation += 1
            for stream in self._streams:
                stream.cancel()
        self.in_background(self._compute, lambda result, generation: self._apply(*result, generation=generation))

    def wait(self, timeout: float = 120, icons: bool = False) -> View:
        """Block until background work (and, with `icons=True`, the icons) is done, including
        work that finishing work starts (a recompute that brings a drill-down)."""
        deadline = time.monotonic() + timeout
        while (worker := self._worker) is not None and worker.is_alive():
            worker.join(max(0.0, deadline - time.monotonic()))
            if worker.is_alive():
                raise TimeoutError(f"{type(self).__name__} still computing after {timeout} s")
        if icons and not all(stream.join(max(0.0, deadline - time.monotonic())) for stream in list(self._streams)):
            raise TimeoutError(f"{type(self).__name__} icons still rendering after {timeout} s")
        return self

    def close(self) -> None:
        for stream in getattr(self, "_streams", []):  # a view whose construction failed has none
            stream.cancel()
        super().close()

    def _message(self, _widget, content: dict, _buffers) -> None:
        """Requests from the browser: {"action": name, ...} calls `on_<name>(content)`."""
        handler = getattr(self, f"on_{content.get('action')}", None) if isinstance(content, dict) else None
        if handler is not None:
            handler(content)
