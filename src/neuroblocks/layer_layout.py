"""How a layer's output is laid out (docs/guides/transformers.md), and the canonical view every block reads.

Every block sees a grid layer as (C, H, W) per image, C the true feature dimension. A layer's own
output may be channels-first (N, C, H, W: convolutions), channels-last (N, H, W, C: Swin's stages,
the linear layers inside ConvNeXt blocks), tokens (N, L, C: a vision transformer's P prefix
tokens then its H×W patch tokens) or vectors (N, C). Which one is inferred from the shapes the
layer has at two input sizes (the dimensions that follow the input's height are the grid's), or,
where the model takes one size only, from one: a grid's sides keep the input's aspect ratio, do
not exceed it and are the input's sides over one integer stride (a window partition's windows ×
window tokens are not: such a layer is "other", an internal step), and where both readings
fit, a convolution's (or pool's, or norm's) output is channels-first by PyTorch's convention. A layer none of this settles is an error that says how
to state its layout, `Session(..., layouts={"features.*": "channels_last"})`, never a guess.

A token layer is seen as its patch grid, (C, H, W), with its P prefix tokens (class,
distillation, register tokens) beside it as (P, C): atoms that are not on the image. A pass
captures both (`forward.Pass.prefixes`), and replacing a token layer's output takes both.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Mapping
from dataclasses import dataclass

import torch
from torch import nn

from .errors import NeuroblocksError

KINDS = ("channels_first", "channels_last", "tokens", "vectors", "other")
MAX_PREFIX = 8  # class, distillation and register tokens: DINOv2 with registers has 1 + 4

# Modules whose 4-D output is channels-first by PyTorch's convention: a tie-breaker only.
_CHANNELS_FIRST = (nn.modules.conv._ConvNd, nn.modules.batchnorm._BatchNorm, nn.modules.pooling._MaxPoolNd, nn.modules.pooling._AvgPoolNd,
                   nn.modules.pooling._AdaptiveAvgPoolNd, nn.modules.pooling._AdaptiveMaxPoolNd, nn.GroupNorm, nn.Upsample)


class LayoutError(NeuroblocksError, ValueError):
    """A layer whose layout cannot be read, or is stated wrongly."""


@dataclass(frozen=True)
class LayerLayout:
    """kind: one of KINDS; native: the layer's own per-image shape; prefix: a token layer's P
    prefix tokens; grid: a token layer's patch grid (H, W); how: where the layout came from
    (inferred, and from what, or stated)."""

    kind: str
    native: tuple[int, ...]
    prefix: int = 0
    how: str = "inferred"
    grid: tuple[int, int] = (0, 0)

    @property
    def shape(self) -> tuple[int, ...]:
        """The shape the blocks see: (C, H, W) for grids and token layers' patches, the native shape otherwise."""
        if self.kind == "channels_last":
            h, w, c = self.native
            return (c, h, w)
        if self.kind == "tokens":
            return (self.native[1], *self.grid)
        return self.native

    @property
    def tokens(self) -> bool:
        return self.kind == "tokens"

    def to_canonical(self, x: torch.Tensor) -> torch.Tensor:
        """A batch as the blocks see it, (N, C, H, W) for grids (gradients flow through it)."""
        if self.kind == "channels_last":
            return x.permute(0, 3, 1, 2)
        if self.kind == "tokens":
            return x[:, self.prefix :].transpose(1, 2).reshape(x.shape[0], x.shape[2], *self.grid)
        return x

    def prefix_of(self, x: torch.Tensor) -> torch.Tensor:
        """A token layer's prefix tokens (N, P, C) in a batch of its own outputs."""
        return x[:, : self.prefix]

    def to_native(self, x: torch.Tensor, prefix: torch.Tensor | None = None) -> torch.Tensor:
        """A canonical batch back in the layer's own layout, for the network above it; a token
        layer's needs its prefix tokens (N, P, C) too."""
        if self.kind == "channels_last":
            return x.permute(0, 2, 3, 1)
        if self.kind == "tokens":
            if prefix is None or tuple(prefix.shape[1:]) != (self.prefix, self.native[1]):
                raise LayoutError(f"a token layer's output needs its {self.prefix} prefix tokens (N, {self.prefix}, {self.native[1]}) beside the patch grid")
            return torch.cat([prefix.to(x).expand(x.shape[0], -1, -1), x.flatten(2).transpose(1, 2)], dim=1)
        return x

    def __str__(self) -> str:
        names = {"channels_first": "channels-first grid (C, H, W)", "channels_last": "channels-last grid (H, W, C)",
                 "tokens": f"tokens (L, C): {self.prefix} prefix + patch grid", "vectors": "vectors (C,)", "other": "not a grid"}
        return f"{names[self.kind]} of shape {self.native}, {self.how}"


def _fits(hw: tuple[int, int], size: tuple[int, int]) -> bool:
    """Could (h, w) be a grid over an input of `size`: no larger, with its aspect ratio (± one cell)?"""
    (h, w), (ih, iw) = hw, size
    return 0 < h <= ih and 0 < w <= iw and abs(h * iw - w * ih) <= max(ih, iw)


