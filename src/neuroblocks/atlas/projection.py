"""The atlas layout (docs/guides/dataset-scale.md): UMAP of the sampled vectors in 2-D, normalised to [0, 1].

Lucid's settings: cosine metric, 50 neighbours, minimum distance 0.05, seeded. The neighbours
are exact (`neighbours.py`) up to 50,000 vectors. Each axis is clipped at its 1st and 99th
percentiles, widened by 10% of that span on both sides, and scaled to [0, 1], so a few outliers
do not squeeze the rest of the atlas into a corner.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable

import numpy as np

from .neighbours import precomputed
from .sampling import AtlasError

NEIGHBOURS = 50
MIN_DIST = 0.05
MARGIN = 0.1


def _umap():
    try:
        import umap
    except ImportError as e:
        raise AtlasError("the activation atlas lays vectors out with UMAP: pip install 'neuroblocks[atlas]' (or umap-learn)") from e
    return umap


class Layout:
    """A fitted layout: `points` (N, 2) in [0, 1] for the vectors it was fitted on, and
    `place(vectors)` for new ones (UMAP's transform, then the same normalisation)."""

    def __init__(self, vectors: np.ndarray, *, seed: int = 0, neighbours: int = NEIGHBOURS, min_dist: float = MIN_DIST) -> None:
        if len(vectors) < 4:
            raise AtlasError(f"an atlas needs at least 4 sampled vectors to lay out; got {len(vectors)}: read more images")
        vectors = np.asarray(vectors, dtype=np.float32)
        k = min(neighbours, len(vectors) - 1)
        known = precomputed(vectors, k)
        self.reducer = _umap().UMAP(
            n_components=2, metric="cosine", n_neighbors=k, min_dist=min_dist, random_state=seed, precomputed_knn=known or (None, None, None)
        )
        with warnings.catch_warnings():
            # A seed makes UMAP run on one thread, as it says; the seed is the point. Our exact
            # search index is not pynndescent's, which UMAP warns of; its transform only queries it.
            warnings.filterwarnings("ignore", message="n_jobs value", category=UserWarning)
            warnings.filterwarnings("ignore", message=r"precomputed_knn\[2\]", category=UserWarning)
            raw = self.reducer.fit_transform(vectors)
        low, high = np.percentile(raw, 1, axis=0), np.percentile(raw, 99, axis=0)
        span = np.maximum(high - low, 1e-12)
        self.low, self.high = low - MARGIN * span, high + MARGIN * span
        self.points = self.normalise(raw)

    def normalise(self, raw: np.ndarray) -> np.ndarray:
        """UMAP coordinates → [0, 1] by this layout's bounds (clipping what lies beyond)."""
        return np.clip((raw - self.low) / (self.high - self.low), 0.0, 1.0)

    def place(self, vectors: np.ndarray) -> np.ndarray:
        """(N, 2) places in [0, 1] of new vectors on this layout."""
        return self.normalise(self.reducer.transform(np.asarray(vectors, dtype=np.float32)))


class Side:
    """One set of vectors' part of a layout fitted on several at once (a model of an aligned
    atlas): `points` are that part's places; `place` lifts new vectors into the joint space
    (`lift`: (N, C) → the layout's features) before UMAP's transform."""

    def __init__(self, layout: Layout, rows: slice, lift: Callable[[np.ndarray], np.ndarray]) -> None:
        self.layout, self.lift = layout, lift
        self.points = layout.points[rows]

    def place(self, vectors: np.ndarray) -> np.ndarray:
        return self.layout.place(self.lift(np.asarray(vectors, dtype=np.float32)))
