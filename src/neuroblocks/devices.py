"""Where a session runs: the device asked for, or $NEUROBLOCKS_DEVICE, checked to exist."""

from __future__ import annotations

import os

import torch

from .errors import NeuroblocksError


def default_device() -> torch.device:
    """$NEUROBLOCKS_DEVICE ("cuda", "cuda:1", "mps", …), else the CPU: where sessions that name
    no device run, so one setting moves a notebook, or the whole test suite, to a GPU."""
    return torch.device(os.environ.get("NEUROBLOCKS_DEVICE") or "cpu")


def usable(device: torch.device) -> torch.device:
    if device.type == "cuda" and not torch.cuda.is_available():
        raise NeuroblocksError(
            f"device {str(device)!r} was asked for (device= or NEUROBLOCKS_DEVICE) but torch sees no CUDA GPU "
            f"(torch {torch.__version__}, CUDA build: {torch.version.cuda or 'no'}); use device='cpu' or unset NEUROBLOCKS_DEVICE"
        )
    return device
