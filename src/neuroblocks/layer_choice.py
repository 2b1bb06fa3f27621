"""Which few layers of a model are worth reading first, from what one probe pass shows.

A model lists hundreds of layers (every submodule); the article reads a handful of block
outputs after a nonlinearity, at increasing depth. The probe records, per layer, its canonical
shape, whether it held negative values (signed: a linear bottleneck, a residual stream, a
pre-activation) and which layers output the very same tensor (a container passing on its last
child's output). From those: one layer at the end of each resolution stage, non-negative ones
preferred, the deepest stages first; or, in a model of one resolution (a ViT), evenly spaced
blocks of its longest run of same-type blocks.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from torch import nn


_NORMS = (nn.modules.batchnorm._NormBase, nn.LayerNorm, nn.GroupNorm, nn.LocalResponseNorm, *((nn.RMSNorm,) if hasattr(nn, "RMSNorm") else ()))


@dataclass(frozen=True)
class Probed:
    """What the probe saw of one layer: its canonical shape, whether any value was negative, and
    the name of the first layer in execution order that output the same tensor (itself if none)."""

    shape: tuple[int, ...]
    signed: bool
    alias_of: str


def _representative(names: Sequence[str], modules: Mapping[str, nn.Module], shapes: Mapping[str, tuple[int, ...]]) -> str:
    """One name for layers that output one tensor: the outermost module whose own layers all
    have that shape (a block, not a leaf activation, not a container of several stages)."""
    shape = shapes[names[0]]

    def uniform(name: str) -> bool:
        inner = [n for n in shapes if n.startswith(name + ".")]
        return bool(inner) and all(shapes[n][1:] == shape[1:] for n in inner)

    blocks = [n for n in names if uniform(n)]
    return blocks[-1] if blocks else names[-1]


def distinct(probed: Mapping[str, Probed], modules: Mapping[str, nn.Module]) -> list[str]:
    """The layers in execution order, one name per tensor (see `_representative`)."""
    groups: dict[str, list[str]] = {}
    for name, p in probed.items():
        groups.setdefault(p.alias_of, []).append(name)
    shapes = {n: p.shape for n, p in probed.items()}
    chosen = {_representative(names, modules, shapes) for names in groups.values()}
    return [n for n in probed if n in chosen]


def _repeated_blocks(names: Sequence[str], modules: Mapping[str, nn.Module]) -> list[str]:
    """The longest run of same-type siblings among `names` (a transformer's blocks), in order."""
    runs: dict[tuple[str, str], list[str]] = {}
    for name in names:
        parent = name.rsplit(".", 1)[0] if "." in name else ""
        runs.setdefault((parent, type(modules[name]).__name__), []).append(name)
    return max(runs.values(), key=len) if runs else []


def _stage_ends(names: Sequence[str], probed: Mapping[str, Probed], modules: Mapping[str, nn.Module]) -> list[str]:
    """The last of `names` at each resolution, in order; a normalization that ends a stage (a
    downsampling step's norm) gives way to the layer before it."""
    ends = []
    for i, name in enumerate(names):
        if i + 1 < len(names) and probed[names[i + 1]].shape[1:] == probed[name].shape[1:]:
            continue
        j = i
        while j > 0 and isinstance(modules[names[j]], _NORMS) and probed[names[j - 1]].shape[1:] == probed[name].shape[1:]:
            j -= 1
        ends.append(names[j])
    return ends


def suggest(probed: Mapping[str, Probed], modules: Mapping[str, nn.Module], n: int = 4) -> list[str]:
    """Up to `n` grid layers worth reading first, shallowest first (see the module's docstring)."""
    grids = [name for name in distinct(probed, modules) if len(probed[name].shape) == 3 and min(probed[name].shape[1:]) >= 2]
    if not grids:
        return []
    deepest = probed[grids[-1]].shape[1:]
    last_stage = [name for name in grids[::-1] if probed[name].shape[1:] == deepest]
    if 2 * len(last_stage) <= len(grids):  # stages of decreasing resolution: a CNN
        positive = [name for name in grids if not probed[name].signed]
        reaches = bool(positive) and probed[positive[-1]].shape[1:] == deepest
        return _stage_ends(positive if reaches else grids, probed, modules)[-n:]
    every = [name for name in probed if len(probed[name].shape) == 3 and probed[name].shape[1:] == deepest]
    blocks = _repeated_blocks(every, modules)  # one resolution (a ViT): evenly spaced blocks
    return sorted({blocks[round((i + 1) * len(blocks) / n) - 1] for i in range(min(n, len(blocks)))}, key=blocks.index)
