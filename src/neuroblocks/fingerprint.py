"""A content hash of a model's weights, recomputed only when a weight tensor has changed.

Disk caches (icons) key on it, so two sessions over the same weights share entries and any
change to the weights (fine-tuning, loading another checkpoint) misses.
"""

from __future__ import annotations

import hashlib
import itertools

import torch
from torch import nn


def weights_version(model: nn.Module) -> tuple:
    """Cheap identity of the current weights: storage and in-place version of every tensor.

    Changes made through `.data` bypass version counters and are not seen.
    """
    return tuple((t.data_ptr(), t._version) for t in itertools.chain(model.parameters(), model.buffers()))


def weights_hash(model: nn.Module) -> str:
    """SHA-256 over every parameter and buffer's name, dtype, shape and bytes (first 16 hex digits)."""
    digest = hashlib.sha256()
    for name, tensor in model.state_dict().items():
        t = tensor.detach().cpu().contiguous()
        digest.update(f"{name}:{t.dtype}:{tuple(t.shape)};".encode())
        digest.update(t.reshape(-1).view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()[:16]
