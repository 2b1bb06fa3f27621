"""Natural exemplars beside icons: once a session has seen a dataset (`session.examples(data)`)
or a microscope serves it, every view that lists units shows each unit's top dataset crops next
to its icon. Psychophysics found such exemplars explain units at least as well as synthetic
icons (Borowski et al., ICLR 2021; Zimmermann et al., NeurIPS 2021).

Crops are cut to the layer's effective receptive field (`receptive_field`) around where the unit
fires hardest and shaded by its activation there. They are computed once per session, layer and
units (one pass over the dataset finds every unit's top crops), and a microscope that holds them
serves them instead (`serve`)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Protocol

import numpy as np
import torch
import torch.nn.functional as F

from ..keywords import checked
from ..session import Session
from ..unit_labels import UnitLabel, base_rates, label_unit
from ..units import Units
from .dataset_examples import Examples, dataset_examples
from .receptive_field import receptive_fraction

K = 4  # exemplars shown per unit
SHADE = 0.5  # a crop's brightness where the unit does not fire (1 where it fires hardest)
MIN_CROP = 0.1  # of the input side: crops never smaller
MAP_BYTES = 2**29  # memory for one batch's unit maps (576 channels at 224 px: 2 images a batch)


class Provider(Protocol):
    """What serves exemplars without computing them (a microscope's store)."""

    def exemplars(self, session: Session, units: Units, k: int) -> Examples | None: ...


@checked
def serve(session: Session, provider: Provider | None) -> None:
    """Let `provider` answer the views' exemplar requests for this session first (None: stop)."""
    session.set_state("exemplar provider", provider)


def dataset_of(session: Session) -> Iterable | None:
    """The dataset `session.examples(data)` gave, or None."""
    return session.state("exemplar data", lambda s: None)


def known(session: Session) -> bool:
    """Whether views of this session can show exemplars."""
    return dataset_of(session) is not None or session.state("exemplar provider", lambda s: None) is not None


@checked
def exemplars(session: Session, units: Units, k: int = K) -> Examples | None:
    """The top-`k` dataset crops of every one of `units`, from the session's microscope or its
    dataset, or None when it has neither. Units whose codes hold only for one image (neuron
    groups) are read by the directions their icons draw."""
    provider = session.state("exemplar provider", lambda s: None)
    if provider is not None:
        found = provider.exemplars(session, units, k)
        if found is not None:
            return found
    data = dataset_of(session)
    if data is None:
        return None
    cache = session.state("exemplars", lambda s: {})
    key = (units.icon_key, k, id(data))
    if key not in cache:
        crop = max(MIN_CROP, receptive_fraction(session, units.layer))
        h, w = session.probe_side()
        batch = max(1, min(32, MAP_BYTES // (4 * units.count * h * w)))  # every unit's upsampled map of a batch is held at once
        cache[key] = dataset_examples(session, units.layer, data, k, units=units.for_any_image(), crop=crop, batch=batch)
    return cache[key]


def shaded(crops: torch.Tensor, maps: torch.Tensor) -> np.ndarray:
    """A unit's crops (k, t, t, 3) side by side, (t, k·t, 3) uint8, darkened where its map (k, t,
    t), on the scale of its best crop, says it does not fire."""
    crops = crops.float()
    light = SHADE + (1 - SHADE) * maps[..., None].float()
    return torch.cat(list((crops * light).round().clamp(0, 255).to(torch.uint8)), dim=1).numpy()


def crop_classes(session: Session, examples: Examples, units: Sequence[int]) -> list[list[int]]:
    """The model's class for each of the units' exemplar crops (what the crop shows, in the
    model's vocabulary), one batched pass at the model's input size."""
    if not units:
        return []
    crops = examples.crops[list(units)]  # (n, k, t, t, 3)
    n, k = crops.shape[:2]
    images = crops.reshape(n * k, *crops.shape[2:]).permute(0, 3, 1, 2).float() / 255
    if session.channels != 3:
        return [[] for _ in units]  # crops are drawn for display; a model of other channels cannot read them back
    h, w = session.probe_side()
    classes = []
    with torch.no_grad():
        for start in range(0, len(images), 64):
            batch = F.interpolate(images[start : start + 64], size=(h, w), mode="bilinear", align_corners=False)
            classes.append(session.forward(batch.to(session.device)).logits.argmax(1).cpu())
    return torch.cat(classes).reshape(n, k).tolist()


def exemplar_labels(
    session: Session, examples: Examples, units: Sequence[int], support: torch.Tensor | None = None, concepts: Sequence[tuple[str, float]] | None = None, min_iou: float | None = None
) -> list[UnitLabel]:
    """`unit_labels`' rule for `units` from their exemplars' classes (the first `K` crops each)
    and, where given, their class support (len(units), classes) and best dissection concept and
    IoU (`concepts`, one per unit, with the dissection's `min_iou`)."""
    classes = [c[:K] for c in crop_classes(session, examples, units)]
    rates = base_rates(classes)
    names = session.labels
    threshold = {} if min_iou is None else {"min_iou": min_iou}
    return [
        label_unit(
            names, None if support is None else support[i], exemplar_classes=classes[i], base_rate=rates,
            concept=None if concepts is None else concepts[i][0], iou=None if concepts is None else concepts[i][1], **threshold,
        )
        for i in range(len(units))
    ]
