"""Trait types for what views send to the browser, which know their type: an array trait checks
its dtype and its number of dimensions where it is set (a wrong one fails in Python, not as a
garbled picture in the browser), takes a tensor or an ndarray as it is, and holds it as the
binary payload the browser decodes (`payload.array`). Each trait's `help` says what it holds."""

from __future__ import annotations

import numpy as np
import torch
import traitlets

from .payload import array

_PAYLOAD = {"dtype", "shape", "data"}


class Array(traitlets.TraitType):
    """An array of `dims` dimensions sent as `dtype` ({} until it is computed, or where a view
    has none). Set it to a tensor, an ndarray or a payload of that dtype."""

    info_text = "an array"

    def __init__(self, dtype: str = "float32", dims: int = 1, **kwargs) -> None:
        self.dtype, self.dims = dtype, dims
        super().__init__(default_value={}, **kwargs)
        self.tag(sync=True)

    def validate(self, obj, value):
        if isinstance(value, (torch.Tensor, np.ndarray)):
            if value.ndim != self.dims:
                raise traitlets.TraitError(f"{type(obj).__name__}.{self.name} holds {self.dims}-dimensional arrays, not shape {tuple(value.shape)}")
            return array(value, self.dtype)
        if isinstance(value, dict) and not value:
            return value
        if isinstance(value, dict) and set(value) == _PAYLOAD:
            if value["dtype"] != self.dtype or len(value["shape"]) != self.dims:
                raise traitlets.TraitError(
                    f"{type(obj).__name__}.{self.name} holds {self.dims}-dimensional {self.dtype} arrays, not {value['dtype']} of shape {tuple(value['shape'])}"
                )
            return value
        self.error(obj, value)


class TopEntries(traitlets.TraitType):
    """Per row, its n strongest entries: {index: int32, value: float32} arrays of `dims`
    dimensions each (`payload.top_entries`), or {} until computed."""

    info_text = "top entries {index, value}"

    def __init__(self, dims: tuple[int, int] = (2, 2), **kwargs) -> None:
        self.parts = {"index": Array("int32", dims[0]), "value": Array("float32", dims[1])}
        super().__init__(default_value={}, **kwargs)
        self.tag(sync=True)

    def validate(self, obj, value):
        if isinstance(value, dict) and not value:
            return value
        if not isinstance(value, dict) or set(value) != set(self.parts):
            self.error(obj, value)
        for key, part in self.parts.items():
            part.name = f"{self.name}[{key!r}]"
        return {key: part.validate(obj, value[key]) for key, part in self.parts.items()}
