"""The package's dataset reader: datasets with or without concept masks, read the same way
whatever their form, by dissection, dataset examples, atlases, dictionaries and comparisons.

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

from .errors import NeuroblocksError
from .images import load_image
from .keywords import checked
from .shapes import world

Batch = tuple[torch.Tensor, dict[str, torch.Tensor]]


class DatasetError(NeuroblocksError, ValueError):
    """A dataset that cannot be used as it is (by dissection, dataset examples, atlases,
    dictionaries or a comparison of models, which all read datasets here)."""


class ShapesConcepts(torch.utils.data.Dataset):
    """`count` scenes of the shapes world (seeds start, start+1, …) with their shape, texture and
    colour masks ("shape:circle", "texture:stripes", "color:red", …), or with `masks="classes"`
    each object's class ("class:striped triangle", …); `classes` as in `scene`."""

    def __init__(self, count: int, start: int = 100_000, classes=None, masks: str = "concepts") -> None:
        if masks not in ("concepts", "classes"):
            raise DatasetError(f"the shapes world's masks are 'concepts' (shape, texture, colour) or 'classes', not {masks!r}")
        self.count, self.start, self.classes, self.masks = count, start, classes, masks

    def __len__(self) -> int:
        return self.count

    def __getitem__(self, i: int) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        if not -self.count <= i < self.count:  # iteration without a DataLoader stops here
            raise IndexError(f"ShapesConcepts has {self.count} scenes; index {i} is out of range")
        s = world.scene(self.start + i % self.count, classes=self.classes)
        image = torch.from_numpy(np.ascontiguousarray(s.image)).permute(2, 0, 1).float() / 255
        if self.masks == "classes":
            masks = {f"class:{name}": torch.from_numpy(m) for name, m in s.masks.items() if ":" not in name}
            names = [f"class:{name}" for name in world.CLASSES]
        else:
            masks = {name: torch.from_numpy(m) for name, m in s.masks.items() if ":" in name}
            names = concepts()
        for concept in names:  # every concept in every item, so batches collate
            masks.setdefault(concept, torch.zeros(image.shape[1:], dtype=torch.bool))
        return image, masks


@checked
def concepts() -> list[str]:
    """The shapes world's concepts, by family."""
    return [f"shape:{s}" for s in world.SHAPES] + [f"texture:{t}" for t in world.TEXTURES] + [f"color:{c}" for c in world.COLORS]


def family(concept: str) -> str:
    """"shape:circle" → "shape"; a concept without a family prefix is its own family."""
    return concept.split(":", 1)[0] if ":" in concept else concept


class BadItem(DatasetError):
    """An item of the dataset that cannot be read; `index` is its place in the dataset."""

    def __init__(self, index: int, reason: str) -> None:
        super().__init__(f"item {index} of the dataset cannot be used: {reason}")
        self.index, self.reason = index, reason

    def __reduce__(self):  # raised on a worker, re-raised here
        return BadItem, (self.index, self.reason)


def numbered(items: Iterable, start: int = 0) -> Iterator[tuple[int, object, dict]]:
    """(dataset index, image, masks) for every image of `items` (the dataset from item `start`
    on): single examples as they are, batches (4-D images) image by image."""
    index = start
    for item in items:
        images, masks = _with_masks(item)
        if isinstance(images, torch.Tensor) and images.dim() == 4:
            for i, image in enumerate(images):
                yield index, image, {k: torch.as_tensor(v)[i] for k, v in masks.items()}
                index += 1
        else:
            yield index, images, masks
            index += 1


def batches(items: Iterable, channels: int = 3, size: int = 32, start: int = 0) -> Iterator[tuple[int, torch.Tensor, dict[str, torch.Tensor]]]:
    """(index of the first image, images (N, channels, H, W) in [0, 1], {concept: (N, H, W) bool})
    for runs of up to `size` consecutive images of one size, each read as `load_image` reads it
    for a model of `channels` inputs. A concept missing from an image is absent from it. An item
    that cannot be read raises `BadItem` with its index."""
    run: list[tuple[int, torch.Tensor, dict]] = []
    for index, image, masks in numbered(items, start):
        try:
            picture = load_image(image, channels=channels)
            read = {k: torch.as_tensor(np.asarray(v)).bool() for k, v in masks.items()}
        except (NeuroblocksError, TypeError, ValueError, OSError) as e:
            raise BadItem(index, str(e)) from e
        for concept, m in read.items():
            if tuple(m.shape) != tuple(picture.shape[1:]):
                raise BadItem(index, f"mask of {concept!r} has shape {tuple(m.shape)} but its image is {tuple(picture.shape[1:])}: masks must be the images' height and width (one per image)")
        if run and (len(run) == size or run[0][1].shape != picture.shape):
            yield _collated(run)
            run = []
        run.append((index, picture, read))
    if run:
        yield _collated(run)


def _collated(run: list[tuple[int, torch.Tensor, dict]]) -> tuple[int, torch.Tensor, dict[str, torch.Tensor]]:
    names = sorted({k for _, _, masks in run for k in masks})
    empty = torch.zeros(run[0][1].shape[1:], dtype=torch.bool)
    masks = {k: torch.stack([m.get(k, empty) for _, _, m in run]) for k in names}
    return run[0][0], torch.stack([picture for _, picture, _ in run]), masks


def _with_masks(item: object) -> tuple[object, dict]:
    """(images, masks) of an item: (image, {concept: mask}) as it is; (image, label) as
    ImageFolder gives, a plain image, or a batch of either, with no masks (enough for dataset
    examples; dissection then says it needs masks)."""
    if isinstance(item, (tuple, list)) and len(item) == 2:
        return item[0], item[1] if isinstance(item[1], dict) else {}
    return item, {}
