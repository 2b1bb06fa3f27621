"""The activation atlas (Carter et al. 2019; docs/guides/dataset-scale.md): what a whole dataset looks like to one
layer, as sampled vectors laid out by UMAP and averaged in cells at several resolutions, each
cell with its count, its top classes and the dataset patches its vectors came from."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import numpy as np
import torch

from ..featurevis import objectives
from ..featurevis.icon_cache import icon_service
from ..featurevis.objectives import Objective
from ..images import ImageLike
from ..keywords import checked
from ..scale.options import RunOptions, dataset_job
from ..session import Session
from .cells import Cells, grid as cut
from .projection import Layout, Side
from .purity import purity_against_shuffled
from .sampling import AtlasError, Samples, sample

#: The icon objective's cosine power (docs/guides/dataset-scale.md).
COSINE_POWER = 2.0


@dataclass
class Atlas:
    """An atlas of `layer`: `samples` (vectors and where they came from), `layout` (their places
    in [0, 1]², `layout.points`), and `resolutions` {g: Cells of a g×g grid}. `classes` are the
    class indices a class atlas was made for (None for a plain atlas)."""

    session: Session = field(repr=False)
    layer: str
    samples: Samples = field(repr=False)
    layout: Layout | Side = field(repr=False)
    resolutions: dict[int, Cells] = field(repr=False)
    classes: list[int] | None

    def cells(self, size: int) -> Cells:
        if size not in self.resolutions:
            raise AtlasError(f"this atlas has the resolutions {sorted(self.resolutions)}, not {size}")
        return self.resolutions[size]

    def top_classes(self, size: int, k: int = 3) -> list[list[tuple[str, float]]]:
        """Per cell of resolution `size`: its k classes of highest attribution, [(name, value)]."""
        values = torch.from_numpy(self.cells(size).classes)
        top, index = values.topk(min(k, values.shape[1]), dim=1)
        return [[(self.session.class_name(int(i)), float(v)) for v, i in zip(vs, ids)] for vs, ids in zip(top, index)]

    def objectives(self, size: int) -> list[Objective]:
        """The icon objective of every cell at `size`: its mean vector's direction, weighted by
        max(0.1, cosine)^2 (docs/guides/dataset-scale.md)."""
        return [objectives.direction(self.layer, mean, COSINE_POWER) for mean in torch.from_numpy(self.cells(size).means)]

    def icons(self, size: int, icon_size: int = 64, steps: int = 256, **options) -> np.ndarray:
        """(M, icon_size, icon_size, 3) icons of the cells at `size`, rendered in batches and cached."""
        return icon_service(self.session).get(self.objectives(size), icon_size, steps, **options)

    def place(self, image: ImageLike) -> np.ndarray:
        """(H, W, 2): where every position of `image` at the layer lies on the layout, (x, y) in [0, 1]."""
        a = self.session.trace(image, self.layer, logits=False)[self.layer].float()
        c, h, w = a.shape
        return self.layout.place(a.reshape(c, h * w).T.cpu().numpy()).reshape(h, w, 2)

    def purity(self, size: int, family: str, seed: int = 0) -> tuple[float, float]:
        """(mean purity of the cells at `size` in `family`'s concepts, the same with the layout
        shuffled); needs a dataset with masks (see `neuroblocks.atlas.purity`)."""
        return purity_against_shuffled(self.cells(size), self.samples.present.numpy(), self.samples.concepts, family, seed)


@checked
@dataset_job
def atlas(
    session: Session,
    layer: str,
    dataset: Iterable,
    *,
    samples: int | None = None,
    per_image: int = 1,
    classes: Sequence[int | str] | None = None,
    grid: Sequence[int] = (20, 40, 80),
    threshold: int = 5,
    seed: int = 0,
    batch: int = 32,
    run: RunOptions,
) -> Atlas:
    """The atlas of `layer` over `dataset` (images; (image, masks) as dissection takes; (image,
    label) as ImageFolder gives; or DataLoader batches): up to `samples` vectors, `per_image`
    from each image, laid out with UMAP (seeded) and cut into the `grid` resolutions (g×g grids),
    keeping cells with more than `threshold` vectors. `classes` makes a class atlas: in each
    image, the positions that speak most for those classes (positive attribution only). The
    sampling is a dataset job: engine, progress and cancel as every dataset job takes them (`scale.RunOptions`)."""
    wanted = None if classes is None else [session.class_index(c) for c in classes]
    if wanted is not None and not wanted:
        raise AtlasError("classes is empty: name at least one class for a class atlas, or pass None for a plain atlas")
    if not grid or any(int(g) < 1 for g in grid):
        raise AtlasError(f"grid is the resolutions g of g×g grids (each ≥ 1), e.g. (20, 40, 80); got {tuple(grid)}")
    found = sample(session, layer, dataset, samples=samples, per_image=per_image, classes=wanted, seed=seed, batch=batch, engine=run.engine, progress=run.progress, cancel=run.cancel)
    vectors = found.vectors.numpy()
    layout = Layout(vectors, seed=seed)
    resolutions = {}
    for g in sorted({int(g) for g in grid}):
        resolutions[g] = cut(layout.points, vectors, found.classes.numpy(), g, threshold)
    return Atlas(session, found.layer, found, layout, resolutions, wanted)
