"""What every view shares: the selection vocabulary, the image it explains, computing in the
background in the order of use, errors shown inside the view, and icons that stream in.

A view checks its arguments when built, so a bad one fails at once with one clear error; the
heavy computation then runs in the session's work queue (`neuroblocks.work`), a step at a time,
the view the user looked at last first. `_compute` yields the view's content in parts, most
used first (class maps before an all-class legend), and between parts a label for what comes
next, which the view's busy line shows with the step's progress. A change of its inputs
(`image`, `layer`, and what a subclass lists in `inputs`) computes again the same way; an error
shows in the view's own box, which keeps its last result. `wait()` blocks until all is there.
"""

from __future__ import annotations

import functools
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import anywidget
import traitlets

from .. import keywords
from ..decoded import Decoded
from ..errors import NeuroblocksError
from ..precision import dtype_note
from ..featurevis.objectives import Objective
from ..featurevis.sizes import default_size
from ..featurevis.settings import settings as featurevis_settings
from ..session import Session
from .. import work
from ..work import Job
from .host import marimo
from .icon_stream import IconStream
from .inputs import check_positions, layer_note
from .payload import picture

STATIC = Path(__file__).resolve().parents[1] / "static"
BUNDLE = STATIC / "neuroblocks.js"

Wanted = list[tuple[str, Objective]]
#: What `_compute` yields: a part of the content (trait values, icons wanted) or the label of
#: the step that comes next (shown in the busy line, e.g. "all-class legend of conv3").
Part = tuple[dict, Wanted] | str


def describe(error: BaseException) -> str:
    """What a user reads in the view: our errors say what to do; others keep their type."""
    return str(error) if isinstance(error, NeuroblocksError) else f"{type(error).__name__}: {error}"


