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
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

import anywidget
import torch
import traitlets

from .. import keywords
from ..decoded import Decoded
from ..errors import NeuroblocksError
from ..precision import dtype_note
from ..featurevis.objectives import Objective
from ..featurevis.sizes import default_size
from ..featurevis.settings import full_budget, settings as featurevis_settings
from ..session import Session
from ..units import Units
from .. import work
from ..work import Job
from .host import marimo
from .icon_stream import IconStream
from .inputs import check_positions, layer_note
from .payload import picture
from .refinement import Refiner
from .unit_meaning import meaning

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
    icons = traitlets.Dict().tag(sync=True)  # {key: {png, stage: "final" or "full", response}}: once a stream has finished, and each full icon
    busy = traitlets.Unicode("").tag(sync=True)
    icon_count = traitlets.List([0, 0, 0]).tag(sync=True)  # [icons in, icons wanted, icons at the full budget]: the status line counts them
    icon_budget = traitlets.Dict().tag(sync=True)  # {quick, full}: the two budgets, as the status line states them
    refining = traitlets.Unicode("").tag(sync=True)  # "on" while full-budget renders run, "stopped" after a stop, else ""
    error = traitlets.Unicode("").tag(sync=True)
    exemplars = traitlets.Dict().tag(sync=True)  # {icon key: {png, title}}: a unit's top dataset crops, once the session knows a dataset
    unit_labels = traitlets.Dict().tag(sync=True)  # {icon key: {text, source, evidence, classes}}: `unit_labels`' rule, in views that label units
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
        self._arrived: dict[str, dict] = {}  # this generation's icons as sent, by key
        self._refiner = Refiner(self._deliver, self._refining, lambda e, generation: self._fail(generation, e))
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

    def meaning(
        self, units: Units, indices: list[int], keys: list[str], *, support: torch.Tensor | None = None, labels: bool = False, names: list[str] | None = None
    ) -> Iterator[Part]:
        """Parts that add the listed units' exemplars (and labels) to the content (`unit_meaning`)."""
        for step in meaning(self.session, units, indices, keys, support=support, labels=labels, names=names):
            yield step if isinstance(step, str) else (step, [])

    def meanings(self, parts: Iterable[tuple[Units, list[int], list[str], torch.Tensor | None]], *, labels: bool = False) -> Iterator[Part]:
        """`meaning` of several sets of units (one per layer: a group flow's, a graph's), each
        (units, indices, keys, support or None), each set's exemplars and labels added to those of
        the sets before it."""
        merged: dict = {}
        for units, indices, keys, support in parts:
            for step in self.meaning(units, indices, keys, support=support, labels=labels):
                if isinstance(step, str):
                    yield step
                else:
                    merged = {trait: {**merged.get(trait, {}), **value} for trait, value in step[0].items()}
                    yield merged, []

    def _check(self) -> None:
        """Raise now for what can be checked without the heavy pass: the image, the layer."""
        self.photo  # reads the image now (a bad one raises here) and keeps the reading for the computation
        if self.layer:
            self.session.check_layer(self.layer)
        if self.needs_grid:  # every layer of a view over several
            for layer in getattr(self, "layers", None) or [self.layer]:
                check_positions(self.session, layer)

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
                    self.exemplars = {}
                    self.unit_labels = {}
                    self.icon_count = [0, 0, 0]
                    self.refining = ""
                    self.error = ""
            if fresh:
                self._shown = generation
                self._streams = []
                self._arrived = {}
                self._refiner.reset(generation)
        self.stream_icons(wanted, generation)

    def stream_icons(self, wanted: Wanted, generation: int, session: Session | None = None) -> None:
        """Render icons behind the view, unless it recomputes meanwhile, and offer them for
        refinement to the full budget (`refinement`). `session`: the model the icons are of,
        when not the view's own (a comparison's other model)."""
        session = session or self.session
        if wanted and self.icon_steps > 0:  # what the stream will render, for the status line's count
            with self._guard:
                if generation == self._generation:
                    self.icon_count = [self.icon_count[0], self.icon_count[1] + len(dict(wanted)), self.icon_count[2]]
                    self.icon_budget = {"quick": f"{self.icon_size} px · {self.icon_steps} steps", "full": str(full_budget(session))}
            self._refiner.offer(wanted, session, generation)

        def finish() -> None:
            with self._guard:
                if generation == self._generation:
                    self.icons = {**self.icons, **{k: v for k, v in self._arrived.items() if v["stage"] != "preview"}}

        stream = IconStream(
            session, wanted, lambda icons: self._deliver(icons, generation), finish, size=self.icon_size, steps=self.icon_steps,
            full=full_budget(session), on_error=lambda e: self._fail(generation, e),
        )
        self._streams.append(stream.start())

    def _deliver(self, icons: dict, generation: int) -> None:
        """Send icons to the browser as one message with binary buffers, and count them. An icon
        never steps back from the full budget. Full icons are also stored in `icons` at once (the
        others when their stream ends, in one update), so a view displayed again or exported has them."""
        with self._guard:
            if generation != self._generation:
                return
            before = self._arrived
            icons = {k: v for k, v in icons.items() if v["stage"] == "full" or before.get(k, {}).get("stage") != "full"}
            came = sum(v["stage"] != "preview" and before.get(k, {}).get("stage", "preview") == "preview" for k, v in icons.items())
            full = {k: v for k, v in icons.items() if v["stage"] == "full" and before.get(k, {}).get("stage") != "full"}
            before.update(icons)
            if came or full:
                ready, wanted, refined = self.icon_count
                self.icon_count = [ready + came, wanted, refined + len(full)]
            if full:
                self._refiner.mark(full)
                self.icons = {**self.icons, **full}
            keys = list(icons)
            sent = {k: {"stage": icons[k]["stage"], "response": icons[k].get("response"), "buffer": i} for i, k in enumerate(keys)}
            if keys:
                self.send({"icons": sent}, [icons[k]["png"] for k in keys])

    def icons_in(self) -> dict:
        """Every icon rendered so far (not previews), at its best budget: what an export shows."""
        with self._guard:
            return {**self.icons, **{k: v for k, v in self._arrived.items() if v["stage"] != "preview"}}

    def icons_pending(self) -> bool:
        """Whether icons are still rendering at the quick budget."""
        return not all(stream.join(0) for stream in list(self._streams))

    def _refining(self, state: str) -> None:
        with self._guard:
            self.refining = state

    def refine(self, keys: list[str] | None = None) -> View:
        """Render `keys` (default: every icon the view shows) at the full budget now, in the
        background (`wait(icons="full")` waits for them). Views do this themselves for the icons
        on screen; a script or an export asks for all."""
        self._refiner.ask(self._refiner.pending() if keys is None else keys)
        return self

    def stop_refining(self) -> None:
        """Stop the full-budget renders; the icons already refined stay."""
        self._refiner.stop()

    def on_visible(self, content: dict) -> None:
        """The browser shows these icons: refine them first."""
        keys = content.get("keys")
        if isinstance(keys, list):
            self._refiner.ask(str(k) for k in keys)

    def on_stop_refining(self, content: dict) -> None:
        self.stop_refining()

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
            self._refiner.reset(self._generation)
        self._launch(self._compute, "computing…")

    def wait(self, timeout: float = 120, icons: bool | str = False) -> View:
        """Block until background work (and, with `icons=True`, the icons; with `icons="full"`,
        the full-budget renders asked for) is done, including work that finishing work starts
        (a recompute that brings a drill-down)."""
        deadline = time.monotonic() + timeout
        while unfinished := [j for j in list(self._jobs) if not j.finished.is_set()]:
            if not unfinished[0].wait(max(0.0, deadline - time.monotonic())):
                raise TimeoutError(f"{type(self).__name__} still computing after {timeout} s")
        if icons and not all(stream.join(max(0.0, deadline - time.monotonic())) for stream in list(self._streams)):
            raise TimeoutError(f"{type(self).__name__} icons still rendering after {timeout} s")
        if icons == "full" and not self._refiner.join(max(0.0, deadline - time.monotonic())):
            raise TimeoutError(f"{type(self).__name__} icons still refining after {timeout} s")
        return self

    def close(self) -> None:
        for stream in getattr(self, "_streams", []):  # a view whose construction failed has none
            stream.cancel()
        if hasattr(self, "_refiner"):
            self._refiner.reset(-1)
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
