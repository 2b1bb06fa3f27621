"""Lucid's InceptionV1 ("inception5h"): the network of the article, Lucid's notebooks and OpenAI
Microscope, as a PyTorch module whose layers carry the article's names (`conv2d0` … `mixed5b`).

It is GoogLeNet as TensorFlow's 2015 graph has it, not torchvision's retrained one: no batch norm,
local response normalisation after the first max-pool and after `conv2d2`, TensorFlow's "SAME"
padding (asymmetric for the strided layers, max-pools padded with −inf), 1008 outputs (1000
ImageNet classes and unused ones) and inputs in [0, 255] minus 117 (docs/guides/models-and-weights.md).

Weights: `inception5h.pth`, the graph's weights converted to PyTorch by ProGamerGov and published
for Lucent, in Lucent's key layout (`mixed4d_3x3_pre_relu_conv.weight`, …); `from_lucent` renames
them. Local response normalisation follows Lucent's port (PyTorch's `local_response_norm`, which
divides alpha by the window of 9; TensorFlow's does not), so that the converted weights give the
numbers Lucent gives. The final average pool is a global mean: at 224 px the graph's 7 × 7 pool,
and at other sizes still defined, so feature visualization can render small icons.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

#: Where Lucent's author publishes the converted weights.
URL = "https://github.com/ProGamerGov/pytorch-old-tensorflow-models/raw/master/inception5h.pth"
#: The label file of Google's inception5h.zip (1008 lines, "dummy" first), read when beside the weights.
LABELS_FILE = "imagenet_comp_graph_label_strings.txt"
CLASSES = 1008
SIZE = 224

#: (input channels, 1x1, 3x3 bottleneck, 3x3, 5x5 bottleneck, 5x5, pool reduce) of each mixed block.
_MIXED = {
    "mixed3a": (192, 64, 96, 128, 16, 32, 32),
    "mixed3b": (256, 128, 128, 192, 32, 96, 64),
    "mixed4a": (480, 192, 96, 204, 16, 48, 64),
    "mixed4b": (508, 160, 112, 224, 24, 64, 64),
    "mixed4c": (512, 128, 128, 256, 24, 64, 64),
    "mixed4d": (512, 112, 144, 288, 32, 64, 64),
    "mixed4e": (528, 256, 160, 320, 32, 128, 128),
    "mixed5a": (832, 256, 160, 320, 48, 128, 128),
    "mixed5b": (832, 384, 192, 384, 48, 128, 128),
}
_BRANCHES = ("1x1", "3x3_bottleneck", "3x3", "5x5_bottleneck", "5x5", "pool_reduce")


def lucid_input(x: torch.Tensor) -> torch.Tensor:
    """Images in [0, 1] as the graph takes them: [0, 255] minus 117."""
    return x * 255 - 117


class Conv(nn.Module):
    """A convolution after TensorFlow's explicit padding, then ReLU (Lucid's `conv2d0` is the ReLU's output)."""

    def __init__(self, cin: int, cout: int, kernel: int, stride: int = 1, pad: tuple[int, int, int, int] = (0, 0, 0, 0)) -> None:
        super().__init__()
        self.pad = pad
        self.conv = nn.Conv2d(cin, cout, kernel, stride)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.relu(self.conv(F.pad(x, self.pad)))


class MaxPool(nn.Module):
    """3 × 3 max-pool after −inf padding: TensorFlow's "SAME" (right and bottom only when strided)."""

    def __init__(self, stride: int) -> None:
        super().__init__()
        self.stride = stride
        self.pad = (0, 1, 0, 1) if stride == 2 else (1, 1, 1, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.max_pool2d(F.pad(x, self.pad, value=float("-inf")), 3, self.stride)


class LocalResponseNorm(nn.Module):
    """Lucent's constants for the graph's LRN (window 9, alpha 1e-4 divided by it, beta 0.5, k 1)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.local_response_norm(x, size=9, alpha=9.99999974738e-05, beta=0.5, k=1)


class Mixed(nn.Module):
    """An inception block: 1×1, 3×3 and 5×5 branches (each after a 1×1 bottleneck) and a pooled
    branch, all after ReLU, concatenated in that order."""

    def __init__(self, cin: int, c1: int, c3r: int, c3: int, c5r: int, c5: int, cp: int) -> None:
        super().__init__()
        self.conv_1x1 = Conv(cin, c1, 1)
        self.conv_3x3_bottleneck = Conv(cin, c3r, 1)
        self.conv_3x3 = Conv(c3r, c3, 3, pad=(1, 1, 1, 1))
        self.conv_5x5_bottleneck = Conv(cin, c5r, 1)
        self.conv_5x5 = Conv(c5r, c5, 5, pad=(2, 2, 2, 2))
        self.pool = MaxPool(1)
        self.conv_pool_reduce = Conv(cin, cp, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat(
            [self.conv_1x1(x), self.conv_3x3(self.conv_3x3_bottleneck(x)), self.conv_5x5(self.conv_5x5_bottleneck(x)), self.conv_pool_reduce(self.pool(x))], 1
        )


class GlobalMean(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.mean((2, 3))


class InceptionV1(nn.Module):
    """Takes `lucid_input(images)`, (N, 3, 224, 224); returns the 1008 logits (the graph's
    `softmax2_pre_activation`)."""

    def __init__(self) -> None:
        super().__init__()
        self.conv2d0 = Conv(3, 64, 7, 2, (2, 3, 2, 3))
        self.maxpool0 = MaxPool(2)
        self.localresponsenorm0 = LocalResponseNorm()
        self.conv2d1 = Conv(64, 64, 1)
        self.conv2d2 = Conv(64, 192, 3, pad=(1, 1, 1, 1))
        self.localresponsenorm1 = LocalResponseNorm()
        self.maxpool1 = MaxPool(2)
        for name in ("mixed3a", "mixed3b"):
            self.add_module(name, Mixed(*_MIXED[name]))
        self.maxpool4 = MaxPool(2)
        for name in ("mixed4a", "mixed4b", "mixed4c", "mixed4d", "mixed4e"):
            self.add_module(name, Mixed(*_MIXED[name]))
        self.maxpool10 = MaxPool(2)
        for name in ("mixed5a", "mixed5b"):
            self.add_module(name, Mixed(*_MIXED[name]))
        self.avgpool0 = GlobalMean()
        self.softmax2_pre_activation_matmul = nn.Linear(1024, CLASSES)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for module in self.children():
            x = module(x)
        return x


def from_lucent(state: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """A state dict in Lucent's layout (`inception5h.pth`) in this module's."""
    renamed = {}
    for key, value in state.items():
        stem, _, kind = key.rpartition(".")
        if stem == "softmax2_pre_activation_matmul":
            renamed[key] = value
            continue
        if not stem.endswith("_pre_relu_conv"):
            raise ValueError(f"{key!r} is not a key of Lucid's InceptionV1 (inception5h.pth)")
        layer = stem[: -len("_pre_relu_conv")]
        block, _, branch = layer.partition("_")
        renamed[f"{block}.conv_{branch}.conv.{kind}" if branch else f"{layer}.conv.{kind}"] = value
    return renamed


def labels_beside(weights: Path | None) -> list[str] | None:
    """The graph's own 1008 labels, from `LABELS_FILE` next to the weights, when it is there."""
    if weights is None or not (weights.parent / LABELS_FILE).is_file():
        return None
    names = (weights.parent / LABELS_FILE).read_text().splitlines()
    if len(names) != CLASSES:
        raise ValueError(f"{weights.parent / LABELS_FILE} has {len(names)} lines, not the graph's {CLASSES} labels")
    return names
