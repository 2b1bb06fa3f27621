"""A planted shortcut, as in Waterbirds (Sagawa et al. 2020): scenes of one object whose class is
its texture (striped or dotted, faint), on a background whose tint (warm or cool) agrees with the
class most of the time. Groups are class × background; a model's worst group is where the tint
misleads it (docs/guides/shortcut.md).

As Waterbirds' models start from ImageNet features, these start from the shapes model, which
knows textures: its conv1–conv3 kept, conv4 and a two-class head fine-tuned. Fine-tuned where
tint and class agree 95% of the time, a model leans on the tint; fine-tuned where they are
independent (the oracle), it cannot. `python -m neuroblocks.shapes.shortcut` fine-tunes both and
writes the bundled weights. The baselines an edit is measured against are here too: a threshold
refitted on a few labelled scenes, and DFR, last-layer retraining on a small balanced set
(Kirichenko et al. 2022).
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from sklearn.linear_model import LogisticRegression

from .model import ShapesNet, pretrained as shapes_pretrained
from .world import SHAPES, SIZE, scene

__all__ = ["AGREEMENT", "BACKGROUNDS", "CLASSES", "SIZE", "Accuracy", "Scenes", "accuracy", "balanced", "dfr", "fine_tune", "pretrained", "recalibrated", "scenes"]

#: The classes, by texture: class k's usual background is BACKGROUNDS[k].
CLASSES = ("striped", "dotted")
BACKGROUNDS = ("warm", "cool")
#: How much lighter a texture's light tone is than its dark one, against the world's 1: faint, so
#: that the tint is the easier cue, as water is easier to see than a bird.
CONTRAST = 0.3
#: How often class and background agree in the shortcut's training scenes.
AGREEMENT = 0.95
WEIGHTS = Path(__file__).with_name("shortcut.pt")
WEIGHTS_ORACLE = Path(__file__).with_name("shortcut_oracle.pt")
#: Seeds of training scenes start here, of scenes for edits and baselines at EDIT_SEED, of test scenes at TEST_SEED.
TRAIN_SEED, EDIT_SEED, TEST_SEED = 20_000_000, 21_000_000, 22_000_000
#: The layers fine-tuned; the ones below stay the shapes model's.
TUNED = ("conv4", "classmap", "fc")

Classify = Callable[[torch.Tensor], torch.Tensor]  # inputs in [0, 1] (N, 3, H, W) → logits (N, 2)


@dataclass(frozen=True)
class Scenes:
    """uint8 images (N, 3, H, W), classes (N,) and backgrounds (N,), both indices."""

    images: torch.Tensor
    classes: torch.Tensor
    backgrounds: torch.Tensor

    @property
    def groups(self) -> torch.Tensor:
        """(N,): group index class × 2 + background."""
        return self.classes * len(BACKGROUNDS) + self.backgrounds

    def __len__(self) -> int:
        return len(self.classes)

    def __getitem__(self, picks) -> Scenes:
        return Scenes(self.images[picks], self.classes[picks], self.backgrounds[picks])

    def inputs(self) -> torch.Tensor:
        return self.images.float() / 255

    def image(self, i: int) -> np.ndarray:
        """Scene i as an H×W×3 uint8 array, as views and graphs take images."""
        return self.images[i].permute(1, 2, 0).numpy()


def _one(seed: int, agreement: float) -> tuple[np.ndarray, int, int]:
    rng = np.random.default_rng(seed)
    k = int(rng.integers(len(CLASSES)))
    background = k if rng.random() < agreement else 1 - k
    name = f"{CLASSES[k]} {SHAPES[int(rng.integers(len(SHAPES)))]}"  # a class of the world: "striped circle"
    return scene(seed, classes=(name,), background=BACKGROUNDS[background], contrast=CONTRAST).image, k, background


def scenes(n: int, agreement: float = AGREEMENT, start: int = TRAIN_SEED) -> Scenes:
    """`n` scenes from seeds start, start + 1, …: each scene's class is drawn fairly, its
    background agrees with it with probability `agreement` (0.5: independent)."""
    if not 0 <= agreement <= 1:
        raise ValueError(f"agreement is a probability in [0, 1]; got {agreement}")
    made = [_one(seed, agreement) for seed in range(start, start + n)]
    images = torch.from_numpy(np.stack([m[0] for m in made])).permute(0, 3, 1, 2).contiguous()
    return Scenes(images, torch.tensor([m[1] for m in made]), torch.tensor([m[2] for m in made]))


def balanced(per_group: int, start: int = EDIT_SEED) -> Scenes:
    """`per_group` scenes of each class × background group, from independent scenes at `start`:
    the labelled scenes an edit or a baseline may use."""
    pool = scenes(per_group * 16, agreement=0.5, start=start)
    picks = [torch.nonzero(pool.groups == g).flatten()[:per_group] for g in range(len(CLASSES) * len(BACKGROUNDS))]
    if min(len(p) for p in picks) < per_group:
        raise ValueError(f"too few scenes of some group among {len(pool)}: ask for fewer per group")
    return pool[torch.cat(picks)]


@dataclass(frozen=True)
class Accuracy:
    """Accuracy per group (class × background), their worst, and the mean over scenes."""

    groups: list[float]
    worst: float
    mean: float

    def __str__(self) -> str:
        return f"worst group {self.worst:.1%}, mean {self.mean:.1%}"


def accuracy(classify: Classify, test: Scenes, batch: int = 250) -> Accuracy:
    """Group accuracies of `classify` on `test`."""
    with torch.no_grad():
        predicted = torch.cat([classify(test.inputs()[i : i + batch]).argmax(1) for i in range(0, len(test), batch)])
    return _scored(predicted, test)


def _scored(predicted: torch.Tensor, test: Scenes) -> Accuracy:
    right = (predicted == test.classes).float()
    groups = [float(right[test.groups == g].mean()) for g in range(len(CLASSES) * len(BACKGROUNDS))]
    return Accuracy(groups, min(groups), float(right.mean()))


def recalibrated(classify: Classify, labelled: Scenes) -> Classify:
    """`classify` with its decision threshold on logit 1 − logit 0 refitted on `labelled`: the one
    the labelled scenes' worst group likes best (ties: the better mean, then the middle of the gap).
    An edit that removes a cue shifts where the classes part; this moves the line back."""
    with torch.no_grad():
        logits = classify(labelled.inputs())
    margin = logits[:, 1] - logits[:, 0]
    ordered = margin.sort().values
    candidates = torch.cat([ordered[:1] - 1, (ordered[1:] + ordered[:-1]) / 2, ordered[-1:] + 1]).tolist()
    best = max(candidates, key=lambda t: (lambda a: (a.worst, a.mean))(_scored((margin > t).long(), labelled)))
    return lambda x: classify(x) - torch.tensor([0.0, best])


def dfr(features: Callable[[torch.Tensor], torch.Tensor], labelled: Scenes) -> Classify:
    """Deep feature reweighting: a logistic regression on `features` (inputs → (N, D)) fitted to
    the labelled scenes, balanced across groups (Kirichenko et al. 2022), replacing the head."""
    with torch.no_grad():
        x = features(labelled.inputs()).numpy()
    fit = LogisticRegression(C=1.0, max_iter=5000).fit(x, labelled.classes.numpy())
    w, b = torch.from_numpy(fit.coef_[0]).float(), float(fit.intercept_[0])
    return lambda inputs: torch.stack([torch.zeros(len(inputs)), features(inputs) @ w + b], 1)


def fine_tune(agreement: float, n: int = 3000, epochs: int = 2, seed: int = 0, log=print) -> ShapesNet:
    """The shapes model's conv1–conv3 with conv4 and a two-class head fine-tuned by cross-entropy
    on `n` scenes of that `agreement`."""
    torch.manual_seed(seed)
    model = ShapesNet(n_classes=len(CLASSES))
    model.load_state_dict({k: v for k, v in shapes_pretrained().state_dict().items() if not k.startswith(("classmap", "fc"))}, strict=False)
    data = scenes(n, agreement)
    tuned = [p for name, p in model.named_parameters() if name.startswith(TUNED)]
    for name, p in model.named_parameters():
        p.requires_grad_(name.startswith(TUNED))
    optimizer = torch.optim.AdamW(tuned, lr=1e-3, weight_decay=1e-4)
    generator = torch.Generator().manual_seed(seed)
    for epoch in range(epochs):
        model.train()
        for frozen in (model.conv1, model.conv2, model.conv3):
            frozen.eval()  # their batch statistics stay the shapes model's
        order, total = torch.randperm(n, generator=generator), 0.0
        for i in range(n // 64):
            idx = order[i * 64 : (i + 1) * 64]
            loss = F.cross_entropy(model(data.inputs()[idx]), data.classes[idx])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            total += loss.item()
        log(f"epoch {epoch + 1}/{epochs}: loss {total / (n // 64):.4f}")
    for p in model.parameters():
        p.requires_grad_(True)
    return model.eval()


def pretrained(oracle: bool = False) -> ShapesNet:
    """The bundled shortcut model (fine-tuned at 95% agreement), or the oracle (independent scenes)."""
    model = ShapesNet(n_classes=len(CLASSES))
    model.load_state_dict(torch.load(WEIGHTS_ORACLE if oracle else WEIGHTS, map_location="cpu", weights_only=True))
    return model.eval()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scenes", type=int, default=3000)
    parser.add_argument("--epochs", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(2)
    test = scenes(2000, agreement=0.5, start=TEST_SEED)
    for agreement, out in ((AGREEMENT, WEIGHTS), (0.5, WEIGHTS_ORACLE)):
        model = fine_tune(agreement, args.scenes, args.epochs)
        torch.save(model.state_dict(), out)
        print(f"agreement {agreement}: {accuracy(model, test)} on independent scenes; weights at {out}")


if __name__ == "__main__":
    main()
