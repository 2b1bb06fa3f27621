"""The article's setting, or the offline stand-in: what the bundled notebooks open.

With a photo (a path or URL) and GoogLeNet's ImageNet weights at hand (downloaded once when
online, or already in torchvision's cache, or a local file), the notebooks show the article's
own figures: GoogLeNet, the dog-and-cat photo, mixed4d (inception4d) and mixed5a (inception5a),
"Labrador retriever" against "tiger cat". Otherwise they use the bundled shapes model on a
two-object scene, and say so. `transformer` does the same for a vision transformer, with the
bundled shapes ViT offline.
"""

from __future__ import annotations

import re
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


def _stand_in(name: str, layers: tuple[str, str, str], seed: int, why: str, instead: str) -> Example:
    """The bundled model `name` on two-object scene `seed`, with `layers` (layer, upper, lower);
    its note says why, and what to give `instead`."""
    session = Session.load(name)
    scene = shapes.scene(seed, classes=2)
    return Example(
        session, scene.image, *layers, tuple(scene.labels), False,
        f"Offline stand-in ({why}): the bundled {name} model on a scene with a {scene.labels[0]} and a {scene.labels[1]}; {instead}",
    )


def _shapes(seed: int, why: str) -> Example:
    instead = "conv3 plays the article's mixed4d. Give a photo (and be online once, or pass weights=) for GoogLeNet."
    return _stand_in("shapes", ("conv3", "conv4", "conv2"), seed, why, instead)


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


def _blocks(session: Session) -> list[str]:
    """A transformer's blocks: its token layers named like timm's `blocks.5`, torchvision's
    `encoder.layers.encoder_layer_5` or Hugging Face's `vit.layers.5`, in order."""
    return [n for n in session.readable_layers() if session.layout(n).tokens and re.search(r"(blocks|layers?)\.\D*\d+$", n)]


def transformer(model: str | None = None, photo: ImageLike | None = None, weights: str | Path | None = None, seed: int = 1) -> Example:
    """A vision transformer (a `Session.load` name such as "vit_b_16" or "timm:vit_small_patch16_224")
    on `photo` when both can be had, else the bundled shapes ViT on scene `seed`; the layer is the
    block two thirds of the way up, the upper the last, the lower one third up."""
    why = "no model given"
    if model is not None and photo is not None:
        try:
            session = Session.load(model, weights=weights)
            image = load_image(photo)
        except (WeightsUnavailableError, ImageError) as e:
            why = f"{model} or the photo could not be had: {str(e).split('.')[0]}"
        else:
            blocks = _blocks(session)
            classes = tuple(name for name, _ in session.predict(image, 2))
            return Example(
                session, image, blocks[2 * len(blocks) // 3], blocks[-1], blocks[len(blocks) // 3], classes, True,
                f"{model} with pretrained weights on your photo; its two top classes: {classes[0]}, {classes[1]}.",
            )
    instead = "give a model name and a photo (and be online once, or pass weights=) for a pretrained ViT."
    return _stand_in("shapes-vit", ("blocks.2", "blocks.3", "blocks.1"), seed, why, instead)
