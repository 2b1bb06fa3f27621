"""Faithfulness checks (docs/guides/faithfulness.md): network dissection, dataset examples and random baselines.
Ablation is `neuroblocks.ablate`."""

from ..datasets import BadItem, DatasetError, ShapesConcepts, concepts
from .baselines import concentration
from .dataset_examples import Examples, dataset_examples
from .dissect import Dissection, dissect
from .units import random_directions

__all__ = [
    "BadItem",
    "Dissection",
    "DatasetError",
    "Examples",
    "ShapesConcepts",
    "concentration",
    "concepts",
    "dataset_examples",
    "dissect",
    "random_directions",
]
