"""Attribution's precision policy: its passes run float32 convolutions and matrix products in
full IEEE float32, not TensorFloat-32.

On Ampere and later GPUs PyTorch lets cuDNN convolutions use TF32 by default (10-bit mantissa):
a forward pass barely moves, but an activation × gradient read through it moved 3e-2 (relative)
away from the per-class gradient on ResNet-18 (an H200, issue 31). Attribution is a measurement,
so a session's attribution runs with TF32 off (`attribution.configure(session, precision="float32")`, the default)
and leaves the process's own setting alone everywhere else (feature visualization, forward
passes), or keeps it for attribution too (`"torch"`: faster on those GPUs, at that error).
CPUs and older GPUs have no TF32, so there "float32" changes nothing.

The switches are process-wide (PyTorch has no per-thread TF32 setting): the first block to
enter sets them, the last to leave puts back what it found, so concurrent attributions nest and
other threads' work meanwhile only runs more exactly, never less. A model in bfloat16 or float16
is untouched by either: attribution then runs in the model's own dtype (`dtype_note` says so).
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

import torch

from .errors import AttributionError

PRECISIONS = ("float32", "torch")

_lock = threading.Lock()
_depth = 0
_found: tuple | None = None  # the settings the outermost block found, put back when it leaves
# PyTorch 2.9 and later name the setting per operation; the older flags mean the same thing.
_PER_OPERATION = hasattr(torch.backends.cudnn, "conv") and hasattr(torch.backends.cuda.matmul, "fp32_precision")


def check(precision: str) -> str:
    if precision not in PRECISIONS:
        raise AttributionError(f"precision is 'float32' (TF32 off while attribution runs) or 'torch' (PyTorch's own setting kept), not {precision!r}")
    return precision


def tf32_settings() -> tuple:
    """What decides whether float32 convolutions and matrix products may use TF32 now."""
    if _PER_OPERATION:
        return torch.backends.cudnn.conv.fp32_precision, torch.backends.cuda.matmul.fp32_precision
    return torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32


def set_tf32_settings(settings: tuple) -> None:
    """Set what `tf32_settings` reads (process-wide)."""
    if _PER_OPERATION:
        torch.backends.cudnn.conv.fp32_precision, torch.backends.cuda.matmul.fp32_precision = settings
    else:
        torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32 = settings


FULL_FLOAT32 = ("ieee", "ieee") if _PER_OPERATION else (False, False)


@contextmanager
def applied(precision: str) -> Iterator[None]:
    """Within this block, float32 convolutions and matrix products run as `precision` says."""
    global _depth, _found
    if check(precision) == "torch":
        yield
        return
    with _lock:
        if _depth == 0:
            _found = tf32_settings()
            set_tf32_settings(FULL_FLOAT32)
        _depth += 1
    try:
        yield
    finally:
        with _lock:
            _depth -= 1
            if _depth == 0:
                set_tf32_settings(_found)


def dtype_note(dtype: torch.dtype) -> str:
    """What views say under a model that computes in less than float32 (empty otherwise)."""
    return "" if dtype in (torch.float32, torch.float64) else f"the model computes in {str(dtype).removeprefix('torch.')}, and so does attribution"
