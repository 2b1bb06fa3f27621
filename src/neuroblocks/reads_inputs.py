"""How a Session reads its inputs: any image to the model's size and channels, how views draw
them, and what the model is given (docs/explanations/session.md). A part of `Session`, kept
apart so each file holds one concern; it uses the session's reading settings and lock."""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence

import torch
from torch import nn

from . import channels as ch
from . import framing
from .decoded import Decoded, Reading, read_input
from .images import Fit, ImageLike, UrlCache

_PROBE_SIDE = 224  # probe size for models that take any input size


class ReadsInputs:
    """The input half of a Session (its subclass sets these in `__init__`)."""

    model: nn.Module
    device: torch.device
    preprocess: Callable[[torch.Tensor], torch.Tensor] | None
    input_size: int | tuple[int, int] | None
    fit: Fit
    resize: int | None
    interpolation: str
    _channels: tuple[int, str] | None
    _display_channels: Sequence[int] | None
    _urls: UrlCache
    _lock: threading.RLock

    def read(self, x: ImageLike | Decoded) -> Decoded:
        """`x` decoded once with this session's settings (a URL fetched once per session), to pass
        on to every block of a computation in its place; a `Decoded` of these settings as it is."""
        reading = Reading(self.input_size, self.fit, self.channels, self.resize, self.interpolation)
        return read_input(x, reading, self._urls)

    def image(self, x: ImageLike | Decoded) -> torch.Tensor:
        """Any image input → (channels, H, W) float tensor in [0, 1] at this session's input size
        (a copy: the reading it comes from is shared by a whole computation)."""
        return self.read(x).pixels.to(self.device, copy=True)

    def framing(self, x: ImageLike | Decoded) -> framing.Framing:
        """Which part of the photo `x` the model sees, and the mapping between photo pixels, model
        input and a layer's grid cells (`Framing.photo_to_cell(points, session.layer_shape(layer)[-2:])`)."""
        size = (self.input_size, self.input_size) if isinstance(self.input_size, int) else self.input_size
        return framing.frame(self.read(x).photo_size, None if size is None else (int(size[0]), int(size[1])), self.fit, self.resize)

    def probe_side(self) -> tuple[int, int]:
        size = self.input_size or _PROBE_SIDE
        return (size, size) if isinstance(size, int) else (int(size[0]), int(size[1]))

    @property
    def channels(self) -> int:
        """Input channels the model takes: as given, or read from the model (`channels_source` says where)."""
        with self._lock:
            if self._channels is None:
                self._channels = ch.infer(self.model, lambda x: self.model(self.model_input(x)), self.probe_side(), self.device)
            return self._channels[0]

    @property
    def channels_source(self) -> str:
        """Where the channel count came from: "given", or the module attribute it was read from."""
        self.channels
        return self._channels[1]

    @property
    def display_channels(self) -> tuple[int, int, int]:
        """The input channels views draw as red, green and blue."""
        return ch.composite(self.channels, self._display_channels)

    @display_channels.setter
    def display_channels(self, chosen: Sequence[int] | None) -> None:
        ch.composite(self.channels, chosen)  # refuse a bad choice now, not at the next draw
        self._display_channels = chosen

    def display(self, images: torch.Tensor) -> torch.Tensor:
        """Inputs (…, channels, H, W) as the 3-channel pictures views draw (see `display_note`)."""
        return ch.draw(images, self.display_channels)

    @property
    def display_note(self) -> str:
        """How views draw this model's inputs, e.g. "1-channel input: shown in grayscale"; empty for RGB."""
        return ch.note(self.channels, self.display_channels)

    @property
    def dtype(self) -> torch.dtype:
        """The model's floating-point type (its first parameter's; float32 without one): inputs are
        cast to it, and attribution computes in it (a bfloat16 model's in bfloat16)."""
        param = next(self.model.parameters(), None)
        return param.dtype if param is not None and param.is_floating_point() else torch.float32

    def model_input(self, images: torch.Tensor) -> torch.Tensor:
        """Images in [0, 1] as the model takes them: on its device, in its dtype, preprocessed."""
        images = images.to(self.device, self.dtype)
        return self.preprocess(images) if self.preprocess is not None else images
