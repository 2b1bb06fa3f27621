"""Comparing two models on the same images (docs/guides/comparing-models.md): which layers are alike (linear CKA,
minibatch, with a permutation null) and which units correspond (correlations, Hungarian and
best-partner matching, with a shuffled-input null), and what both see over a dataset (an
aligned activation atlas)."""

from .aligned import AlignedAtlas, aligned_atlas
from .matching import Matching
from .survey import CompareError, Similarity, Survey, match, similarity, survey

__all__ = ["AlignedAtlas", "CompareError", "Matching", "Similarity", "Survey", "aligned_atlas", "match", "similarity", "survey"]
