"""The activation atlas (docs/guides/dataset-scale.md): a whole dataset as one layer sees it. `atlas(...)` samples,
lays out and grids a layer's vectors; the `ActivationAtlas` view draws the result."""

from .atlas import COSINE_POWER, Atlas, atlas
from .cells import Cells, grid
from .projection import Layout, Side
from .purity import cell_purity, purity_against_shuffled
from .sampling import AtlasError, Samples, sample

__all__ = ["COSINE_POWER", "Atlas", "AtlasError", "Cells", "Layout", "Samples", "Side", "atlas", "cell_purity", "grid", "purity_against_shuffled", "sample"]
