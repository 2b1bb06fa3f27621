"""One edit of a layer's output (an ablation, a dictionary's reconstruction), in force while a
context is entered: a forward hook on the layer's module, the owner's lock held throughout, and
the edit's description listed where the owner's cache keys read it (see `Session.edit`)."""

from __future__ import annotations

import threading
from collections.abc import Callable

import torch
from torch import nn

from .forward import primary, with_primary


class LayerEdit:
    """`module`'s output is `change(output)` (its own tensor, in its own layout) while entered;
    it can be entered again after it exits."""

    def __init__(self, lock: threading.RLock, module: nn.Module, in_force: list[str], change: Callable[[torch.Tensor], torch.Tensor], description: str) -> None:
        self.lock, self.module, self.in_force, self.change, self.description = lock, module, in_force, change, description
        self._handle = None

    @property
    def active(self) -> bool:
        return self._handle is not None

    def __enter__(self) -> LayerEdit:
        self.lock.acquire()
        self._handle = self.module.register_forward_hook(lambda _m, _i, out: with_primary(out, self.change(primary(out))), prepend=True)
        self.in_force.append(self.description)
        return self

    def __exit__(self, *exc) -> None:
        self._handle.remove()
        self._handle = None
        self.in_force.remove(self.description)
        self.lock.release()