class View(anywidget.AnyWidget):
    """Base of the neuroblocks widgets; not displayed itself.

    icon_size, icon_steps: of the feature-visualization icons (default: a size that suits the
    layer's grid, `featurevis.sizes.default_size`, and the session's steps, `featurevis.settings`);
    icon_steps=0 draws no icons at all.
    """

    if BUNDLE.is_file():  # a checkout that was never built still imports; __init__ says what to run
        _esm = BUNDLE
        _css = STATIC / "neuroblocks.css"

    kind = traitlets.Unicode("").tag(sync=True)  # which view the browser draws
    layer = traitlets.Unicode("").tag(sync=True)
    position = traitlets.Any(None, allow_none=True).tag(sync=True)  # [y, x] in the layer's grid
    unit = traitlets.Int(None, allow_none=True).tag(sync=True)
    group = traitlets.Int(None, allow_none=True).tag(sync=True)
    target = traitlets.Any(None, allow_none=True).tag(sync=True)  # class name, index, or [a, b]
    picture = traitlets.Dict().tag(sync=True)  # the input image: {png, height, width}
    icons = traitlets.Dict().tag(sync=True)  # {key: {png, stage: "final", response}}, once a stream has finished
    busy = traitlets.Unicode("").tag(sync=True)
    icon_count = traitlets.List([0, 0]).tag(sync=True)  # [final icons in, icons being rendered]: the status line counts them
    error = traitlets.Unicode("").tag(sync=True)
    image = traitlets.Any(None)  # what the user passed (a path, URL, PIL image, array or tensor), or its `Decoded` reading

    #: traits whose change recomputes the view
    inputs: tuple[str, ...] = ("image", "layer")
    #: whether `layer` must have positions (a (C, H, W) grid), checked at construction
    needs_grid = False

    def __init_subclass__(cls, **kwargs) -> None:
        """Each view's constructor refuses a keyword it cannot use (`keywords`), before any work."""
        super().__init_subclass__(**kwargs)
        if "__init__" in vars(cls):
            init = cls.__init__

            @functools.wraps(init)
            def checked(self, *args, **given) -> None:
                arguments = type(self).arguments()
                keywords.check(type(self).__name__, given, arguments | type(self).traits_taken(), [*sorted(arguments), "or any of its traits"])
                init(self, *args, **given)

            cls.__init__ = checked

    @classmethod
    def arguments(cls) -> set[str]:
        """The constructor's keywords: its own and those of the views it builds on."""
        inits = (vars(k)["__init__"] for k in cls.__mro__ if issubclass(k, View) and "__init__" in vars(k))
        return set().union(*(keywords.keyword_names(init) for init in inits)) - {"session"}

    @classmethod
    def traits_taken(cls) -> set[str]:
        """The traits a constructor also takes (traitlets would only warn about an unknown one)."""
        return {n for n in cls.class_trait_names() if not n.startswith("_")}

    def __init__(self, session: Session, *, icon_size: int | None = None, icon_steps: int | None = None, **traits) -> None:
        if not isinstance(session, Session):
            raise TypeError(f"a view needs a neuroblocks.Session as its first argument, not {type(session).__name__}")
        if not BUNDLE.is_file():
            raise NeuroblocksError(f"the views' JavaScript bundle {BUNDLE} is missing: run `make install` (or `npm run build` in js/)")
        self.session = session
        self.icon_size = icon_size or default_size(session, [traits["layer"]] if traits.get("layer") else [])
        self.icon_steps = featurevis_settings(session).steps if icon_steps is None else icon_steps
        self._guard = threading.RLock()
        self._generation = 0
        self._shown = -1  # the generation whose first part is on show
        self._photo: tuple[object, Decoded] | None = None  # `image` and its reading (see `photo`)
        self._jobs: list[Job] = []
        self._streams: list[IconStream] = []
        self.links: list[list[tuple[View, str]]] = []  # (view, trait) groups kept equal: filled by linking, read by to_html
        unknown = sorted(set(traits) - self.traits_taken())
        if unknown:  # a view's own constructor passed on what it has no trait for; traitlets would only warn
            raise TypeError(f"{type(self).__name__} has no trait {unknown[0]!r} to set")
        super().__init__(**traits)
        self._check()
        work.queue(session).touch(self)
        self._launch(self._compute, "computing…")
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

    @property
    def photo(self) -> Decoded | None:
        """`image` read once (`Session.read`; a URL fetched once): what the view's computations
        pass on in its place, so no block decodes it again."""
        image = self.image
        if image is None:
            return None
        with self._guard:
            if self._photo is None or self._photo[0] is not image:
                self._photo = (image, self.session.read(image))
            return self._photo[1]

    def _check(self) -> None:
        """Raise now for what can be checked without the heavy pass: the image, the layer."""
        self.photo  # reads the image now (a bad one raises here) and keeps the reading for the computation
        if self.layer:
            self.session.check_layer(self.layer)
        if self.needs_grid:
            check_positions(self.session, self.layer)

    def _compute(self) -> Iterator[Part]:
        """The content in parts, most used first: each (trait values to set, icons wanted as
        [(key, objective)], most important first), with labels of the steps between them."""
        raise NotImplementedError

    def picture_of(self, image) -> dict:
        """The input as the views draw it (RGB, or the session's grayscale or composite), noted
        with how it was made, which part of the photo the model sees, and a signed layer."""
        framing = self.session.framing(image)
        notes = [self.session.display_note, framing.note if framing.photo != framing.input else "", layer_note(self.session, self.layer), dtype_note(self.session.dtype)]
        return picture(self.session.display(self.session.image(image)), " · ".join(n for n in notes if n))

    # -- lifecycle ----------------------------------------------------------------------------

    def _apply(self, values: dict, wanted: Wanted, generation: int) -> None:
        """Show one part of a computation's content; its first part replaces the last result."""
        with self._guard:
            if generation != self._generation:
                return  # a newer computation has started; this result is stale
            fresh = self._shown != generation
            with self.hold_sync():
                for name, value in values.items():
                    setattr(self, name, value)
                if fresh:
                    self.icons = {}
                    self.icon_count = [0, 0]
                    self.error = ""
            if fresh:
                self._shown = generation
                self._streams = []
        self.stream_icons(wanted, generation)

    def stream_icons(self, wanted: Wanted, generation: int, session: Session | None = None) -> None:
        """Render icons behind the view, unless it recomputes meanwhile. Each batch goes to the
        browser as one message with binary buffers; the finished set is then stored in `icons`
        in one update, so a view displayed again (or exported) has them without the stream.
        `session`: the model the icons are of, when not the view's own (a comparison's other model)."""
        arrived: dict = {}
        if wanted and self.icon_steps > 0:  # what the stream will render, for the status line's count
            with self._guard:
                if generation == self._generation:
                    self.icon_count = [self.icon_count[0], self.icon_count[1] + len(dict(wanted))]

        def deliver(icons: dict) -> None:
            with self._guard:
                if generation != self._generation:
                    return
                final = sum(icon["stage"] == "final" and arrived.get(key, {}).get("stage") != "final" for key, icon in icons.items())
                arrived.update(icons)
                if final:
                    self.icon_count = [self.icon_count[0] + final, self.icon_count[1]]
                keys = list(icons)
                sent = {k: {"stage": icons[k]["stage"], "response": icons[k].get("response"), "buffer": i} for i, k in enumerate(keys)}
                self.send({"icons": sent}, [icons[k]["png"] for k in keys])

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

    def _launch(self, compute: Callable[[], Iterator[Part]], label: str) -> Job:
        """Queue `compute`'s steps; its parts are shown as they come, unless a newer computation
        starts meanwhile."""
        generation = self._generation

        job = work.queue(self.session).submit(
            self, compute(), lambda part: self._apply(*part, generation=generation), lambda *state: self._report(generation, *state), lambda e: self._fail(generation, e), label
        )
        with self._guard:
            self._jobs = [j for j in self._jobs if not j.finished.is_set()] + [job]
        return job

    def _report(self, generation: int, label: str, done: int | None, total: int | None) -> None:
        """The busy line: what is being computed and how far it is; empty once all is done."""
        with self._guard:
            if generation != self._generation:
                return
            if not label and sum(not j.finished.is_set() for j in self._jobs) > 1:
                return  # another job of this view is still at work
            self.busy = f"{label} {done}/{total}" if label and total else label

    def in_background(self, work: Callable[[], object], done: Callable[[object, int], None], label: str = "computing…") -> None:
        """Run `work` in the session's queue; `done(result, generation)` unless it failed."""
        generation = self._generation

        def steps() -> Iterator[Part]:
            done(work(), generation)
            yield from ()

        self._launch(steps, label)

    def recompute(self) -> None:
        """Compute again from the current inputs, in the background (cancels work in flight)."""
        with self._guard:
            self._generation += 1
            for stream in self._streams:
                stream.cancel()
            for job in self._jobs:
                job.cancel()
        self._launch(self._compute, "computing…")

    def wait(self, timeout: float = 120, icons: bool = False) -> View:
        """Block until background work (and, with `icons=True`, the icons) is done, including
        work that finishing work starts (a recompute that brings a drill-down)."""
        deadline = time.monotonic() + timeout
        while unfinished := [j for j in list(self._jobs) if not j.finished.is_set()]:
            if not unfinished[0].wait(max(0.0, deadline - time.monotonic())):
                raise TimeoutError(f"{type(self).__name__} still computing after {timeout} s")
        if icons and not all(stream.join(max(0.0, deadline - time.monotonic())) for stream in list(self._streams)):
            raise TimeoutError(f"{type(self).__name__} icons still rendering after {timeout} s")
        return self

    def close(self) -> None:
        for stream in getattr(self, "_streams", []):  # a view whose construction failed has none
            stream.cancel()
        if hasattr(self, "session"):
            work.queue(self.session).forget(self)
        super().close()

    def on_look(self, content: dict) -> None:
        """The view was displayed or the pointer entered it: its work goes first. Drawn in
        marimo, it resends its state, which marimo may have dropped before the view existed there."""
        work.queue(self.session).touch(self)
        if content.get("rendered") and marimo():
            with self._guard:
                self.send_state()

    def _message(self, _widget, content: dict, _buffers) -> None:
        """Requests from the browser: {"action": name, ...} calls `on_<name>(content)`."""
        handler = getattr(self, f"on_{content.get('action')}", None) if isinstance(content, dict) else None
        if handler is not None:
            handler(content)
