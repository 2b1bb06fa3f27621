"""Errors that say what was wrong and what to do, and the 'did you mean' helper they share."""

from __future__ import annotations

import difflib
from collections.abc import Iterable


class NeuroblocksError(Exception):
    """Base of every error this library raises on purpose."""


class UnknownLayerError(NeuroblocksError, KeyError):
    """A layer name the model does not have (or that cannot be hooked)."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0])


class UnknownClassError(NeuroblocksError, KeyError):
    """A class name or index the model's labels do not have."""

    def __str__(self) -> str:
        return str(self.args[0])


class ImageError(NeuroblocksError, ValueError):
    """An input that cannot be turned into an image for the model."""


class WeightsUnavailableError(NeuroblocksError, RuntimeError):
    """Pretrained weights could not be had (offline, missing or mismatched file)."""


def closest(name: str, options: Iterable[str], n: int = 5) -> list[str]:
    """The `n` options most similar to `name`, best first (never empty if options are not)."""
    options = list(options)
    key = name.lower()
    scored = sorted(options, key=lambda o: -difflib.SequenceMatcher(None, key, o.lower()).ratio())
    return scored[:n]


class AttributionError(NeuroblocksError, ValueError):
    """An attribution that cannot be computed or would be meaningless (e.g. all-zero gradient)."""
