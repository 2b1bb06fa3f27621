"""Rendering the icons of every unit of chosen layers ahead of time (what the unit browser and
the atlas read, and for a large model hours of work): a dataset job sharded by units, whose
icons land in the icon cache that every view reads, here and on disk."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

import numpy as np

from ..items import in_lists
from ..keywords import checked
from ..scale import runner
from ..scale.options import RunOptions, dataset_job
from ..session import Session
from .settings import settings
from . import objectives
from .icon_cache import icon_service, icons
from .sizes import default_size


@dataclass
class Icons:
    """A partial result: rendered icons by cache key."""

    icons: dict[str, np.ndarray]

    def merge(self, other: Icons) -> Icons:
        return Icons({**self.icons, **other.icons})


@dataclass(frozen=True)
class _Render:
    size: int | None  # None: each layer's default (`sizes.default_size`)
    steps: int
    seed: int
    batch: int  # icons per render (the icon service's batch)

    def map(self, session: Session, items: Iterable, start: int, tick: Callable[[int], None]) -> Icons:
        found: dict[str, np.ndarray] = {}
        service = icon_service(session)
        for chunk in in_lists(items, self.batch):
            for layer in dict.fromkeys(layer for layer, _ in chunk):
                channels = [c for name, c in chunk if name == layer]
                size = self.size or default_size(session, [layer])
                rendered = icons(session, layer, channels, size, self.steps, seed=self.seed)
                for c, icon in zip(channels, rendered):
                    found[service.key(objectives.channel(layer, c), size, self.steps, self.seed)] = icon
            tick(len(chunk))
        return Icons(found)

    def enough(self, partial: Icons) -> bool:
        return False


@checked
@dataset_job
def render_icons(
    session: Session,
    layers: str | Sequence[str],
    *,
    size: int | None = None,
    steps: int | None = None,
    seed: int = 0,
    run: RunOptions,
) -> int:
    """Render the icon of every channel of `layers` (at the views' sizes and steps unless given)
    into the session's icon cache; icons already cached are not rendered again. Returns the
    number of icons now cached. engine, progress and cancel as every dataset job takes them (`scale.RunOptions`)."""
    names = [session.check_layer(layer) for layer in ([layers] if isinstance(layers, str) else layers)]
    steps = steps or settings(session).steps
    service = icon_service(session)
    units = [(layer, c) for layer in names for c in range(session.layer_shape(layer)[0])]
    todo = [(layer, c) for layer, c in units if service.cached(objectives.channel(layer, c), size or default_size(session, [layer]), steps, seed) is None]
    if todo:
        with runner(session, run) as job:
            rendered = job(_Render(size, steps, seed, service.batch), todo, "icons")
        for key, icon in rendered.icons.items():
            service.store(key, icon)
    return len(units)
