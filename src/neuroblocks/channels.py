"""How many channels a model's input has, and how an input that is not RGB is drawn.

Grayscale (X-ray, digits), RGB-D and multispectral models take 1, 4 or 13 channels. The count is
read from the model itself: the first convolution (or linear layer, for models that flatten the
image) that the input reaches in a real pass. Views draw such inputs, and feature visualizations
of them, as a 3-channel picture: grayscale for one channel, a chosen composite otherwise, and say
which.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
from torch import nn
from torch.nn.modules.conv import _ConvNd

from .errors import NeuroblocksError

_COLOURS = ("red", "green", "blue")


class ChannelError(NeuroblocksError, ValueError):
    """A channel count, composite or input that does not fit the model's channels."""


class _Reached(Exception):
    """Raised by the probe hook: the input has reached the first layer that consumes it."""


def _first_registered(model: nn.Module) -> tuple[int, str] | None:
    for name, module in model.named_modules():
        if isinstance(module, _ConvNd):
            return module.in_channels, f"{name}.in_channels"
    return None


def infer(model: nn.Module, run: Callable[[torch.Tensor], object], side: tuple[int, int], device: torch.device) -> tuple[int, str]:
    """(channel count, where it was read). `run` feeds a batch to the model (with preprocessing);
    the pass stops at the first convolution or linear layer it reaches, before that layer runs,
    so a wrong guess at the count cannot fail it. Registration order is the fallback, then RGB."""
    registered = _first_registered(model)
    guess = registered[0] if registered else 3
    h, w = side
    reached: list[tuple[str, nn.Module, torch.Tensor]] = []

    def stop_at(name: str):
        def hook(module, inputs):
            reached.append((name, module, inputs[0] if inputs else None))
            raise _Reached

        return hook

    handles = [m.register_forward_pre_hook(stop_at(n)) for n, m in model.named_modules() if isinstance(m, (_ConvNd, nn.Linear))]
    try:
        with torch.no_grad():
            run(torch.zeros(1, guess, h, w, device=device))
    except Exception:  # _Reached, or the model needed the right count before any such layer (fall back)
        pass
    finally:
        for handle in handles:
            handle.remove()
    if reached:
        name, module, x = reached[0]
        if isinstance(module, _ConvNd):
            return module.in_channels, f"{name}.in_channels"
        if x is not None and x.shape[-1] == guess * h * w and module.in_features % (h * w) == 0:
            return module.in_features // (h * w), f"{name}.in_features / ({h}×{w})"
    if registered:
        return registered
    return 3, "no convolution found; RGB assumed"


def check_count(channels: object) -> int:
    if isinstance(channels, bool) or not isinstance(channels, int) or channels < 1:
        raise ChannelError(f"channels is the number of input channels the model takes (1 for grayscale, 3 for RGB, …), not {channels!r}")
    return channels


def composite(channels: int, chosen: Sequence[int] | None) -> tuple[int, int, int]:
    """Which input channels are drawn as red, green and blue: gray for one channel, red/cyan for
    two, the first three unless `chosen` says otherwise for more."""
    if chosen is None:
        return {1: (0, 0, 0), 2: (0, 1, 1)}.get(channels, (0, 1, 2))
    picked = tuple(chosen)
    if len(picked) != 3 or not all(isinstance(c, int) and 0 <= c < channels for c in picked):
        raise ChannelError(f"display_channels names the 3 input channels drawn as red, green and blue, each in 0…{channels - 1}; got {chosen!r}")
    return picked  # type: ignore[return-value]


def draw(images: torch.Tensor, picked: tuple[int, int, int]) -> torch.Tensor:
    """(…, C, H, W) → (…, 3, H, W): the composite that views show."""
    if images.shape[-3] == 3 and picked == (0, 1, 2):
        return images
    return images.index_select(-3, torch.tensor(picked, device=images.device))


def note(channels: int, picked: tuple[int, int, int]) -> str:
    """What a view says about how its input is drawn; empty for plain RGB."""
    if channels == 3 and picked == (0, 1, 2):
        return ""
    if len(set(picked)) == 1:
        which = "" if channels == 1 else f" channel {picked[0]} of {channels}"
        return f"{channels}-channel input:{which} shown in grayscale"
    shown = ", ".join(f"channel {c} as {colour}" for c, colour in zip(picked, _COLOURS))
    return f"{channels}-channel input: {shown}"
