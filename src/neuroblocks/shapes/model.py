"""ShapesNet: the small CNN of the shapes world, and loading its bundled weights.

Its head is a map of class evidence (a 1×1 convolution to one channel per class, then ReLU),
averaged over positions and scaled per class. Evidence can only be added where it is positive,
and training penalises evidence off the class's own object (the world's masks are known), so the
model provably decides from the right pixels: the ground truth that faithfulness tests check
attribution against.
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from ..keywords import checked
from .world import CLASSES

#: The trained weights shipped inside the package (written by `python -m neuroblocks.shapes.train`).
WEIGHTS = Path(__file__).with_name("shapesnet.pt")
#: The grayscale model's weights (`python -m neuroblocks.shapes.train --channels 1 --out …`).
WEIGHTS_GRAY = Path(__file__).with_name("shapesnet_gray.pt")
#: The same recipe from another seed (`--seed 1`), for comparing models offline.
WEIGHTS_SEED1 = Path(__file__).with_name("shapesnet_seed1.pt")
#: The narrow model (`--arch cnn-narrow`): conv4 has fewer channels than there are classes, so
#: its concepts must share channels (superposition), the case learned dictionaries are for.
WEIGHTS_NARROW = Path(__file__).with_name("shapesnet_narrow.pt")

#: conv4's width in the narrow model: fewer channels than its 12 classes, so they share them.
NARROW = 8


def _block(c_in: int, c_out: int) -> nn.Sequential:
    # In-place ReLU on purpose: torchvision models do the same, and the Session must cope.
    return nn.Sequential(nn.Conv2d(c_in, c_out, 3, padding=1, bias=False), nn.BatchNorm2d(c_out), nn.ReLU(inplace=True))


class EvidenceHead(nn.Module):
    """What the shapes models share: logits are class evidence maps averaged over positions,
    then scaled and shifted per class (`fc`); `evidence(x)` (N, classes, 8, 8) is the model's."""

    def __init__(self, n_classes: int, channels: int) -> None:
        super().__init__()
        self.channels = channels
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Conv2d(n_classes, n_classes, 1, groups=n_classes)  # per class: scale, bias
        # Start with every class counting for its logit: a scale that starts negative never learns.
        nn.init.constant_(self.fc.weight, 4.0)
        nn.init.constant_(self.fc.bias, -2.0)

    def logits(self, evidence: torch.Tensor) -> torch.Tensor:
        return torch.flatten(self.fc(self.pool(evidence)), 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.logits(self.evidence(x))


class ShapesNet(EvidenceHead):
    """conv1 (16×64×64) → conv2 (32×32×32) → conv3 (64×16×16) → conv4 (128×8×8) →
    classmap (one evidence map per class, 8×8) → mean over positions → fc (scale and bias per class).

    Each named layer outputs post-ReLU activations; it takes RGB in [0, 1], or with `channels=1`
    the scenes' luminance.
    """

    def __init__(self, n_classes: int = len(CLASSES), channels: int = 3, width: int = 128) -> None:
        super().__init__(n_classes, channels)
        self.conv1 = _block(channels, 16)
        self.pool1 = nn.MaxPool2d(2)
        self.conv2 = _block(16, 32)
        self.pool2 = nn.MaxPool2d(2)
        self.conv3 = _block(32, 64)
        self.pool3 = nn.MaxPool2d(2)
        self.conv4 = _block(64, width)
        self.classmap = nn.Sequential(nn.Conv2d(width, n_classes, 1), nn.ReLU(inplace=True))
        nn.init.constant_(self.classmap[0].bias, 0.5)  # every evidence map starts alive

    def evidence(self, x: torch.Tensor) -> torch.Tensor:
        """The class evidence maps (N, classes, 8, 8) that the logits average."""
        x = self.pool1(self.conv1(x))
        x = self.pool2(self.conv2(x))
        x = self.pool3(self.conv3(x))
        return self.classmap(self.conv4(x))


@checked
def pretrained(weights: str | Path = WEIGHTS) -> ShapesNet:
    """ShapesNet with trained weights (RGB or grayscale, as the file holds), in eval mode."""
    state = torch.load(weights, map_location="cpu", weights_only=True)
    model = ShapesNet(channels=state["conv1.0.weight"].shape[1], width=state["conv4.0.weight"].shape[0])
    model.load_state_dict(state)
    return model.eval()
