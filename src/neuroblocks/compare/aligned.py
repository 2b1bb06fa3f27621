"""The aligned activation atlas (docs/guides/comparing-models.md, after Lucid's `aligned_activation_atlas`): two models'
atlases on one layout, so that the same place means the same thing in both.

Both models read the same images, each its own way; their layers are averaged to the coarser grid
(as unit matching does), so a position is the same image region in both, and `per_image` random
positions are taken from each image. A least-squares linear map is fitted each way on these shared
vectors (A → B and B → A). Each model's vector is then lifted to [its own, mapped into the other's
space], each half divided by its model's mean vector norm so neither model's scale dominates the
cosine metric, and one UMAP lays out both models' lifted vectors. Each model's atlas averages
its own vectors in the cells (threshold 10, docs/guides/dataset-scale.md), so its icons are of its own layer.

Aligned atlases carry no class attribution per cell: a vector here is an average over the finer
grid's cells, not one position the network reads; each model's own `atlas` has them.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np
import torch

from ..atlas import Atlas, Layout, Samples, Side
from ..atlas.cells import grid as cut
from ..atlas.sampling import PATCH
from ..items import in_lists
from ..dissection.dataset_examples import as_uint8, crop_around
from ..keywords import checked
from ..session import Session
from .correlation import common_grid
from .reading import _activations, images, pictures
from .survey import CompareError


@dataclass
class AlignedAtlas:
    """`a`, `b`: each model's atlas on the shared layout; `maps`: the least-squares maps
    (A → B as (C_a, C_b), B → A as (C_b, C_a)); `explained`: the share of the other model's
    variance each map explains (R², A → B then B → A): how linearly alike the two layers are."""

    a: Atlas
    b: Atlas
    maps: tuple[torch.Tensor, torch.Tensor]
    explained: tuple[float, float]


def _shared(session_a: Session, layer_a: str, session_b: Session, layer_b: str, data: Iterable, per_image: int, samples: int | None, seed: int, batch: int):
    """Vectors of both layers at the same random positions of their common grid, with where each
    came from and a patch of each model's own picture of the image around it."""
    generator = torch.Generator().manual_seed(seed)
    parts: dict[str, list] = {name: [] for name in ("a", "b", "images", "positions", "patches_a", "patches_b")}
    seen = taken = 0
    grid_hw = (0, 0)
    for chunk in in_lists(images(data), batch):
        pictures_a, pictures_b = pictures(session_a, chunk), pictures(session_b, chunk)
        acts_a, acts_b = _activations(session_a, pictures_a, [layer_a])[layer_a], _activations(session_b, pictures_b, [layer_b])[layer_b]
        h, w = grid_hw = min(acts_a.shape[2], acts_b.shape[2]), min(acts_a.shape[3], acts_b.shape[3])
        rows_a, rows_b = common_grid(acts_a, acts_b)
        flats = [torch.randperm(h * w, generator=generator)[: min(per_image, h * w)] for _ in chunk]
        owner = torch.cat([torch.full((len(flat),), i) for i, flat in enumerate(flats)])  # each row's image in the chunk
        flat = torch.cat(flats)
        rows = owner * h * w + flat
        ys, xs = flat // w, flat % w
        parts["a"].append(rows_a[rows].float().cpu())
        parts["b"].append(rows_b[rows].float().cpu())
        parts["images"].append(seen + owner)
        parts["positions"].append(torch.stack([ys, xs], 1))
        for session, batch_pictures, key in ((session_a, pictures_a, "patches_a"), (session_b, pictures_b, "patches_b")):
            shown = session.display(batch_pictures).cpu()[owner]
            size = shown.shape[2:]
            centres = torch.stack([((ys + 0.5) * size[0] / h).long(), ((xs + 0.5) * size[1] / w).long()], 1)
            parts[key].append(as_uint8(crop_around(shown, centres, min(1.0, 3.0 / min(h, w)), PATCH)))
        seen += len(chunk)
        taken += len(rows)
        if samples is not None and taken >= samples:
            break
    if not taken:
        raise CompareError("the dataset is empty: an aligned atlas needs images both models read")
    return {name: torch.cat(values)[:samples] for name, values in parts.items()}, grid_hw


