"""Swap a function of `torch.nn.functional` (or of `torch`, or a `torch.Tensor` method) for a
variant, in one thread, for one block.

Max-pool relaxation, redirected ReLU gradients and attribution's conservative rule must reach
every layer of any model without per-model code; every `nn.MaxPool2d`, `nn.ReLU` and
`nn.LayerNorm` calls through `torch.nn.functional` or `torch`, so the swap happens there. The variant is installed once while any thread uses it and is active only in
threads inside the block, so other threads keep the original.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from contextlib import contextmanager

import torch.nn.functional as F


class FunctionalSwap:
    """`with swap.active():` makes `owner.<name>` (default `F.<name>`) behave as
    `variant(original, *args, **kwargs)`."""

    def __init__(self, name: str, variant: Callable, owner: object = F) -> None:
        self.name, self.variant, self.owner = name, variant, owner
        self.original = getattr(owner, name)
        self._own = name in vars(owner)  # a class's inherited method is restored by deleting the swap
        self._depth = threading.local()
        self._lock = threading.Lock()
        self._users = 0

        def dispatch(*args, **kwargs):
            if getattr(self._depth, "n", 0):
                return self.variant(self.original, *args, **kwargs)
            return self.original(*args, **kwargs)

        self._dispatch = dispatch

    @contextmanager
    def active(self, enabled: bool = True):
        if not enabled:
            yield
            return
        with self._lock:
            if self._users == 0:
                setattr(self.owner, self.name, self._dispatch)
            self._users += 1
        self._depth.n = getattr(self._depth, "n", 0) + 1
        try:
            yield
        finally:
            self._depth.n -= 1
            with self._lock:
                self._users -= 1
                if self._users == 0:
                    self._restore()

    def _restore(self) -> None:
        if self._own:
            setattr(self.owner, self.name, self.original)
        else:
            delattr(self.owner, self.name)
