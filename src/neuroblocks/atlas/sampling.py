"""Atlas sampling (SPEC §9 step 1): activation vectors of one layer across a dataset, where each
came from, a patch of its image around it, the concepts under it when the dataset has masks, and
its attribution to every class in its own image (activation × gradient of each logit at that
position: `attribution.to_classes` of the picked positions, the network below the layer replayed).

A plain atlas takes `per_image` random positions of every image (seeded). A class atlas keeps,
in every image, the positions with the highest positive attribution to the chosen classes, so
its vectors are those that speak for them.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass

import torch

from ..attribution import to_classes
from ..dissection.data import _items, _with_masks, in_lists
from ..dissection.dataset_examples import as_uint8, crop_around
from ..errors import NeuroblocksError
from ..session import Session

PATCH = 48  # side of the stored patches, px


class AtlasError(NeuroblocksError, ValueError):
    """An atlas that cannot be made as asked."""


@dataclass(frozen=True)
class Samples:
    """vectors (N, C); images (N,) dataset index; positions (N, 2) (y, x) in the layer's grid;
    grids (N, 2) that grid's (H, W); patches (N, PATCH, PATCH, 3) uint8; scores (N,) the
    attribution to the atlas's classes (zeros for a plain atlas); classes (N, classes) each
    vector's attribution to every class; present (N, K) bool: which of `concepts` lie under the
    position's centre (K = 0 without masks)."""

    layer: str
    vectors: torch.Tensor
    images: torch.Tensor
    positions: torch.Tensor
    grids: torch.Tensor
    patches: torch.Tensor
    scores: torch.Tensor
    classes: torch.Tensor
    concepts: tuple[str, ...]
    present: torch.Tensor

    def __len__(self) -> int:
        return len(self.vectors)


def _items_with_masks(data: Iterable) -> Iterator[tuple[object, dict]]:
    """(image, masks) for every image of `data`: items are images, (image, masks) as dissection
    takes them, (image, label) as ImageFolder gives, or DataLoader batches of those. The data
    is read once, so a generator will do."""
    for item in _items(data):
        image, masks = _with_masks(item)
        if isinstance(image, torch.Tensor) and image.dim() == 4:
            for i, one in enumerate(image):
                yield one, {k: torch.as_tensor(v)[i] for k, v in masks.items()}
        else:
            yield image, masks


def _class_scores(session: Session, images: torch.Tensor, layer: str, a: torch.Tensor, prefix: torch.Tensor | None, classes: Sequence[int]) -> torch.Tensor:
    """(N, H, W): each position's attribution (activation × gradient) to the classes' summed
    logits; a token layer's prefix tokens (N, P, C) are kept as they were."""
    leaf = a.clone().requires_grad_()
    with torch.enable_grad():
        logits = session.forward(images, replace={layer: leaf}, replace_prefixes=None if prefix is None else {layer: prefix}).logits
        (grad,) = torch.autograd.grad(logits[:, list(classes)].sum(), leaf)
    return (leaf.detach() * grad).sum(1)


def _to_classes(session: Session, images: torch.Tensor, layer: str, picks: list[torch.Tensor]) -> torch.Tensor:
    """(vectors, classes): each picked position's attribution to every logit, in its own image
    (`attribution.to_classes` of those positions: only the network above the layer runs)."""
    found = [to_classes(session, image, layer, only=flat.tolist()).float().cpu() for image, flat in zip(images, picks) if len(flat)]
    return torch.cat([torch.zeros(0, len(session.labels)), *found])


def _under(masks: dict, concepts: Sequence[str], ys: torch.Tensor, xs: torch.Tensor, grid: tuple[int, int]) -> torch.Tensor:
    """(n, K) bool: which concepts' masks cover the centre of each grid position."""
    found = torch.zeros(len(ys), len(concepts), dtype=torch.bool)
    for k, concept in enumerate(concepts):
        if concept in masks:
            m = torch.as_tensor(masks[concept]).bool()
            found[:, k] = m[((ys + 0.5) * m.shape[0] / grid[0]).long(), ((xs + 0.5) * m.shape[1] / grid[1]).long()]
    return found


