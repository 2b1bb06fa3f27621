"""How large an icon is drawn when no size is given.

A layer's grid shrinks with the icon: MobileNetV2's `features.18` (stride 32) sees a 64 px icon
as 2 × 2 cells, where a unit has barely any room for a picture, and such an icon loses most of
its activation when shown to the model at 224 px. So the default grows with the layer's stride
until its grid has `MIN_CELLS` cells a side, up to the model's input side. A model of one input
size sees every icon enlarged to that size anyway, so it keeps the session's default.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

from ..session import Session
from .settings import settings

#: The fewest cells a side an icon's grid has at the default size.
MIN_CELLS = 4


def input_side(session: Session) -> int:
    """The side of the images the model is shown (its input size, or 224 for a model of any size)."""
    size = session.fixed_size or session.input_size or 224
    return int(size if isinstance(size, int) else max(size))


def default_size(session: Session, layers: Iterable[str], base: int | None = None) -> int:
    """The icon side for objectives reading `layers`: `base` (default: the session's
    `settings(session).size`), grown so each grid layer has `MIN_CELLS` cells a side, at most the
    model's input side."""
    base = base or settings(session).size
    if session.fixed_size is not None:
        return base
    side = input_side(session)
    known = set(session.readable_layers())  # a layer whose layout is unsettled fails where it is read, with its own error
    heights = [session.layer_shape(layer)[-2] for layer in layers if layer in known and len(session.layer_shape(layer)) == 3]
    if not heights:
        return base
    stride = side / min(heights)
    needed = math.ceil(MIN_CELLS * stride / 8) * 8
    return max(base, min(needed, side))
