"""An input read once: the model's pixels and the photo's size from one reading (one fetch of a
URL), carried through a whole computation instead of the path, URL or array it came from.

Every block takes a path, URL, PIL image, array or tensor; a view's computation calls a dozen of
them on one image. A `Decoded` is accepted wherever an image is, and a session hands back the same
object (no second reading, no copy through NumPy) as long as it was made with that session's settings.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from functools import cached_property

import torch
from PIL import Image

from .framing import Fit
from .images import ImageLike, UrlCache, load_image, opened


@dataclass(frozen=True)
class Reading:
    """How an image is made into a model input: size, fit, channels, resize, interpolation."""

    size: int | tuple[int, int] | None
    fit: Fit
    channels: int
    resize: int | None
    interpolation: str


class Decoded:
    """`pixels` (channels, H, W) in [0, 1] as `reading` makes them; `photo_size` the (H, W) of
    what was read, before resizing; `source` what the user passed, for a reading with other settings."""

    def __init__(self, source: ImageLike, pixels: torch.Tensor, photo_size: tuple[int, int], reading: Reading) -> None:
        self.source, self.pixels, self.photo_size, self.reading = source, pixels, photo_size, reading

    @cached_property
    def digest(self) -> str:
        """The pixels' hash: the key activations are cached under, computed once."""
        return hashlib.blake2b(self.pixels.detach().cpu().numpy().tobytes(), digest_size=16).hexdigest()

    def __repr__(self) -> str:
        return f"Decoded({type(self.source).__name__}, photo {self.photo_size[1]}×{self.photo_size[0]}, pixels {tuple(self.pixels.shape)})"


def read_input(x: ImageLike | Decoded, reading: Reading, urls: UrlCache | None = None) -> Decoded:
    """`x` read once with `reading`'s settings (a `Decoded` already read so is returned as it is)."""
    if isinstance(x, Decoded):
        if x.reading == reading:
            return x
        x = x.source
    source = x
    x = opened(x, urls)
    settings = dict(fit=reading.fit, channels=reading.channels, resize=reading.resize, interpolation=reading.interpolation)
    if isinstance(x, Image.Image):
        photo = (x.height, x.width)
        pixels = load_image(x, size=reading.size, **settings)
    else:  # an array or tensor: its size as the model reads it, then the same resize
        full = load_image(x, channels=reading.channels)
        photo = (int(full.shape[-2]), int(full.shape[-1]))
        pixels = load_image(full, size=reading.size, **settings) if reading.size is not None else full
    return Decoded(source, pixels, photo, reading)
