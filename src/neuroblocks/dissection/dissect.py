"""Network dissection (Bau et al.; SPEC §6): threshold each unit's upsampled activation map at
its top 0.5% over the dataset, compare the thresholded region with each concept's mask by IoU,
and label the unit with its best concept where the IoU reaches 0.04.

Two streaming passes over the dataset: the first finds the thresholds (`TopQuantile`, memory
bounded whatever the dataset's size), the second counts intersections and unions. Nothing per
image is kept.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import torch

from ..session import Session
from .data import DissectionDataError, batches, check_masks, family
from .quantiles import TopQuantile
from .units import unit_maps, upsampled


@dataclass(frozen=True)
class Dissection:
    """iou: (units, concepts). thresholds: (units,). exact: the thresholds are exact quantiles."""

    layer: str
    concepts: list[str]
    iou: torch.Tensor
    thresholds: torch.Tensor
    images: int
    exact: bool
    min_iou: float

    @property
    def best(self) -> tuple[torch.Tensor, torch.Tensor]:
        """Each unit's best IoU and the index of its concept."""
        return self.iou.max(1)

    @property
    def labels(self) -> list[str | None]:
        """Each unit's concept, or None where its best IoU is under `min_iou`."""
        values, index = self.best
        return [self.concepts[int(i)] if float(v) >= self.min_iou else None for v, i in zip(values, index)]

    def units_of(self, concept: str) -> list[int]:
        """Units labelled with `concept`, best IoU first."""
        found = [u for u, label in enumerate(self.labels) if label == concept]
        return sorted(found, key=lambda u: -float(self.iou[u, self.concepts.index(concept)]))

    def families(self) -> dict[str, list[int]]:
        """Labelled units per concept family ("shape", "texture", "color", …)."""
        out: dict[str, list[int]] = {family(c): [] for c in self.concepts}
        for u, label in enumerate(self.labels):
            if label is not None:
                out[family(label)].append(u)
        return out

    def mean_best_iou(self) -> float:
        return float(self.best[0].mean())


def _pass(session: Session, layer: str, data: Iterable, directions):
    """(batch maps at mask resolution (N, U, H, W), masks) for each batch, with checks."""
    for images, masks in batches(data, session.channels):
        if not masks:
            raise DissectionDataError(
                "dissection needs concept masks: items (image, {concept: mask}) or batches of them; these items have none "
                "(images, or an ImageFolder's (image, label)): dataset_examples and atlas read those"
            )
        check_masks(images, masks)
        maps = unit_maps(session, layer, images, directions)
        yield upsampled(maps, tuple(images.shape[2:])), masks


def dissect(
    session: Session,
    layer: str,
    data: Iterable,
    *,
    directions: torch.Tensor | None = None,
    tail: float = 0.005,
    min_iou: float = 0.04,
    capacity: int = 4096,
) -> Dissection:
    """Dissect `layer`'s units (or `directions` (K, C) in its activation space) over `data`
    (see `dissection.data` for the forms it takes)."""
    layer = session.check_layer(layer)
    quantile, count, concepts = None, 0, {}
    for maps, masks in _pass(session, layer, data, directions):
        quantile = quantile or TopQuantile(maps.shape[1], tail, capacity)
        quantile.update(maps.transpose(0, 1).reshape(maps.shape[1], -1))
        count += maps.shape[0]
        for concept, m in masks.items():
            concepts[concept] = concepts.get(concept, 0) + int(m.sum())
    if count == 0:
        raise DissectionDataError("the dataset is empty: dissection needs images with concept masks")
    empty = [c for c, pixels in concepts.items() if pixels == 0]
    if empty:
        raise DissectionDataError(f"concept {empty[0]!r} has no pixels in any image: its IoU would mean nothing; drop it or check its masks")
    names = sorted(concepts)
    thresholds = quantile.threshold()
    inter = torch.zeros(len(thresholds), len(names), dtype=torch.float64)
    fired = torch.zeros(len(thresholds), dtype=torch.float64)
    for maps, masks in _pass(session, layer, data, directions):
        on = (maps > thresholds[None, :, None, None]).transpose(0, 1).reshape(len(thresholds), -1).double()
        m = torch.stack([masks.get(c, torch.zeros(maps.shape[0], *maps.shape[2:], dtype=torch.bool)) for c in names], dim=-1)
        inter += on @ m.reshape(-1, len(names)).double()
        fired += on.sum(1)
    area = torch.tensor([concepts[c] for c in names], dtype=torch.float64)
    iou = inter / (fired[:, None] + area[None] - inter).clamp(min=1)
    return Dissection(layer, names, iou.float(), thresholds, count, quantile.exact, min_iou)
