"""Train a shapes model from scratch, deterministically: `python -m neuroblocks.shapes.train`
(`--channels 1` trains the grayscale model on the scenes' luminance, `--arch vit` the ViT).

The loss is multi-label (one sigmoid per class) on scenes of which 45% hold one object, 45% two
and 10% none, plus a penalty on the size of class evidence outside the class's own object. So a class's
evidence sits on its object and nowhere else: the ground truth the faithfulness tests rely on.
Both objects of a two-object scene rank on top, like the article's dog and cat. Prints held-out
accuracy and writes the bundled weights.
"""

from __future__ import annotations

import argparse
import time
from functools import partial
from multiprocessing import Pool
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from ..images import luminance
from .model import NARROW, WEIGHTS, EvidenceHead, ShapesNet
from .vit import ShapesViT
from .world import CLASSES, SIZE, scene

#: Scene seeds at and above this are never trained on; evaluation draws from them.
HELD_OUT_SEED = 10_000_000
#: The architectures and their peak learning rates (a transformer wants a gentler one).
ARCHS = {"cnn": (ShapesNet, 3e-3), "cnn-narrow": (partial(ShapesNet, width=NARROW), 3e-3), "vit": (ShapesViT, 1e-3), "vit-ln": (partial(ShapesViT, final_norm=True), 1e-3)}
#: Side of the shapes models' evidence maps at the training size.
EVIDENCE_GRID = SIZE // 8
#: Final weight of the penalty on mean class evidence outside the class's object.
OFF_OBJECT_WEIGHT = 1.0


def _render(args: tuple[int, int]) -> tuple[np.ndarray, list[int], np.ndarray]:
    seed, n_objects = args
    s = scene(seed, classes=n_objects)
    cells = SIZE // EVIDENCE_GRID
    where = np.zeros((len(CLASSES), EVIDENCE_GRID, EVIDENCE_GRID), dtype=bool)
    for name in s.labels:  # a cell belongs to an object if any of its pixels does
        where[CLASSES.index(name)] = s.masks[name].reshape(EVIDENCE_GRID, cells, EVIDENCE_GRID, cells).any(axis=(1, 3))
    return s.image, [CLASSES.index(name) for name in s.labels], where


def scenes(seeds: range, n_objects: int, workers: int = 2) -> tuple[torch.Tensor, list[list[int]], torch.Tensor]:
    """Render scenes: uint8 images (N, 3, H, W), class indices, and where each class's object is
    on the evidence grid (N, classes, 8, 8)."""
    with Pool(workers) as pool:
        rendered = pool.map(_render, [(seed, n_objects) for seed in seeds], chunksize=256)
    images = torch.from_numpy(np.stack([r[0] for r in rendered])).permute(0, 3, 1, 2).contiguous()
    return images, [r[1] for r in rendered], torch.from_numpy(np.stack([r[2] for r in rendered]))


def _multi_hot(labels: list[list[int]]) -> torch.Tensor:
    targets = torch.zeros(len(labels), len(CLASSES))
    for row, classes in enumerate(labels):
        targets[row, classes] = 1.0
    return targets


def as_input(images: torch.Tensor, channels: int) -> torch.Tensor:
    """uint8 RGB scenes → the model's input in [0, 1]: RGB, or luminance as `load_image` makes it."""
    x = images.float() / 255
    return luminance(x) if channels == 1 else x


@torch.no_grad()
def logits_of(model: EvidenceHead, images: torch.Tensor, batch: int = 256) -> torch.Tensor:
    model.eval()
    return torch.cat([model(as_input(images[i : i + batch], model.channels)) for i in range(0, len(images), batch)])