def _strided(hw: tuple[int, int], size: tuple[int, int]) -> bool:
    """Is (h, w) the input's sides divided by one integer stride (rounded either way), as a
    feature map's are? A window partition's (windows, window tokens) is not."""
    (h, w), (ih, iw) = hw, size
    return any(h in (ih // s, -(-ih // s)) and w in (iw // s, -(-iw // s)) for s in range(1, max(ih, iw) + 1))


def patch_grid(patches: int, size: tuple[int, int]) -> tuple[int, int] | None:
    """(H, W) when `patches` tokens tile an input of `size` (H, W) with its exact aspect ratio."""
    for h in range(1, int(patches**0.5 * max(1.0, size[0] / size[1]) ** 0.5) + 2):
        if patches % h == 0 and _fits((h, patches // h), size) and h * size[1] == patches // h * size[0]:
            return h, patches // h
    return None


def _tokens(shape: tuple[int, ...], size: tuple[int, int]) -> tuple[int, tuple[int, int]] | None:
    """(P, grid) when (L, C) is P prefix tokens then a patch grid of the input's aspect, else None."""
    for prefix in range(MAX_PREFIX + 1):
        if shape[0] - prefix < 4:
            break
        if (grid := patch_grid(shape[0] - prefix, size)) is not None:
            return prefix, grid
    return None


def infer(module: nn.Module, shape: tuple[int, ...], size: tuple[int, int], other: tuple[tuple[int, ...], tuple[int, int]] | None) -> LayerLayout | str:
    """The layout of a layer of per-image `shape` at input `size` (H, W); `other` is its shape at
    an input of another height, when the model took one. A string says why it is ambiguous."""
    if len(shape) == 1:
        return LayerLayout("vectors", shape)
    if len(shape) == 2:
        here = _tokens(shape, size)
        if other is not None and other[0][1] == shape[1] and other[0][0] != shape[0] and (there := _tokens(other[0], other[1])) is not None and here and here[0] == there[0]:
            return LayerLayout("tokens", shape, here[0], "inferred from two input sizes", here[1])
        if other is None and here is not None:
            return LayerLayout("tokens", shape, here[0], "inferred from the token count and the input's patch grid", here[1])
        return LayerLayout("other", shape)
    if len(shape) != 3:
        return LayerLayout("other", shape)
    if other is not None:
        moved = [i for i in range(3) if other[0][i] != shape[i]]
        if moved == [1] or moved == [1, 2]:
            return LayerLayout("channels_first", shape, how=f"inferred from inputs {size[0]}×{size[1]} and {other[1][0]}×{other[1][1]}")
        if moved == [0] or moved == [0, 1]:
            return LayerLayout("channels_last", shape, how=f"inferred from inputs {size[0]}×{size[1]} and {other[1][0]}×{other[1][1]}")
    first, last = (_fits(hw, size) and _strided(hw, size) for hw in (shape[1:], shape[:2]))
    if first and not last:
        return LayerLayout("channels_first", shape, how="inferred from the grid's fit to the input")
    if last and not first:
        return LayerLayout("channels_last", shape, how="inferred from the grid's fit to the input")
    if first and isinstance(module, _CHANNELS_FIRST):
        return LayerLayout("channels_first", shape, how=f"a {type(module).__name__} output")
    if not first and not last:
        return LayerLayout("other", shape)
    return f"its shape {shape} at a {size[0]}×{size[1]} input reads as a grid either way"


def stated(value: str | LayerLayout, shape: tuple[int, ...], layer: str, size: tuple[int, int]) -> LayerLayout:
    """A layout given by the user, checked against the layer's shape."""
    if isinstance(value, LayerLayout):
        kind, prefix = value.kind, value.prefix
    elif isinstance(value, str) and value.split(":")[0] in KINDS:
        kind, _, count = value.partition(":")
        prefix = int(count) if count.isdigit() else 0
    else:
        raise LayoutError(f"layout {value!r} for {layer!r}: say 'channels_first', 'channels_last', 'tokens:P' (P prefix tokens) or 'vectors'")
    dims = {"channels_first": 3, "channels_last": 3, "tokens": 2, "vectors": 1}.get(kind)
    if dims is not None and len(shape) != dims:
        raise LayoutError(f"layer {layer!r} outputs per-image shape {shape}, which cannot be {kind} ({dims} dimensions)")
    grid = (0, 0)
    if kind == "tokens" and (grid := patch_grid(shape[0] - prefix, size)) is None:
        raise LayoutError(f"layer {layer!r} has {shape[0]} tokens: {shape[0] - prefix} after {prefix} prefix tokens do not tile a {size[0]}×{size[1]} input; say 'tokens:P' with the right P")
    return LayerLayout(kind, shape, prefix, "stated", grid)


def given(layouts: Mapping[str, str | LayerLayout], layer: str) -> str | LayerLayout | None:
    """The user's layout for `layer`: its exact name first, then the first matching pattern."""
    if layer in layouts:
        return layouts[layer]
    return next((value for pattern, value in layouts.items() if fnmatch.fnmatchcase(layer, pattern)), None)


def how_to_state(layer: str, why: str) -> LayoutError:
    return LayoutError(
        f"the layout of {layer!r} is ambiguous: {why}. State it: Session(..., layouts={{{layer!r}: 'channels_first'}}) "
        "(or 'channels_last', 'tokens:P' for P prefix tokens, 'vectors'; names may be patterns like 'features.*')"
    )
