"""One dataset read by two models, each its own way (input size, channels, preprocessing), in
step, so that row i of both models' activations comes from the same image.

A dataset is anything iterable more than once whose items are images, or tuples whose first
element is an image or a batch of them: `(image, masks)` as dissection takes, `(image, label)` as
torchvision's ImageFolder gives, DataLoader batches. Only the images are used.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence

import torch

from ..datasets import DatasetError
from ..items import in_lists, items_of
from ..session import Session

Activations = dict[str, torch.Tensor]


def images(data: Iterable) -> Iterator[object]:
    """Every image of `data`, one at a time, as the user holds it."""
    if iter(data) is data:
        raise DatasetError("the dataset is a one-shot iterator, but both models read it: pass a list, a Dataset or a DataLoader")
    for item in items_of(data):
        image = item[0] if isinstance(item, (tuple, list)) else item
        if isinstance(image, torch.Tensor) and image.dim() == 4:
            yield from image
        else:
            yield image


def pictures(session: Session, chunk: list) -> torch.Tensor:
    """The chunk's images as `session` reads them, as one batch."""
    return torch.stack([session.image(x) for x in chunk])


def _activations(session: Session, batch: torch.Tensor, layers: Sequence[str]) -> Activations:
    with torch.no_grad():
        found = session.forward(batch, capture=layers, stop=True).activations
    return {layer: found[layer].float() for layer in layers}


def paired(
    session_a: Session, session_b: Session, data: Iterable, layers_a: Sequence[str], layers_b: Sequence[str], batch: int = 32
) -> Iterator[tuple[Activations, Activations]]:
    """Batches of (A's activations, B's activations) of the same images, in dataset order."""
    for chunk in in_lists(images(data), batch):
        yield _activations(session_a, pictures(session_a, chunk), layers_a), _activations(session_b, pictures(session_b, chunk), layers_b)
