"""Which part of a photo the model sees, and where a photo pixel lands in the model input and
in a layer's grid: the one mapping every overlay needs.

A session resizes a photo (cover and crop the centre, or stretch; torchvision's presets first
scale the short side to 256 and crop 224), so a point of the photo and a cell of a layer are
related by a scale and an offset, the same for every layer of one image.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np

Fit = Literal["crop", "stretch"]


def scaled(photo: tuple[int, int], size: tuple[int, int], fit: Fit, resize: int | None = None) -> tuple[int, int]:
    """The (H, W) a photo is scaled to before its centre crop to `size`: torchvision's rule for a
    short side of `resize` (the long side truncated), else the smallest size covering `size`
    ("crop"), or `size` itself ("stretch")."""
    h, w = photo
    if fit == "stretch":
        return size
    if resize:
        short, long = (h, w) if h <= w else (w, h)
        other = int(resize * long / short)
        return (resize, other) if h <= w else (other, resize)
    scale = max(size[0] / h, size[1] / w)
    return max(size[0], round(h * scale)), max(size[1], round(w * scale))


@dataclass(frozen=True)
class Framing:
    """How one photo became the model input.

    photo: the photo's (H, W) in pixels. box: (top, left, height, width) of the photo region the
    input shows, in photo pixels (fractional where the scale is). input: the input's (h, w).
    Points are (y, x) pairs in pixel units, pixel centres at +0.5.
    """

    photo: tuple[int, int]
    box: tuple[float, float, float, float]
    input: tuple[int, int]

    @property
    def scale(self) -> tuple[float, float]:
        """Input pixels per photo pixel, (vertical, horizontal)."""
        return self.input[0] / self.box[2], self.input[1] / self.box[3]

    def photo_to_input(self, points) -> np.ndarray:
        """(…, 2) photo (y, x) → input (y, x); points outside the box land outside [0, h) × [0, w)."""
        p = np.asarray(points, dtype=np.float64)
        return (p - np.array(self.box[:2])) * np.array(self.scale)

    def input_to_photo(self, points) -> np.ndarray:
        """(…, 2) input (y, x) → photo (y, x)."""
        p = np.asarray(points, dtype=np.float64)
        return p / np.array(self.scale) + np.array(self.box[:2])

    def input_to_cell(self, points, grid: tuple[int, int]) -> np.ndarray:
        """(…, 2) input (y, x) → the (row, column) of the `grid` (H, W) cell holding each point,
        as int; a layer's cell i spans input rows [i·h/H, (i+1)·h/H)."""
        p = np.asarray(points, dtype=np.float64)
        return np.floor(p * np.array(grid) / np.array(self.input)).astype(np.int64)

    def photo_to_cell(self, points, grid: tuple[int, int]) -> np.ndarray:
        """(…, 2) photo (y, x) → (row, column) of `grid`; outside the box means outside the grid."""
        return self.input_to_cell(self.photo_to_input(points), grid)

    def cell_to_photo(self, cells, grid: tuple[int, int]) -> np.ndarray:
        """(…, 2) `grid` (row, column) → the photo (y, x) of each cell's centre."""
        c = np.asarray(cells, dtype=np.float64)
        return self.input_to_photo((c + 0.5) * np.array(self.input) / np.array(grid))

    def cell_mask(self, region: np.ndarray, grid: tuple[int, int]) -> np.ndarray:
        """The share of each `grid` cell covered by a boolean photo mask (H, W): (H_grid, W_grid) in [0, 1]."""
        ys, xs = np.mgrid[0 : self.photo[0], 0 : self.photo[1]]
        cells = self.photo_to_cell(np.stack([ys + 0.5, xs + 0.5], -1), grid)
        inside = (cells[..., 0] >= 0) & (cells[..., 0] < grid[0]) & (cells[..., 1] >= 0) & (cells[..., 1] < grid[1])
        flat = cells[..., 0] * grid[1] + cells[..., 1]
        total = np.bincount(flat[inside], minlength=grid[0] * grid[1])
        hit = np.bincount(flat[inside & region.astype(bool)], minlength=grid[0] * grid[1])
        return (hit / np.maximum(total, 1)).reshape(grid)

    @property
    def note(self) -> str:
        """What the model sees, in words, e.g. "the model sees x 43–507, y 0–367 of the 550×367 photo"."""
        top, left, height, width = self.box
        if (round(height), round(width)) == self.photo and top == left == 0:
            return f"the model sees the whole {self.photo[1]}×{self.photo[0]} photo at {self.input[1]}×{self.input[0]}"
        return (
            f"the model sees x {left:.0f}–{left + width:.0f}, y {top:.0f}–{top + height:.0f} of the {self.photo[1]}×{self.photo[0]} photo "
            f"(its centre, at {self.input[1]}×{self.input[0]})"
        )


def frame(photo: tuple[int, int], size: tuple[int, int] | None, fit: Fit = "crop", resize: int | None = None) -> Framing:
    """The framing of a photo of (H, W) `photo` made into an input of `size` (None: as it is)."""
    if size is None:
        return Framing(photo, (0.0, 0.0, float(photo[0]), float(photo[1])), photo)
    sh, sw = scaled(photo, size, fit, resize)
    top, left = int(round((sh - size[0]) / 2.0)), int(round((sw - size[1]) / 2.0))  # torchvision's center_crop
    ky, kx = photo[0] / sh, photo[1] / sw
    return Framing(photo, (top * ky, left * kx, size[0] * ky, size[1] * kx), size)
