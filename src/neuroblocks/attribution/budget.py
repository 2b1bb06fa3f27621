"""How many tangents (or output rows) one batched attribution pass takes, from a memory budget.

A batch of B costs about B times what one item costs, and one item's cost is measured, not
guessed from the layers' shapes (a transformer's attention scores are no layer's output): the
matrix's own pass on one and on two items, under a dispatch mode that sees every tensor the
operations allocate; the difference is one item's. Forward mode frees each intermediate as it
goes, so an item costs a few copies (primal, tangent, temporaries) of its largest tensor;
reverse mode also keeps what backward needs, the tensors saved for it, which saved-tensor hooks
count (those the pass made: the model's weights, shared by the batch, are left out). The batch
is the largest that fits the budget, at most 32, past which passes get no faster on a CPU.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable

import torch
from torch.utils import _pytree as pytree
from torch.utils._python_dispatch import TorchDispatchMode

MOST = 32
_measured: dict[Hashable, int] = {}  # bytes per item, by what was measured
COPIES = 4  # of an item's largest intermediate: primal and tangent (or gradient), temporaries


class _Allocations(TorchDispatchMode):
    """Records the size of every storage an operation allocates, in order (not views of its
    inputs, such as a weight's transpose)."""

    def __init__(self) -> None:
        super().__init__()
        self.sizes: list[int] = []
        self.made: set[int] = set()

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        given = {found[0] for t in pytree.tree_leaves((args, kwargs)) if (found := _storage(t))}
        for t in pytree.tree_leaves(out):
            if (found := _storage(t)) and found[0] not in given:
                self.made.add(found[0])
                self.sizes.append(found[1])
        return out


def _storage(t: object) -> tuple[int, int] | None:
    """(address, bytes) of a tensor's storage; None for what has none (not a tensor, a sparse
    or wrapper tensor)."""
    if not isinstance(t, torch.Tensor) or t.layout != torch.strided:
        return None
    try:
        storage = t.untyped_storage()
        return storage.data_ptr(), storage.nbytes()
    except (RuntimeError, NotImplementedError):
        return None


def _pass(run: Callable[[int], object], n: int) -> tuple[list[int], int]:
    """(sizes of the storages a pass of n items allocates, bytes of those kept for backward)."""
    saved: dict[int, int] = {}

    def pack(t: torch.Tensor) -> torch.Tensor:
        if found := _storage(t):
            saved[found[0]] = found[1]
        return t

    seen = _Allocations()
    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t), seen:
        run(n)
    return seen.sizes, sum(size for ptr, size in saved.items() if ptr in seen.made)


def item_bytes(run: Callable[[int], object]) -> int:
    """Working memory one more item adds to a pass: `run(n)` makes the pass of n items as the
    matrix does (forward: n tangents under vmap; reverse: n copies with their graph). A pass of
    two items less a pass of one, so what every pass allocates once (a weight converted for the
    CPU's kernels, the shared primal) is not counted per item."""
    one, two = _pass(run, 1), _pass(run, 2)
    if len(one[0]) != len(two[0]):  # the model took another path for two items: count one item whole
        return COPIES * max(one[0], default=0) + one[1]
    return COPIES * max((b - a for a, b in zip(one[0], two[0])), default=0) + max(0, two[1] - one[1])


def batch_for(run: Callable[[int], object], count: int, budget: int, key: Hashable | None = None) -> int:
    """Items per pass for `count` items in all: as many as fit in `budget` bytes, at most MOST.
    `key` names what was measured (the model, the layer, the outputs, the input's shape, the
    mode), so the next matrix of the same kind reuses the measurement instead of two more passes."""
    if count <= 1:
        return 1
    cost = _measured.get(key) if key is not None else None
    if cost is None:
        cost = item_bytes(run)
        if key is not None:
            _measured[key] = cost
    return max(1, min(MOST, count, budget // max(1, cost)))
