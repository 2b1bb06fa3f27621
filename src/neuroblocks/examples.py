"""The article's setting, or the closest one at hand: what the bundled notebooks open.

The model: Lucid's InceptionV1, the article's own network, when its weights and the graph's
labels are at hand (`inception5h.pth` with `imagenet_comp_graph_label_strings.txt` beside it,
passed as `weights=` or in torch's hub cache), with the article's mixed4d, mixed5a and mixed4a;
else MobileNetV2 with torchvision's ImageNet weights (IMAGENET1K_V1, from torch's hub cache, which
`make weights` fills offline, or downloaded once when online) at its suggested layers; else the
bundled shapes model on a two-object scene. The photo: yours (the article's dog and cat), else
scikit-image's "chelsea", a tabby cat (a real photo that ships with it). Every note says which.
`transformer` does the same for a vision transformer, with the bundled shapes ViT offline.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import torch

from . import inceptionv1, shapes
from .errors import ImageError, WeightsUnavailableError
from .images import ImageLike, load_image
from .keywords import checked
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


@checked
def packaged_photo():
    """scikit-image's "chelsea" (a tabby cat, 451×300), or None without scikit-image."""
    try:
        from skimage import data
    except ImportError:
        return None
    return data.chelsea()


#: The colour photos scikit-image ships inside its package (no download): a small, honest set.
PACKAGED_PHOTOS = ("astronaut", "chelsea", "coffee", "rocket", "retina", "hubble_deep_field", "immunohistochemistry")


@checked
def packaged_crops(per_photo: int = 8, seed: int = 0, size: int = 224) -> list:
    """`per_photo` random crops (a third to all of the photo, resized to `size`) with random flips
    of each photo scikit-image ships, as uint8 arrays: a dataset to be had offline, small (seven
    photos), so what is learnt on it describes these photos, not ImageNet. Needs scikit-image."""
    import numpy as np
    from PIL import Image
    from skimage import data
    from torchvision import transforms

    crop = transforms.Compose([transforms.RandomResizedCrop(size, scale=(0.3, 1.0)), transforms.RandomHorizontalFlip()])
    with torch.random.fork_rng():  # torchvision draws from the global generator: seed a copy, not the caller's
        torch.manual_seed(seed)
        return [np.asarray(crop(Image.fromarray(getattr(data, name)()))) for name in PACKAGED_PHOTOS for _ in range(per_photo)]


def _inceptionv1(weights: str | Path | None) -> Session:
    """InceptionV1 from `weights` or the hub cache, only with the graph's labels beside them."""
    path = Path(weights).expanduser() if weights is not None else Path(torch.hub.get_dir(), "checkpoints", "inception5h.pth")
    if not path.is_file():
        raise WeightsUnavailableError(f"no inception5h.pth at {path}")
    if inceptionv1.labels_beside(path) is None:
        raise WeightsUnavailableError(f"no {inceptionv1.LABELS_FILE} beside {path}")
    return Session.load("inceptionv1", weights=path)


def _classes(session: Session, image, given_photo: bool) -> tuple[str, str]:
    """The article's two classes on your photo, else the two the model scores highest."""
    return ARTICLE_CLASSES if given_photo else tuple(name for name, _ in session.predict(image, 2))


def _stand_in(name: str, layers: tuple[str, str, str], seed: int, why: str, instead: str) -> Example:
    """The bundled model `name` on two-object scene `seed`, with `layers` (layer, upper, lower);
    its note says why, and what to give `instead`."""
    session = Session.load(name)
    scene = shapes.scene(seed, classes=2)
    return Example(
        session, scene.image, *layers, tuple(scene.labels), False,
        f"Offline stand-in ({why}): the bundled {name} model on a scene with a {scene.labels[0]} and a {scene.labels[1]}; {instead}",
    )


@checked
def load(photo: ImageLike | None = None, weights: str | Path | None = None, seed: int = 1) -> Example:
    """InceptionV1 (weights: its `inception5h.pth`), else MobileNetV2 with ImageNet weights, on
    `photo` or a photo scikit-image ships; else the shapes model on scene `seed`."""
    given = photo is not None
    image = photo if given else packaged_photo()
    why = []
    try:
        if image is None:
            raise ImageError("no photo given, and scikit-image (which ships one) is not installed")
        image = load_image(image)
        where = "your photo" if given else "scikit-image's photo of a tabby cat (chelsea)"
        try:
            session = _inceptionv1(weights)
            classes = _classes(session, image, given)
            return Example(
                session, image, "mixed4d", "mixed5a", "mixed4a", classes, True,
                f"Lucid's InceptionV1, the article's network, on {where}: layers as in the article; classes {classes[0]} and {classes[1]}.",
            )
        except WeightsUnavailableError as e:
            why.append(f"InceptionV1: {e}")
        session = Session.load("mobilenet_v2", weights="IMAGENET1K_V1")
        lower, layer, upper = session.suggested_layers(3)
        classes = _classes(session, image, given)
        return Example(
            session, image, layer, upper, lower, classes, True,
            f"MobileNetV2 with torchvision's ImageNet weights on {where} ({why[0]}): {layer} plays the article's mixed4d, "
            f"{upper} its mixed5a (session.suggested_layers()); classes {classes[0]} and {classes[1]}.",
        )
    except WeightsUnavailableError as e:
        reason = f"MobileNetV2's weights are not available: {str(e).split('.')[0]}"
    except ImageError as e:
        reason = f"the photo could not be read: {e}"
    instead = "conv3 plays the article's mixed4d. Run `make weights` (or be online once) for MobileNetV2 on a real photo."
    return _stand_in("shapes", ("conv3", "conv4", "conv2"), seed, reason, instead)


def _blocks(session: Session) -> list[str]:
    """A transformer's blocks: its token layers named like timm's `blocks.5`, torchvision's
    `encoder.layers.encoder_layer_5` or Hugging Face's `vit.layers.5`, in order."""
    return [n for n in session.readable_layers() if session.layout(n).tokens and re.search(r"(blocks|layers?)\.\D*\d+$", n)]


@checked
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
