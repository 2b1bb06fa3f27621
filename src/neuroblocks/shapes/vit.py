"""ShapesViT: a small vision transformer of the shapes world, the token-layer ground truth.

A convolutional stem cuts the 64 px scene into an 8×8 grid of patch tokens, a class token is
put in front, and four pre-norm transformer blocks follow. The head is the shapes CNN's (see
`model.EvidenceHead`): each patch token gives class evidence, averaged over patches. A head that
reads only the class token would let attention gather the decision anywhere; pooled patch
evidence, with training's penalty on evidence off the class's object, keeps the decision on the
object's own patches, which is what the faithfulness tests check. The class token still takes
part in attention, so views have a prefix token to show.

The evidence is a plain linear map of each token, signed: behind the CNN's ReLU it died within
a hundred steps (a young transformer's tokens barely differ, so every class's evidence is pushed
down everywhere at once), and training did not recover; the off-object penalty is on its size.
`final_norm=True` puts the LayerNorm before the head that real ViTs have (`shapes-vit-ln`): a
token's plain activation × gradient through it sums to almost nothing over its features
(LayerNorm ignores a token's scale), which is what attribution's conservative rule is for
(`attribution.rules`); the model without it keeps the plain gradient's ground truth.
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from .model import EvidenceHead
from .world import CLASSES, SIZE

#: The trained weights shipped inside the package (`python -m neuroblocks.shapes.train --arch vit`).
WEIGHTS_VIT = Path(__file__).with_name("shapesvit.pt")
#: The same with a final LayerNorm (`--arch vit-ln`).
WEIGHTS_VIT_LN = Path(__file__).with_name("shapesvit_ln.pt")
PATCH = 8


class Attention(nn.Module):
    """Multi-head self-attention written out (qkv, softmax, proj), so every step is a plain op."""

    def __init__(self, dim: int, heads: int) -> None:
        super().__init__()
        self.heads = heads
        self.qkv = nn.Linear(dim, 3 * dim)
        self.proj = nn.Linear(dim, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n, length, dim = x.shape
        q, k, v = self.qkv(x).reshape(n, length, 3, self.heads, dim // self.heads).permute(2, 0, 3, 1, 4)
        weights = torch.softmax(q @ k.transpose(-2, -1) * (dim // self.heads) ** -0.5, dim=-1)
        return self.proj((weights @ v).transpose(1, 2).reshape(n, length, dim))


class Block(nn.Module):
    def __init__(self, dim: int, heads: int, hidden: int) -> None:
        super().__init__()
        self.norm1 = nn.LayerNorm(dim)
        self.attn = Attention(dim, heads)
        self.norm2 = nn.LayerNorm(dim)
        self.mlp = nn.Sequential(nn.Linear(dim, hidden), nn.GELU(), nn.Linear(hidden, dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.attn(self.norm1(x))
        return x + self.mlp(self.norm2(x))


class ShapesViT(EvidenceHead):
    """stem (dim×8×8) → [class token; 64 patch tokens] + positions → blocks.0 … blocks.3
    (each 65 tokens × dim) → [norm, with `final_norm`] → classmap (65 × classes) → patch
    evidence averaged → fc."""

    def __init__(self, n_classes: int = len(CLASSES), channels: int = 3, dim: int = 64, depth: int = 4, heads: int = 4, final_norm: bool = False) -> None:
        super().__init__(n_classes, channels)
        grid = SIZE // PATCH
        self.stem = nn.Sequential(
            nn.Conv2d(channels, 24, 3, stride=2, padding=1), nn.BatchNorm2d(24), nn.ReLU(),
            nn.Conv2d(24, 48, 3, stride=2, padding=1), nn.BatchNorm2d(48), nn.ReLU(),
            nn.Conv2d(48, dim, 3, stride=2, padding=1),
        )
        self.cls_token = nn.Parameter(torch.zeros(1, 1, dim))
        self.pos_embed = nn.Parameter(torch.randn(1, 1 + grid * grid, dim) * 0.02)
        self.blocks = nn.Sequential(*[Block(dim, heads, 2 * dim) for _ in range(depth)])
        self.norm = nn.LayerNorm(dim) if final_norm else nn.Identity()
        self.classmap = nn.Linear(dim, n_classes)

    def evidence(self, x: torch.Tensor) -> torch.Tensor:
        patches = self.stem(x)
        n, dim, h, w = patches.shape
        tokens = torch.cat([self.cls_token.expand(n, -1, -1), patches.flatten(2).transpose(1, 2)], dim=1) + self.pos_embed
        scores = self.classmap(self.norm(self.blocks(tokens)))
        return scores[:, 1:].transpose(1, 2).reshape(n, -1, h, w)


def pretrained_vit(weights: str | Path = WEIGHTS_VIT) -> ShapesViT:
    """ShapesViT with trained weights (with the final LayerNorm if the file has one), in eval mode."""
    state = torch.load(weights, map_location="cpu", weights_only=True)
    model = ShapesViT(channels=state["stem.0.weight"].shape[1], final_norm="norm.weight" in state)
    model.load_state_dict(state)
    return model.eval()
