"""Turning what a view was given (layers, classes, targets) into what the engines take, with
errors that say what to do."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import torch
from torch import nn

from ..attribution.targets import class_or_pair
from ..decoded import Decoded
from ..errors import NeuroblocksError
from ..featurevis import objectives
from ..images import ImageLike
from ..session import Session
from ..units import Units, units_of

_NOT_FEATURE_MAPS = (nn.MaxPool2d, nn.AvgPool2d, nn.AdaptiveAvgPool2d, nn.AdaptiveMaxPool2d, nn.Dropout, nn.Dropout2d)


def check_positions(session: Session, layer: str) -> str:
    """`layer`, if it has positions (a (C, H, W) grid); else an error saying what to pick. Read
    from the session's probe, so a view can refuse the layer before any pass on the image."""
    shape = session.layer_shape(session.check_layer(layer))
    if len(shape) != 3:
        raise NeuroblocksError(f"layer {layer!r} has no positions (shape {tuple(shape)}); pick a convolutional layer")
    return layer


def default_layer(session: Session, layer: str | None) -> str:
    """`layer`, or where none is named the second deepest of `session.suggested_layers()` (the
    place of the article's mixed4d: late enough to be semantic, with a grid to hover)."""
    if layer is not None:
        return layer
    suggested = session.suggested_layers()
    if not suggested:
        raise NeuroblocksError("this model has no layer with positions to suggest: name a layer (session.describe_layers() lists them)")
    return suggested[-2] if len(suggested) > 1 else suggested[0]


def default_upper(session: Session, layer: str, upper: str | None) -> str:
    """`upper`, or the first suggested layer above `layer` (else the deepest suggested)."""
    if upper is not None:
        return upper
    order, suggested = session.layers, session.suggested_layers()
    above = [s for s in suggested if order.index(s) > order.index(session.check_layer(layer))]
    if not above:
        raise NeuroblocksError(f"no suggested layer lies above {layer!r}: name the upper layer")
    return above[0]


def layer_note(session: Session, layer: str) -> str:
    """What a view on a signed layer should say: attribution there is two-sided."""
    if not layer or session.sign(layer) != "signed":
        return ""
    return (
        f"{layer} is signed (no nonlinearity after it): its activations and attributions are two-sided; "
        f"the layers after a nonlinearity read better (session.suggested_layers(): {', '.join(session.suggested_layers())})"
    )


def spatial_cube(session: Session, image: ImageLike, layer: str) -> torch.Tensor:
    """The (C, H, W) activation cube of `layer`, refusing layers without positions."""
    return session.trace(image, check_positions(session, layer), logits=False)[layer]


def legend_first(session: Session, image: ImageLike, given: list[int]) -> list[int]:
    """The classes a legend ranks before the rest come: those `given`, then the top predicted
    ones, twenty in all (or every class of a smaller model)."""
    logits = session.trace(image).logits
    ranked = [i for i in logits.argsort(descending=True).tolist() if i not in given]
    return (given + ranked)[: max(20, len(given))]


def prefix_labels(session: Session, layer: str) -> list[str]:
    """Labels of a token layer's prefix-token cells: the class token, then the others (distillation,
    register: models do not say which) by number; [] for other layers."""
    return ["CLS", *(f"T{p}" for p in range(1, session.prefix_tokens(layer)))][: session.prefix_tokens(layer)]


def feature_maps(session: Session) -> list[str]:
    """Top-level layers with (C, H, W) outputs, pooling and dropout left out: the layers a user
    steps between when drilling down or up."""
    modules = dict(session.model.named_modules())
    return [
        name for name in session.readable_layers()
        if "." not in name and len(session.layer_shape(name)) == 3 and not isinstance(modules[name], _NOT_FEATURE_MAPS)
    ]


def neighbours(session: Session, layer: str) -> tuple[str | None, str | None]:
    """The feature-map layers just below and just above `layer`: among the top-level feature maps
    and the suggested layers (a model whose top level is one `features` container, MobileNetV2's,
    steps between its suggested layers)."""
    order = session.layers
    maps = sorted(set(feature_maps(session)) | set(session.suggested_layers()), key=order.index)
    at = order.index(layer)
    below = [m for m in maps if order.index(m) < at]
    above = [m for m in maps if order.index(m) > at]
    return (below[-1] if below else None), (above[0] if above else None)


def target_of(session: Session, image: ImageLike, value) -> int | tuple[int, int]:
    """A class name or index, or a pair [a, b] (a minus b); None means the top predicted class."""
    return class_or_pair(session, image, value)


def top_classes(session: Session, image: ImageLike | Decoded, n: int) -> list[int]:
    """The n highest-scoring classes for the image, best first."""
    return [int(i) for i in session.trace(image).logits.topk(n).indices]


def read_with_classes(session: Session, image: ImageLike | Decoded, classes: Sequence[str | int] | None) -> tuple[Decoded, list[int]]:
    """A two-class view's image, read once for the classes and every computation after, and its
    classes: those given, else the two the model scores highest on it."""
    image = session.read(image)
    return image, [session.class_index(c) for c in classes] if classes is not None else top_classes(session, image, 2)


def legend_length(session: Session) -> int:
    """How many classes a view lists for a hovered atom: five, or all if the model has fewer."""
    return min(5, len(session.labels))


def class_names(session: Session, indices: Iterable[int]) -> dict[str, str]:
    """{index: label} for the classes a view refers to, so the browser can name them."""
    return {str(int(i)): session.class_name(int(i)) for i in set(int(i) for i in indices)}


def unit_icons(units: Units, picks: Iterable[int]) -> list[tuple[str, objectives.Objective]]:
    """The icons of the picked units, in the order given, for a view's wanted list: keyed
    f"{units.icon_key}:{u}", so a layer's channels, a dictionary's latents and directions differ."""
    return [(f"{units.icon_key}:{u}", objectives.unit(units, u)) for u in picks]


def units_layer(layer: str | None, units: Units | None) -> str | None:
    """The layer of a view over units: theirs, or `layer` when that is the same."""
    if units is None:
        return layer
    if not isinstance(units, Units):
        raise NeuroblocksError(f"units= takes units of a layer (a trained dictionary, neuron groups, nb.units.Directions), not {type(units).__name__}")
    if layer is not None and units.layer != layer:
        raise NeuroblocksError(f"these are {units.description}, not units of {layer!r}: pass their layer, or leave layer out")
    return units.layer


def shown_units(session: Session, layer: str, units: Units | None) -> Units:
    """What a view lists on `layer`: the given units while it shows their layer, else its channels."""
    shape = tuple(session.layer_shape(layer))
    return units_of(layer, shape, units if units is not None and units.layer == layer else None)
