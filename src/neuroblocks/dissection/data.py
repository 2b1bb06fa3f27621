"""Datasets with concept masks, read the same way whatever their form.

A dataset is anything iterable more than once (a list, a torch Dataset, a DataLoader with
workers) whose items are either single examples `(image, {concept: mask})`, with the image as
anything `load_image` takes and each mask (H, W), or batches `(images (N, C, H, W), {concept:
masks (N, H, W)})` as a DataLoader's default collation makes them. A concept missing from an
item is absent from that image. Items without masks (images, ImageFolder's (image, label))
serve dataset examples; dissection needs masks. The shapes world comes ready as `ShapesConcepts`.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

import numpy as np
import torch

from ..errors import NeuroblocksError
from ..images import load_image
from ..shapes import world

Batch = tuple[torch.Tensor, dict[str, torch.Tensor]]


class DissectionDataError(NeuroblocksError, ValueError):
    """A dataset for dissection that cannot be used as it is."""


class ShapesConcepts(torch.utils.data.Dataset):
    """`count` scenes of the shapes world (seeds start, start+1, …) with their shape, texture and
    colour masks ("shape:circle", "texture:stripes", "color:red", …); `classes` as in `scene`."""

    def __init__(self, count: int, start: int = 100_000, classes=None) -> None:
        self.count, self.start, self.classes = count, start, classes

    def __len__(self) -> int:
        return self.count

    def __getitem__(self, i: int) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        if not -self.count <= i < self.count:  # iteration without a DataLoader stops here
            raise IndexError(f"ShapesConcepts has {self.count} scenes; index {i} is out of range")
        s = world.scene(self.start + i % self.count, classes=self.classes)
        image = torch.from_numpy(np.ascontiguousarray(s.image)).permute(2, 0, 1).float() / 255
        masks = {name: torch.from_numpy(m) for name, m in s.masks.items() if ":" in name}
        for concept in concepts():  # every concept in every item, so batches collate
            masks.setdefault(concept, torch.zeros(image.shape[1:], dtype=torch.bool))
        return image, masks


def concepts() -> list[str]:
    """The shapes world's concepts, by family."""
    return [f"shape:{s}" for s in world.SHAPES] + [f"texture:{t}" for t in world.TEXTURES] + [f"color:{c}" for c in world.COLORS]


def family(concept: str) -> str:
    """"shape:circle" → "shape"; a concept without a family prefix is its own family."""
    return concept.split(":", 1)[0] if ":" in concept else concept


def batches(data: Iterable, channels: int = 3) -> Iterator[Batch]:
    """Every item of `data` as a batch (images (N, channels, H, W) in [0, 1], {concept: (N, H, W) bool}),
    each image read as `load_image` reads it for a model of `channels` inputs."""
    if iter(data) is data:
        raise DissectionDataError("the dataset is a one-shot iterator, but dissection reads it twice: pass a list, a Dataset or a DataLoader")
    for item in _items(data):
        images, masks = _with_masks(item)
        if isinstance(images, torch.Tensor) and images.dim() == 4:  # each image read as load_image reads it
            yield torch.stack([load_image(image, channels=channels) for image in images]), {k: torch.as_tensor(v).bool() for k, v in masks.items()}
        else:
            image = load_image(images, channels=channels)
            yield image[None], {k: torch.as_tensor(np.asarray(v)).bool()[None] for k, v in masks.items()}


def _with_masks(item: object) -> tuple[object, dict]:
    """(images, masks) of an item: (image, {concept: mask}) as it is; (image, label) as
    ImageFolder gives, a plain image, or a batch of either, with no masks (enough for dataset
    examples; dissection then says it needs masks)."""
    if isinstance(item, (tuple, list)) and len(item) == 2:
        return item[0], item[1] if isinstance(item[1], dict) else {}
    return item, {}


def in_lists(items: Iterable, size: int) -> Iterator[list]:
    """`items` in lists of `size` (the last may be shorter), in order, read once."""
    chunk: list = []
    for item in items:
        chunk.append(item)
        if len(chunk) == size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def _items(data: Iterable) -> Iterable:
    """A map-style Dataset is read by index over its length: iterating it directly runs until
    `__getitem__` raises IndexError, which many datasets never do."""
    indexed = isinstance(data, torch.utils.data.Dataset) and not isinstance(data, torch.utils.data.IterableDataset)
    return (data[i] for i in range(len(data))) if indexed and hasattr(data, "__len__") else data


def check_masks(images: torch.Tensor, masks: dict[str, torch.Tensor]) -> None:
    """Masks must cover their images pixel for pixel."""
    for concept, m in masks.items():
        if tuple(m.shape) != (images.shape[0], *images.shape[2:]):
            raise DissectionDataError(
                f"mask of {concept!r} has shape {tuple(m.shape)} but its images are {tuple(images.shape[2:])}: "
                "masks must be the images' height and width (one per image)"
            )