def evaluate(model: EvidenceHead, n_single: int = 2000, n_pairs: int = 1000) -> dict[str, float]:
    """Held-out top-1 accuracy on one-object scenes; share of two-object scenes with both in the top 3."""
    images, labels, _ = scenes(range(HELD_OUT_SEED, HELD_OUT_SEED + n_single), 1)
    top1 = logits_of(model, images).argmax(1)
    single = (top1 == torch.tensor([c[0] for c in labels])).float().mean().item()
    images, labels, _ = scenes(range(HELD_OUT_SEED + n_single, HELD_OUT_SEED + n_single + n_pairs), 2)
    top3 = logits_of(model, images).topk(3, dim=1).indices.tolist()
    pairs = float(np.mean([set(c) <= set(t) for c, t in zip(labels, top3)]))
    return {"single_top1": single, "pairs_both_in_top3": pairs}


def train(n_scenes: int = 24_000, epochs: int = 8, batch: int = 64, seed: int = 0, channels: int = 3, arch: str = "cnn", log=print) -> EvidenceHead:
    """Train on `n_scenes` scenes (see the module's docstring); same arguments, same weights."""
    torch.manual_seed(seed)
    torch.use_deterministic_algorithms(True)
    n_one = n_scenes * 9 // 20
    n_two = n_one
    parts = [scenes(range(0, n_one), 1), scenes(range(n_one, n_one + n_two), 2), scenes(range(n_one + n_two, n_scenes), 0)]
    images = torch.cat([part[0] for part in parts]).contiguous(memory_format=torch.channels_last)
    targets = _multi_hot([labels for part in parts for labels in part[1]])
    off_object = ~torch.cat([part[2] for part in parts])
    build, lr = ARCHS[arch]
    model = build(channels=channels).to(memory_format=torch.channels_last)
    steps = epochs * (len(images) // batch)
    optimizer = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=1e-4)
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=lr, total_steps=max(steps, 1))
    generator = torch.Generator().manual_seed(seed)
    for epoch in range(epochs):
        # No penalty while classes are being learned (it would close every evidence map), then
        # ramped in so the evidence retreats onto the objects.
        penalty = OFF_OBJECT_WEIGHT * min(1.0, epoch / max(1, epochs // 2))
        model.train()
        order = torch.randperm(len(images), generator=generator)
        total = 0.0
        for i in range(len(images) // batch):
            idx = order[i * batch : (i + 1) * batch]
            evidence = model.evidence(as_input(images[idx], channels))
            stray = (evidence.abs() * off_object[idx]).mean()  # the CNN's evidence is ≥ 0; the ViT's is signed
            loss = F.binary_cross_entropy_with_logits(model.logits(evidence), targets[idx]) + penalty * stray
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            schedule.step()
            total += loss.item()
        log(f"epoch {epoch + 1}/{epochs}: loss {total / max(1, len(images) // batch):.4f}")
    return model.to(memory_format=torch.contiguous_format).eval()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=WEIGHTS, help="where to write the weights")
    parser.add_argument("--scenes", type=int, default=24_000)
    parser.add_argument("--epochs", type=int, default=8)
    parser.add_argument("--channels", type=int, choices=(1, 3), default=3, help="3: RGB scenes; 1: their luminance")
    parser.add_argument("--seed", type=int, default=0, help="initialisation and batch order (the scenes stay the same)")
    parser.add_argument("--arch", choices=sorted(ARCHS), default="cnn", help="cnn: ShapesNet; vit: ShapesViT; vit-ln: ShapesViT with a final LayerNorm")
    args = parser.parse_args()
    torch.set_num_threads(2)
    start = time.perf_counter()
    model = train(args.scenes, args.epochs, seed=args.seed, channels=args.channels, arch=args.arch)
    elapsed = time.perf_counter() - start
    torch.save(model.state_dict(), args.out)
    report = evaluate(model)
    print(f"trained in {elapsed:.0f} s; weights {args.out.stat().st_size / 1e6:.2f} MB at {args.out}")
    print(f"held-out: single-object top-1 {report['single_top1']:.1%}, two-object both in top 3 {report['pairs_both_in_top3']:.1%}")


if __name__ == "__main__":
    main()
