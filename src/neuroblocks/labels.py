"""Class labels and forgiving lookup: "Labrador_retriever", "labrador retriever" and 208 agree."""

from __future__ import annotations

import operator
import re
from collections.abc import Sequence

from .errors import UnknownClassError, closest


def normalize(name: str) -> str:
    """Lower case, with underscores, hyphens and runs of spaces folded into one space."""
    return re.sub(r"[\s_\-]+", " ", name).strip().lower()


class Labels:
    """The names of a model's output classes, in output order."""

    def __init__(self, names: Sequence[str]) -> None:
        self.names = [str(n) for n in names]
        self._by_key: dict[str, list[int]] = {}
        for i, n in enumerate(self.names):
            self._by_key.setdefault(normalize(n), []).append(i)

    def __len__(self) -> int:
        return len(self.names)

    def index(self, name: str | int) -> int:
        """The output index of a class given by name (forgiving) or by index (checked)."""
        if not isinstance(name, str):
            try:
                i = operator.index(name)
            except TypeError:
                raise UnknownClassError(f"a class is a name or an index, not {type(name).__name__}") from None
            if not 0 <= i < len(self.names):
                raise UnknownClassError(f"class index {i} is out of range: this model has {len(self.names)} classes (0 to {len(self.names) - 1})")
            return i
        hits = self._by_key.get(normalize(name))
        if hits is None:
            near = self.near(name)
            raise UnknownClassError(f"unknown class {name!r}; close labels: {', '.join(repr(self.names[self._by_key[k][0]]) for k in near)}")
        if len(hits) > 1:
            raise UnknownClassError(f"class name {name!r} is ambiguous: it labels indices {', '.join(map(str, hits))}; pass the index instead")
        return hits[0]

    def near(self, name: str, n: int = 5) -> list[str]:
        """The `n` label keys closest to `name`: those it begins or names a word of first
        ("Labrador" → "labrador retriever"), shortest first, then by similarity."""
        key = normalize(name)
        worded = sorted((k for k in self._by_key if k.startswith(key) or key in k.split()), key=len)
        return list(dict.fromkeys([*worded, *closest(key, self._by_key)]))[:n]

    def name(self, index: int) -> str:
        return self.names[self.index(index)]
