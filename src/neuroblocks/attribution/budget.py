"""How many tangents (or output rows) one batched attribution pass takes, from a memory budget.

A pass over a batch of B tangents holds, besides the model and its weights, B tangents of each
activation above the layer while it is computed; the estimate counts a few copies of the
largest one per tangent. The batch is the largest that keeps that within the session's
`memory_budget`, and at most 32, past which passes get no faster on a CPU.
"""

from __future__ import annotations

import math

from ..session import Session

MOST = 32
COPIES = 4  # of the largest activation above the layer, per tangent


def batch_size(session: Session, layer: str, given: int | None = None) -> int:
    """`given` if stated, else the budget's batch for attribution passes above `layer`."""
    if given is not None:
        if given < 1:
            raise ValueError(f"batch is a count of tangents per pass, at least 1; got {given}")
        return given
    names, readable = session.layers, set(session.readable_layers())
    above = names[names.index(session.check_layer(layer)) :]
    largest = max(math.prod(session.layer_shape(name)) for name in above if name in readable)
    per_tangent = COPIES * largest * 4  # float32 bytes
    return max(1, min(MOST, session.memory_budget // per_tangent))
