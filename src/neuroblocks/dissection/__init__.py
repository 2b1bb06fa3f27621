"""Faithfulness checks (docs/guides/faithfulness.md): network dissection, dataset examples and random baselines.
Ablation is `neuroblocks.ablate`."""

from .baselines import concentration
from .data import BadItem, DissectionDataError, ShapesConcepts, concepts
from .dataset_examples import Examples, dataset_examples
from .dissect import Dissection, dissect
from .units import random_directions

__all__ = [
    "BadItem",
    "Dissection",
    "DissectionDataError",
    "Examples",
    "ShapesConcepts",
    "concentration",
    "concepts",
    "dataset_examples",
    "dissect",
    "random_directions",
]
