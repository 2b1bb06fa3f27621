"""Reading a dataset's items, whatever holds them: a map-style Dataset by index over its length,
anything else by iterating it; and in lists of a batch's size."""

from __future__ import annotations

from collections.abc import Iterable, Iterator

import torch


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


def items_of(data: Iterable) -> Iterable:
    """A map-style Dataset is read by index over its length: iterating it directly runs until
    `__getitem__` raises IndexError, which many datasets never do."""
    indexed = isinstance(data, torch.utils.data.Dataset) and not isinstance(data, torch.utils.data.IterableDataset)
    return (data[i] for i in range(len(data))) if indexed and hasattr(data, "__len__") else data
