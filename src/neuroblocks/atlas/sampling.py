"""Atlas sampling (docs/guides/dataset-scale.md): activation vectors of one layer across a dataset, where each
came from, a patch of its image around it, the concepts under it when the dataset has masks, and
its attribution to every class in its own image (activation × gradient of each logit at that
position: `attribution.to_classes` of the picked positions, the network below the layer replayed).

A plain atlas takes `per_image` random positions of every image (seeded by the seed and the
image's index, so any shard of the dataset picks the same ones). A class atlas keeps, in every
image, the positions with the highest positive attribution to the chosen classes, so its
vectors are those that speak for them. Samples of shards concatenate (`Samples.merge`), so the
sampling runs in this process or on Ray workers (`engine=`) alike.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, fields

import torch

from .. import attribution_rules as rules
from .. import precision
from ..attribution import to_classes
from ..attribution.settings import settings as attribution_settings
from ..datasets import numbered
from ..dissection.dataset_examples import as_uint8, crop_around
from ..errors import NeuroblocksError
from ..items import in_lists
from ..keywords import checked
from ..scale import runner
from ..scale.options import RunOptions, dataset_job
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

    def merge(self, other: Samples) -> Samples:
        """Both shards' samples, in dataset order; concept columns aligned by name."""
        first, second = (self, other) if self.images[:1].tolist() <= other.images[:1].tolist() else (other, self)
        concepts = tuple(sorted({*first.concepts, *second.concepts}))
        present = [torch.zeros(len(part), len(concepts), dtype=torch.bool) for part in (first, second)]
        for out, part in zip(present, (first, second)):
            for k, name in enumerate(part.concepts):
                out[:, concepts.index(name)] = part.present[:, k]
        joined = {f.name: torch.cat([getattr(first, f.name), getattr(second, f.name)]) for f in fields(self) if f.name not in ("layer", "concepts", "present")}
        return Samples(self.layer, concepts=concepts, present=torch.cat(present), **joined)

    def head(self, count: int) -> Samples:
        """The first `count` samples."""
        return Samples(self.layer, concepts=self.concepts, **{f.name: getattr(self, f.name)[:count] for f in fields(self) if f.name not in ("layer", "concepts")})


def _class_scores(session: Session, images: torch.Tensor, layer: str, a: torch.Tensor, prefix: torch.Tensor | None, classes: Sequence[int]) -> torch.Tensor:
    """(N, H, W): each position's attribution (activation × gradient) to the classes' summed
    logits; a token layer's prefix tokens (N, P, C) are kept as they were. Derivatives follow
    the session's attribution rule, as `to_classes` does."""
    leaf = a.clone().requires_grad_()
    with torch.enable_grad(), rules.applied(attribution_settings(session).rule), precision.applied(attribution_settings(session).precision):
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


def _pick(scores: torch.Tensor, per_image: int, seed: int, indices: Sequence[int], by_score: bool) -> list[torch.Tensor]:
    """Flat position indices per image: random ones (seeded by `seed` and the image's dataset
    index), or the best-scoring positive ones."""
    n, h, w = scores.shape
    k = min(per_image, h * w)
    if not by_score:
        return [torch.randperm(h * w, generator=torch.Generator().manual_seed(seed * 2**32 + i))[:k] for i in indices]
    top, where = scores.flatten(1).topk(k, dim=1)
    return [idx[value > 0] for value, idx in zip(top, where)]


@checked
@dataset_job
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
    run: RunOptions,
) -> Samples:
    """Read `data` (up to `samples` vectors) at `layer`; see the module docstring. A patch spans
    `patch_cells` cells of the layer's grid around its position. engine, progress and cancel as
    for `dissection.dissect`."""
    layer = session.check_layer(layer)
    if len(session.layer_shape(layer)) != 3:
        raise AtlasError(f"layer {layer!r} has no positions (shape {session.layer_shape(layer)}); an atlas samples a layer with a spatial grid")
    if per_image < 1:
        raise AtlasError(f"per_image is the number of vectors taken from each image (≥ 1), not {per_image}")
    job = _Sample(layer, per_image, None if classes is None else tuple(classes), seed, batch, patch_cells, samples)
    with runner(session, run) as runs:
        found = runs(job, data, "atlas sampling")
    if found is None or not len(found):
        raise AtlasError("no vectors were sampled: the dataset is empty" + (", or no position has a positive attribution to the classes" if classes else ""))
    return found if samples is None else found.head(samples)


@dataclass(frozen=True)
class _Sample:
    layer: str
    per_image: int
    classes: tuple[int, ...] | None
    seed: int
    batch: int
    patch_cells: float
    samples: int | None

    def enough(self, partial: Samples) -> bool:
        return self.samples is not None and len(partial) >= self.samples

    def map(self, session: Session, items: Iterable, start: int, tick: Callable[[int], None]) -> Samples:
        layer, classes = self.layer, self.classes
        parts: dict[str, list] = {name: [] for name in ("vectors", "images", "positions", "grids", "patches", "scores", "classes", "present")}
        concepts: tuple[str, ...] | None = None
        taken = 0
        for chunk in in_lists(numbered(items, start), self.batch):
            pictures = [session.image(image) for _, image, _ in chunk]
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
                concepts = tuple(sorted(chunk[0][2]))
                empty = (a.new_zeros(0, a.shape[1]).cpu(), torch.zeros(0, dtype=torch.long), torch.zeros(0, 2, dtype=torch.long), torch.zeros(0, 2, dtype=torch.long),
                         torch.zeros(0, PATCH, PATCH, 3, dtype=torch.uint8), torch.zeros(0), torch.zeros(0, len(session.labels)), torch.zeros(0, len(concepts), dtype=torch.bool))
                for values, none in zip(parts.values(), empty):  # so that a shard with no vector still has its shapes
                    values.append(none)
            picks = _pick(scores.cpu(), self.per_image, self.seed, [index for index, _, _ in chunk], bool(classes))
            parts["classes"].append(_to_classes(session, images, layer, picks))
            for i, flat in enumerate(picks):
                if not len(flat):
                    continue
                ys, xs = flat // w, flat % w
                centres = torch.stack([((ys + 0.5) * images.shape[2] / h).long(), ((xs + 0.5) * images.shape[3] / w).long()], 1)
                parts["vectors"].append(a[i, :, ys, xs].T.cpu())
                parts["images"].append(torch.full((len(flat),), chunk[i][0]))
                parts["positions"].append(torch.stack([ys, xs], 1))
                parts["grids"].append(torch.tensor([[h, w]]).expand(len(flat), 2))
                side = min(1.0, self.patch_cells / min(h, w))
                parts["patches"].append(as_uint8(crop_around(display[i].expand(len(flat), -1, -1, -1), centres, side, PATCH)))
                parts["scores"].append(scores[i].cpu().flatten()[flat])
                parts["present"].append(_under(chunk[i][2], concepts, ys, xs, (h, w)))
                taken += len(flat)
            tick(len(chunk))
            if self.samples is not None and taken >= self.samples:
                break
        if concepts is None:
            return None  # an empty shard (only the local engine sees one)
        return Samples(layer, concepts=concepts, **{name: torch.cat(values) for name, values in parts.items()})
