"""Comparing two models on the same images (SPEC §10): which layers are alike (linear CKA,
minibatch, with a permutation null) and which units correspond (correlations, Hungarian and
best-partner matching, with a shuffled-input null)."""

from .matching import Matching
from .survey import CompareError, Similarity, Survey, match, similarity, survey

__all__ = ["CompareError", "Matching", "Similarity", "Survey", "match", "similarity", "survey"]