def _pick(scores: torch.Tensor, per_image: int, generator: torch.Generator, by_score: bool) -> list[torch.Tensor]:
    """Flat position indices per image: random ones, or the best-scoring positive ones."""
    n, h, w = scores.shape
    k = min(per_image, h * w)
    if not by_score:
        return [torch.randperm(h * w, generator=generator)[:k] for _ in range(n)]
    top, where = scores.flatten(1).topk(k, dim=1)
    return [idx[value > 0] for value, idx in zip(top, where)]


def sample(
    session: Session,
    layer: str,
    data: Iterable,
    *,
    samples: int | None = None,
    per_image: int = 1,
    classes: Sequence[int] | None = None,
    seed: int = 0,
    batch: int = 32,
    patch_cells: float = 3.0,
) -> Samples:
    """Read `data` (up to `samples` vectors) at `layer`; see the module docstring. A patch spans
    `patch_cells` cells of the layer's grid around its position."""
    layer = session.check_layer(layer)
    if len(session.layer_shape(layer)) != 3:
        raise AtlasError(f"layer {layer!r} has no positions (shape {session.layer_shape(layer)}); an atlas samples a layer with a spatial grid")
    if per_image < 1:
        raise AtlasError(f"per_image is the number of vectors taken from each image (≥ 1), not {per_image}")
    generator = torch.Generator().manual_seed(seed)
    parts: dict[str, list] = {name: [] for name in ("vectors", "images", "positions", "grids", "patches", "scores", "classes", "present")}
    concepts: tuple[str, ...] | None = None
    seen = taken = 0
    for chunk in in_lists(_items_with_masks(data), batch):
        pictures = [session.image(image) for image, _ in chunk]
        if len({tuple(p.shape) for p in pictures}) > 1:
            raise AtlasError("the dataset's images have different sizes; give the Session an input_size so that they are read at one size")
        images = torch.stack(pictures).to(session.device)
        with torch.no_grad():
            read = session.forward(images, capture=[layer], stop=True)
        a = read.activations[layer].float()
        scores = _class_scores(session, images, layer, a, read.prefixes.get(layer), classes) if classes else torch.zeros(a.shape[0], *a.shape[2:])
        h, w = a.shape[2:]
        display = session.display(images).cpu()
        if concepts is None:
            concepts = tuple(sorted(chunk[0][1]))
        picks = _pick(scores.cpu(), per_image, generator, bool(classes))
        parts["classes"].append(_to_classes(session, images, layer, picks))
        for i, flat in enumerate(picks):
            if not len(flat):
                continue
            ys, xs = flat // w, flat % w
            centres = torch.stack([((ys + 0.5) * images.shape[2] / h).long(), ((xs + 0.5) * images.shape[3] / w).long()], 1)
            parts["vectors"].append(a[i, :, ys, xs].T.cpu())
            parts["images"].append(torch.full((len(flat),), seen + i))
            parts["positions"].append(torch.stack([ys, xs], 1))
            parts["grids"].append(torch.tensor([[h, w]]).expand(len(flat), 2))
            side = min(1.0, patch_cells / min(h, w))
            parts["patches"].append(as_uint8(crop_around(display[i].expand(len(flat), -1, -1, -1), centres, side, PATCH)))
            parts["scores"].append(scores[i].cpu().flatten()[flat])
            parts["present"].append(_under(chunk[i][1], concepts, ys, xs, (h, w)))
            taken += len(flat)
        seen += len(chunk)
        if samples is not None and taken >= samples:
            break
    if not taken:
        raise AtlasError("no vectors were sampled: the dataset is empty" + (", or no position has a positive attribution to the classes" if classes else ""))
    joined = {name: torch.cat(values)[:samples] for name, values in parts.items()}
    return Samples(layer, concepts=concepts or (), **joined)
