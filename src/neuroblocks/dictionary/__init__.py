"""Learned dictionaries (sparse autoencoders) of a layer, trained over a dataset: their latents
are atoms for every view, like channels and neuron groups (docs/explanations/dictionaries.md)."""

from .dictionary import Dictionary, Settings
from .quality import Quality, measure, substituted
from .train import train_dictionary

__all__ = ["Dictionary", "Quality", "Settings", "measure", "substituted", "train_dictionary"]
