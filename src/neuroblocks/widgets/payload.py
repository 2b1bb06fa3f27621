"""How computed data crosses to the browser: arrays as raw little-endian bytes with their dtype
and shape, pictures as PNG bytes. ipywidgets lifts every `bytes` value out of the JSON state
into a binary buffer, so nothing numeric travels as a JSON list."""

from __future__ import annotations

import io

import numpy as np
import torch
from PIL import Image

_DTYPES = {"float32", "float64", "int32", "int16", "int8", "uint8", "uint16", "uint32"}


def array(values: torch.Tensor | np.ndarray, dtype: str = "float32") -> dict:
    """{dtype, shape, data}: the values as contiguous little-endian bytes of `dtype`."""
    if dtype not in _DTYPES:
        raise ValueError(f"dtype {dtype!r} cannot be decoded in the browser; use one of {sorted(_DTYPES)}")
    if isinstance(values, torch.Tensor):  # bfloat16 has no NumPy type: widened first, as every float is for the browser
        values = (values.detach().float() if values.dtype == torch.bfloat16 else values.detach()).cpu().numpy()
    data = np.ascontiguousarray(values, dtype=np.dtype(dtype).newbyteorder("<"))
    return {"dtype": dtype, "shape": list(data.shape), "data": data.tobytes()}


def unpack(payload: dict) -> np.ndarray:
    """The array back from its {dtype, shape, data} payload (read-only): `array` undone."""
    return np.frombuffer(payload["data"], dtype=np.dtype(payload["dtype"]).newbyteorder("<")).reshape(payload["shape"])


def png(rgb: np.ndarray) -> bytes:
    """(H, W, 3) or (H, W, 4) uint8 → PNG bytes."""
    out = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(rgb, dtype=np.uint8)).save(out, format="PNG")
    return out.getvalue()


def picture(image: torch.Tensor, note: str = "") -> dict:
    """A (3, H, W) image in [0, 1] as {png, height, width, note}, the way the views draw the
    input; `note` says how an input that is not RGB was made into this picture."""
    rgb = (image.detach().clamp(0, 1) * 255).round().to(torch.uint8).permute(1, 2, 0).cpu().numpy()
    return {"png": png(rgb), "height": int(rgb.shape[0]), "width": int(rgb.shape[1]), "note": note}


def top_entries(matrix: torch.Tensor, n: int, columns: list[int] | None = None) -> dict:
    """Per row, the n largest entries: {index: int32 (rows, n), value: float32 (rows, n)}; the
    index is the column's, or `columns`' entry for it where the matrix holds only those."""
    values, indices = matrix.topk(min(n, matrix.shape[1]), dim=1)
    if columns is not None:
        indices = torch.as_tensor(columns, device=indices.device)[indices]
    return {"index": array(indices, "int32"), "value": array(values)}
