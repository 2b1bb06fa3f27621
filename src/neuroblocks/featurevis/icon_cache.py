"""The icon service: feature visualizations rendered only when asked, in batches, never twice.

Icons are cached in memory and on disk as PNG files named by a hash of everything that
determines them: the weights' fingerprint, the objective, size, steps, seed, learning rate,
this algorithm's version and, for inputs that are not RGB, the channel mix and the composite
drawn. Writes go to a temporary file and are renamed into place, so a reader
never sees half a file; a file that cannot be read back (truncated, corrupt) is rendered again.
Concurrent requests for one icon render it once: the first claims it, the others wait for it,
and the render stops early only when every view that asked for it has cancelled (a closed view
stops what only it was waiting for, never what another view still wants).
A cache directory that cannot be created or written (a file in its place, a read-only home, a
full disk) costs the disk cache, never the icon: the service warns once and keeps icons in memory.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import threading
import warnings
from collections import OrderedDict
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import torch
from PIL import Image, PngImagePlugin, UnidentifiedImageError

from ..cache import cache_dir
from ..keywords import checked
from ..session import Session
from .settings import settings
from ..work import Cancelled
from . import clamps, objectives
from .objectives import Objective
from .render import RenderStep, cancel_check, render
from .sizes import default_size

#: The PNG text entry holding the objective's value at a render's first and last step.
RESPONSE_ENTRY = "neuroblocks-objective"

#: Bump when rendering changes in a way that changes icons, so old cache files are not reused.
ALGORITHM_VERSION = 2
LEARNING_RATE = 0.05


Cancel = Callable[[], bool]
#: What `icons` and `direction_icons` pass on to `IconService.get`.
OPTIONS = ("seed", "progress", "cancel", "thresholds", "at")


@checked
def icon_service(session: Session) -> IconService:
    """The session's one icon service, made on first use: views, the atlas and `icons` share its
    memory, disk cache and renders in flight."""
    return session.state("icons", IconService)


@checked(also=OPTIONS)
def icons(session: Session, layer: str, channels: Sequence[int], size: int | None = None, steps: int | None = None, **options) -> np.ndarray:
    """Feature-visualization icons of channels, (N, size, size, 3) uint8, cached in memory and on
    disk; size defaults to one that suits the layer's grid (`sizes.default_size`), steps to the
    session's (`featurevis.settings`). Few `steps` give a cheap preview, cached separately. options:
    seed, progress, cancel, at (see `render`)."""
    size, steps = size or default_size(session, [layer]), steps or settings(session).steps
    return icon_service(session).get([objectives.channel(layer, int(c)) for c in channels], size, steps, **options)


@checked(also=OPTIONS)
def direction_icons(
    session: Session,
    layer: str,
    vectors: torch.Tensor | np.ndarray,
    size: int | None = None,
    steps: int | None = None,
    cosine_power: float | None = None,
    **options,
) -> np.ndarray:
    """Icons of directions in `layer`'s activation space (activation vectors, group directions)."""
    size, steps = size or default_size(session, [layer]), steps or settings(session).steps
    objs = [objectives.direction(layer, v, cosine_power) for v in torch.as_tensor(vectors)]
    return icon_service(session).get(objs, size, steps, **options)


class _Claim:
    """One icon being rendered, and the cancel checks of everyone waiting for it."""

    def __init__(self, cancel: Cancel) -> None:
        self.done = threading.Event()
        self.askers = [cancel]

    def abandoned(self) -> bool:
        return all(cancelled() for cancelled in list(self.askers))