def _samples(layer: str, vectors: torch.Tensor, joined: dict, patches: torch.Tensor, grid_hw: tuple[int, int]) -> Samples:
    n = len(vectors)
    return Samples(
        layer, vectors, joined["images"], joined["positions"], torch.tensor([grid_hw]).expand(n, 2), patches,
        torch.zeros(n), torch.zeros(n, 0), (), torch.zeros(n, 0, dtype=torch.bool),
    )


def _least_squares(x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, float]:
    """The map M minimising ‖x M − y‖ (minimum-norm where x has fewer rows than columns), and R²."""
    m = torch.linalg.lstsq(x.double(), y.double(), driver="gelsd").solution
    residual = ((x.double() @ m - y.double()) ** 2).sum()
    total = ((y.double() - y.double().mean(0)) ** 2).sum().clamp(min=1e-30)
    return m.float(), float(1 - residual / total)


@checked
def aligned_atlas(
    session_a: Session,
    layer_a: str,
    session_b: Session,
    layer_b: str,
    data: Iterable,
    *,
    samples: int | None = None,
    per_image: int = 1,
    grid: Sequence[int] = (20, 40, 80),
    threshold: int = 10,
    seed: int = 0,
    batch: int = 32,
) -> AlignedAtlas:
    """The atlases of `layer_a` of A and `layer_b` of B over the same images of `data` (see
    `compare.reading` for the forms it takes), on one layout; see the module docstring."""
    layer_a, layer_b = session_a.check_layer(layer_a), session_b.check_layer(layer_b)
    for session, layer in ((session_a, layer_a), (session_b, layer_b)):
        if len(session.layer_shape(layer)) != 3:
            raise CompareError(f"layer {layer!r} has no positions (shape {session.layer_shape(layer)}); an aligned atlas samples layers with spatial grids")
    if per_image < 1:
        raise CompareError(f"per_image is the number of positions taken from each image (≥ 1), not {per_image}")
    joined, grid_hw = _shared(session_a, layer_a, session_b, layer_b, data, per_image, samples, seed, batch)
    va, vb = joined["a"], joined["b"]
    a_to_b, explained_ab = _least_squares(va, vb)
    b_to_a, explained_ba = _least_squares(vb, va)
    scale_a, scale_b = float(va.norm(dim=1).mean().clamp(min=1e-12)), float(vb.norm(dim=1).mean().clamp(min=1e-12))
    ab, ba = a_to_b.numpy(), b_to_a.numpy()

    def lift_a(v: np.ndarray) -> np.ndarray:
        return np.concatenate([v / scale_a, v @ ab / scale_b], 1)

    def lift_b(v: np.ndarray) -> np.ndarray:
        return np.concatenate([v @ ba / scale_a, v / scale_b], 1)

    n = len(va)
    layout = Layout(np.concatenate([lift_a(va.numpy()), lift_b(vb.numpy())]), seed=seed)
    atlases = []
    for session, layer, vectors, patches, rows, lift in (
        (session_a, layer_a, va, joined["patches_a"], slice(0, n), lift_a),
        (session_b, layer_b, vb, joined["patches_b"], slice(n, 2 * n), lift_b),
    ):
        side = Side(layout, rows, lift)
        resolutions = {g: cut(side.points, vectors.numpy(), np.zeros((n, 0), np.float32), g, threshold) for g in sorted({int(g) for g in grid})}
        atlases.append(Atlas(session, layer, _samples(layer, vectors, joined, patches, grid_hw), side, resolutions, None))
    return AlignedAtlas(atlases[0], atlases[1], (a_to_b, b_to_a), (explained_ab, explained_ba))
