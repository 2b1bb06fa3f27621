"""What one pass on noise shows of a model's modules: which are layers (they run once and output
one row per image), their shapes, whether their output is signed, which output the same tensor,
and which return a structure holding their tensor. The Session reads its layers from it."""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

from .forward import primary

#: Images in a probe pass: a module whose output's first dimension is not this is not a layer.
BATCH = 2


def module_outputs(
    modules: dict[str, nn.Module],
    run: Callable[[torch.Tensor], torch.Tensor],
    noise: torch.Tensor,
    structured: set[str] | None = None,
    seen: dict[str, tuple[bool, str]] | None = None,
) -> tuple[dict[str, tuple[int, ...]], torch.Tensor]:
    """One pass `run(noise)` (noise: a batch of `BATCH` inputs; run returns the logits) with every
    module hooked: the per-image output shapes of the modules that run exactly once and output a
    batch of tensors (or a structure holding one: those are added to `structured`), in the order
    their outputs are made; the logits. `seen` receives, per module, whether its output held a
    negative value and the first module that output the same tensor. A module whose output's
    first dimension is not the batch (a transformer's window partition, folding windows into the
    batch; a relative-position table computed from no input) is not a layer."""
    structured = set() if structured is None else structured
    seen = {} if seen is None else seen
    calls: dict[str, int] = {}
    shapes: dict[str, tuple[int, ...] | None] = {}
    last: list = [None, None]  # the latest output and the first module that made it

    def hook(name):
        def record(module, inputs, output):
            calls[name] = calls.get(name, 0) + 1
            tensor = primary(output)
            batch = tensor is not None and tensor.dim() > 0 and tensor.shape[0] == BATCH
            shapes[name] = tuple(tensor.shape[1:]) if batch else None
            if batch:
                first = last[0] if last[1] is tensor else name
                seen[name] = (bool(tensor.is_floating_point() and (tensor < 0).any()), first)
                last[:] = [first, tensor]
            if tensor is not None and tensor is not output:
                structured.add(name)

        return record

    handles = [module.register_forward_hook(hook(name)) for name, module in modules.items() if name]
    try:
        with torch.no_grad():
            logits = run(noise)
    finally:
        for handle in handles:
            handle.remove()
    return {n: shapes[n] for n in calls if calls[n] == 1 and shapes.get(n) is not None}, logits