class IconService:
    """Icons of one session's model; see the module docstring."""

    def __init__(self, session: Session, batch: int = 16, memory_items: int = 4096) -> None:
        self.session, self.batch, self.memory_items = session, batch, memory_items
        self._memory: OrderedDict[str, np.ndarray] = OrderedDict()
        self._responses: dict[str, tuple[float, float]] = {}  # key → the objective at the render's first and last step
        self._pending: dict[str, _Claim] = {}
        self._lock = threading.Lock()
        self.disk = True  # False once the cache directory has refused a write
        self.rendered = 0  # icons rendered by this service, for tests and diagnostics

    def key(self, objective: Objective, size: int, steps: int, seed: int, at: str = "native") -> str:
        spec = [self.session.fingerprint, objective.description, size, steps, seed, LEARNING_RATE, ALGORITHM_VERSION]
        s = self.session
        mix = settings(s).decorrelation
        if s.channels != 3 or s.display_note or mix is not None:  # how the icon is drawn and mixed (RGB keys stay as they were)
            spec += [s.display_channels, None if mix is None else mix.tolist()]
        read = clamps.note(s, objective.layers)
        if read or at != "native":  # what the render optimised and where the model saw it (other keys stay as they were)
            spec += [read, at]
        return hashlib.sha256(json.dumps(spec).encode()).hexdigest()[:32]

    def _path(self, key: str) -> Path:
        return cache_dir() / "icons" / f"{key}.png"

    def _read_disk(self, key: str, size: int) -> np.ndarray | None:
        path = self._path(key)
        if not path.is_file():
            return None
        try:
            with Image.open(path) as image:
                icon = np.asarray(image.convert("RGB"))
                response = image.info.get(RESPONSE_ENTRY)
        except (OSError, UnidentifiedImageError, ValueError):
            return None  # truncated or corrupt: render again and overwrite
        if response is not None:
            with contextlib.suppress(ValueError):
                first, last = map(float, response.split())
                self._responses[key] = (first, last)
        return icon if icon.shape == (size, size, 3) else None

    def _write_disk(self, key: str, icon: np.ndarray) -> None:
        if not self.disk:
            return
        path = self._path(key)
        tmp = path.with_name(f".{key}.{os.getpid()}.{threading.get_ident()}.tmp")
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            info = PngImagePlugin.PngInfo()
            if key in self._responses:
                info.add_text(RESPONSE_ENTRY, " ".join(map(repr, self._responses[key])))
            Image.fromarray(icon).save(tmp, format="PNG", pnginfo=info)
            os.replace(tmp, path)
        except OSError as e:
            with contextlib.suppress(OSError):
                tmp.unlink(missing_ok=True)  # a half-written file must not be left behind
            self.disk = False
            warnings.warn(
                f"neuroblocks cannot write icons to {path.parent} ({e}); they are kept in memory for this session only. "
                "Set NEUROBLOCKS_CACHE to a writable directory to keep them across sessions.",
                RuntimeWarning, stacklevel=2,
            )

    def _remember(self, key: str, icon: np.ndarray) -> None:
        with self._lock:
            self._memory[key] = icon
            self._memory.move_to_end(key)
            while len(self._memory) > self.memory_items:
                self._memory.popitem(last=False)

    def _cached(self, key: str, size: int) -> np.ndarray | None:
        with self._lock:
            if key in self._memory:
                self._memory.move_to_end(key)
                return self._memory[key]
        icon = self._read_disk(key, size)
        if icon is not None:
            self._remember(key, icon)
        return icon

    def store(self, key: str, icon: np.ndarray) -> None:
        """Keep an icon rendered elsewhere (a worker of a dataset job) under its key."""
        if self._cached(key, icon.shape[0]) is None:
            self._remember(key, icon)
            self._write_disk(key, icon)

    def cached(self, objective: Objective, size: int, steps: int, seed: int = 0, at: str = "native") -> np.ndarray | None:
        """The icon if a cache (memory or disk) holds it, without rendering."""
        return self._cached(self.key(objective, size, steps, seed, at), size)

    def response(self, objective: Objective, size: int, steps: int, seed: int = 0, at: str = "native") -> tuple[float, float] | None:
        """The objective's value at the first and the last step of the icon's render, where known:
        an icon whose render could not raise it shows a unit that barely responds, not a picture."""
        return self._responses.get(self.key(objective, size, steps, seed, at))

    def get(
        self,
        objectives: Sequence[Objective],
        size: int,
        steps: int,
        seed: int = 0,
        progress: Callable[[RenderStep], None] | None = None,
        cancel=None,
        thresholds: Sequence[int] = (),
        at: str = "native",
    ) -> np.ndarray:
        """(N, size, size, 3) uint8 icons, rendering only those no cache holds.

        progress sees each rendered batch's steps, with its images at `thresholds` (previews).
        cancel (an Event or a callable) raises Cancelled; a render others also wait for goes on.
        """
        keys = [self.key(obj, size, steps, seed, at) for obj in objectives]
        cancelled = cancel_check(cancel)
        while True:
            found = {k: self._cached(k, size) for k in dict.fromkeys(keys)}
            missing = [k for k, icon in found.items() if icon is None]
            if not missing:
                return np.stack([found[k] for k in keys])
            if cancelled():
                raise Cancelled(0, np.zeros((0, size, size, 3), np.uint8))
            with self._lock:
                mine = [k for k in missing if k not in self._pending]
                for k in mine:
                    self._pending[k] = _Claim(cancelled)
                theirs = [self._pending[k] for k in missing if k not in mine]
                for claim in theirs:
                    claim.askers.append(cancelled)
            try:
                todo = [(k, objectives[keys.index(k)]) for k in mine]
                for start in range(0, len(todo), self.batch):
                    chunk = todo[start : start + self.batch]
                    claims = [self._pending[k] for k, _ in chunk]
                    stop = lambda: all(claim.abandoned() for claim in claims)  # noqa: E731
                    values: dict[str, np.ndarray] = {}  # the objectives at the first and the latest step

                    def watch(step: RenderStep) -> None:
                        values.setdefault("first", step.values)
                        values["last"] = step.values
                        if progress is not None:
                            progress(step)

                    icons = render(self.session, [obj for _, obj in chunk], size=size, steps=steps, seed=seed, progress=watch, cancel=stop, lr=LEARNING_RATE, thresholds=thresholds, at=at)
                    for i, ((k, _), icon) in enumerate(zip(chunk, icons)):
                        if values:
                            self._responses[k] = (float(values["first"][i]), float(values["last"][i]))
                        self._remember(k, icon)
                        self._write_disk(k, icon)
                    self.rendered += len(chunk)
            finally:
                with self._lock:
                    for k in mine:
                        self._pending.pop(k).done.set()
            for claim in theirs:
                while not claim.done.wait(0.05):
                    if cancelled():
                        raise Cancelled(0, np.zeros((0, size, size, 3), np.uint8))
