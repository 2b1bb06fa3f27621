"""The article's teaser: why did the model say A and not B? The channels of one layer ranked by
their attribution to logit A minus logit B, those for A beside those for B, with heatmaps on
hover (docs/views.md). It is channel attribution to a class difference, drawn as two columns."""

from __future__ import annotations

import traitlets

from ..errors import NeuroblocksError
from ..images import ImageLike
from ..session import Session
from .channel_attribution import ChannelAttribution
from .inputs import read_with_classes


class ClassComparison(ChannelAttribution):
    """`classes`: (A, B); default the two classes the model scores highest."""

    kind = traitlets.Unicode("class_comparison").tag(sync=True)

    def __init__(self, session: Session, image: ImageLike, layer: str | None = None, classes=None, *, top: int = 6, **options) -> None:
        image, pair = read_with_classes(session, image, classes)
        if len(pair) != 2:
            raise NeuroblocksError(f"a class comparison takes two classes (A, B); got {pair!r}")
        super().__init__(session, image, layer, target=pair, top=top, **options)
