"""The article's setting, or the offline stand-in: what the bundled notebooks open.

With a photo (a path or URL) and GoogLeNet's ImageNet weights at hand (downloaded once when
online, or already in torchvision's cache, or a local file), the notebooks show the article's
own figures: GoogLeNet, the dog-and-cat photo, mixed4d (inception4d) and mixed5a (inception5a),
"Labrador retriever" against "tiger cat". Otherwise they use the bundled shapes model on a
two-object scene, and say so.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from . import shapes
from .errors import ImageError, WeightsUnavailableError
from .images import ImageLike, load_image
from .session import Session

ARTICLE_CLASSES = ("Labrador retriever", "tiger cat")


@dataclass(frozen=True)
class Example:
    """A session and image, the layers and classes to look at, and a note saying which is which."""

    session: Session
    image: ImageLike
    layer: str  # the article's mixed4d, or its stand-in
    upper: str  # a higher layer, for spatial attribution and group flow
    lower: str  # a lower layer, for group flow
    classes: tuple[str, str]
    pretrained: bool
    note: str


def _article(photo: ImageLike, weights: str | Path | None) -> Example:
    session = Session.load("googlenet", weights=weights)
    return Example(
        session, load_image(photo), "inception4d", "inception5a", "inception4a", ARTICLE_CLASSES, True,
        "GoogLeNet with ImageNet weights on your photo: layers as in the article (mixed4d = inception4d).",
    )


def _shapes(seed: int, why: str) -> Example:
    session = Session.load("shapes")
    scene = shapes.scene(seed, classes=2)
    return Example(
        session, scene.image, "conv3", "conv4", "conv2", tuple(scene.labels), False,
        f"Offline stand-in ({why}): the bundled shapes model on a scene with a {scene.labels[0]} and a {scene.labels[1]}; "
        "conv3 plays the article's mixed4d. Give a photo (and be online once, or pass weights=) for GoogLeNet.",
    )


def load(photo: ImageLike | None = None, weights: str | Path | None = None, seed: int = 1) -> Example:
    """GoogLeNet on `photo` when both can be had, else the shapes model on scene `seed`."""
    if photo is None:
        return _shapes(seed, "no photo given")
    try:
        return _article(photo, weights)
    except WeightsUnavailableError as e:
        return _shapes(seed, f"GoogLeNet's weights are not available: {str(e).split('.')[0]}")
    except ImageError as e:
        return _shapes(seed, f"the photo could not be read: {e}")
