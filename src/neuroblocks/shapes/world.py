"""The shapes world: procedural scenes whose every pixel's meaning is known.

A class is a (texture, shape) pair, e.g. "striped triangle"; colour is a nuisance drawn
independently, so units that track colour, shape or texture can be told apart by their masks.
Everything is deterministic by seed so tests can name scenes instead of shipping images.
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import product

import numpy as np

from ..keywords import checked

SHAPES = ("circle", "square", "triangle")
TEXTURES = ("solid", "stripes", "dots", "checker")
COLORS = {
    "red": (0.86, 0.16, 0.16),
    "green": (0.16, 0.70, 0.24),
    "blue": (0.16, 0.32, 0.86),
    "yellow": (0.90, 0.78, 0.16),
}
#: Tints a background can take instead of grey (the planted shortcut's cue, `shapes.shortcut`).
BACKGROUNDS = {"warm": (0.80, 0.52, 0.30), "cool": (0.30, 0.58, 0.78)}
_ADJECTIVE = {"solid": "solid", "stripes": "striped", "dots": "dotted", "checker": "checkered"}

#: Class names, in the model's output order: texture-major, then shape.
CLASSES: tuple[str, ...] = tuple(f"{_ADJECTIVE[t]} {s}" for t, s in product(TEXTURES, SHAPES))

#: Default image side in pixels; the shapes model is trained at this size.
SIZE = 64


@checked
def class_concepts(name: str) -> tuple[str, str]:
    """(texture, shape) of a class name such as "dotted square"."""
    adjective, shape = name.split(" ")
    texture = {v: k for k, v in _ADJECTIVE.items()}[adjective]
    return texture, shape


@dataclass(frozen=True)
class ShapeObject:
    """One object of a scene: its class's concepts, its colour and where it was drawn."""

    texture: str
    shape: str
    color: str
    center: tuple[float, float]  # (y, x) in pixels
    radius: float
    angle: float  # rotation of the silhouette, radians

    @property
    def label(self) -> str:
        return f"{_ADJECTIVE[self.texture]} {self.shape}"


@dataclass(frozen=True)
class Scene:
    """A rendered scene: `image` (H×W×3 uint8), `labels` left to right, boolean `masks`.

    `masks` has one entry per object keyed by its class name and one per concept present,
    keyed "shape:…", "texture:…" and "color:…".
    """

    image: np.ndarray
    labels: tuple[str, ...]
    masks: dict[str, np.ndarray]
    objects: tuple[ShapeObject, ...]


def _silhouette(shape: str, yy: np.ndarray, xx: np.ndarray, obj_radius: float, angle: float) -> np.ndarray:
    c, s = np.cos(angle), np.sin(angle)
    u, v = c * xx + s * yy, -s * xx + c * yy  # coordinates in the object's rotated frame
    if shape == "circle":
        return u * u + v * v <= obj_radius * obj_radius
    if shape == "square":
        half = obj_radius * 0.82  # same area as the circle, roughly
        return (np.abs(u) <= half) & (np.abs(v) <= half)
    if shape == "triangle":  # upright equilateral triangle inscribed in a slightly larger circle
        r = obj_radius * 1.15
        k = np.sqrt(3.0)
        return (v <= r / 2) & (k * u - v <= r) & (-k * u - v <= r)
    raise ValueError(f"unknown shape {shape!r}; the shapes are {', '.join(SHAPES)}")


def _pattern(texture: str, yy: np.ndarray, xx: np.ndarray, period: float, angle: float) -> np.ndarray:
    """True where the texture's light tone is drawn."""
    if texture == "solid":
        return np.zeros(yy.shape, dtype=bool)
    if texture == "stripes":
        along = np.cos(angle) * yy + np.sin(angle) * xx
        return np.floor(along / (period / 2)) % 2 == 1
    if texture == "dots":  # sparser than the checker's cells, so the two never look alike
        spacing = period * 1.5
        fy = yy / spacing - np.round(yy / spacing)
        fx = xx / spacing - np.round(xx / spacing)
        return fy * fy + fx * fx <= 0.25**2
    if texture == "checker":
        cell = period / 2
        return (np.floor(yy / cell) + np.floor(xx / cell)) % 2 == 1
    raise ValueError(f"unknown texture {texture!r}; the textures are {', '.join(TEXTURES)}")


def _background(rng: np.random.Generator, size: int, tint: str | None = None) -> np.ndarray:
    """A smooth gradient between two greyish tones, never saturated enough to read as an object;
    with a `tint` (one of `BACKGROUNDS`), between two shades of that colour."""
    tones = rng.uniform(0.3, 0.75, size=(2, 1, 1, 1)) + rng.uniform(-0.06, 0.06, size=(2, 1, 1, 3))
    if tint is not None:
        if tint not in BACKGROUNDS:
            raise ValueError(f"unknown background {tint!r}; the backgrounds are grey (None) or {', '.join(BACKGROUNDS)}")
        tones = np.asarray(BACKGROUNDS[tint]) * rng.uniform(0.75, 1.1, size=(2, 1, 1, 1)) + rng.uniform(-0.04, 0.04, size=(2, 1, 1, 3))
    angle = rng.uniform(0, 2 * np.pi)
    yy, xx = np.mgrid[0:size, 0:size] / max(size - 1, 1)
    t = (np.cos(angle) * (yy - 0.5) + np.sin(angle) * (xx - 0.5) + 0.71) / 1.42
    return tones[0] * (1 - t[..., None]) + tones[1] * t[..., None]


def _resolve_classes(rng: np.random.Generator, classes: int | str | tuple[str, ...] | None) -> list[str]:
    if classes is None:
        classes = 1
    if isinstance(classes, str):
        classes = (classes,)
    if isinstance(classes, (int, np.integer)):
        if not 0 <= classes <= len(CLASSES):
            raise ValueError(f"a scene holds 0 to {len(CLASSES)} objects, not {classes}")
        return [CLASSES[i] for i in rng.choice(len(CLASSES), size=int(classes), replace=False)]
    names = list(classes)
    unknown = [n for n in names if n not in CLASSES]
    if unknown:
        raise ValueError(f"unknown shapes class {unknown[0]!r}; the classes are: {', '.join(CLASSES)}")
    return names


@checked
def scene(seed: int = 0, classes: int | str | tuple[str, ...] | None = None, size: int = SIZE, background: str | None = None, contrast: float = 1.0) -> Scene:
    """Render a scene, deterministic by `seed`.

    `classes`: None for one object of a random class, an int n for n objects of distinct random
    classes (0: background only), or class names. Several objects stand side by side, each in its own vertical strip,
    so `labels` read left to right. `background`: None for grey, or one of `BACKGROUNDS`.
    `contrast` scales how much lighter a texture's light tone is (1: the world's; near 0: faint).
    """
    rng = np.random.default_rng(seed)
    names = _resolve_classes(rng, classes)
    n = len(names)
    image = _background(rng, size, background)
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float64) + 0.5
    period = max(4.0, size / 16)
    strip = size / max(n, 1)
    objects, masks = [], {}
    for i, name in enumerate(names):
        texture, shape = class_concepts(name)
        color = list(COLORS)[rng.integers(len(COLORS))]
        limit = min(strip, size) / 2
        radius = rng.uniform(0.55, 0.8) * limit * (0.75 if n == 1 else 1.0)
        margin = radius * 1.2
        cy = rng.uniform(margin, size - margin)
        cx = i * strip + rng.uniform(min(margin, strip / 2), max(strip - margin, strip / 2))
        angle = rng.uniform(-0.3, 0.3) if shape != "circle" else 0.0
        inside = _silhouette(shape, yy - cy, xx - cx, radius, angle)
        stripe_angle = rng.choice([0.0, np.pi / 4, np.pi / 2, 3 * np.pi / 4])
        light = _pattern(texture, yy - cy, xx - cx, period, stripe_angle)
        rgb = np.asarray(COLORS[color]) * rng.uniform(0.9, 1.05)
        tone = np.where(light[..., None], rgb + contrast * 0.55 * (1 - rgb), rgb)
        image = np.where(inside[..., None], tone, image)
        obj = ShapeObject(texture, shape, color, (cy, cx), radius, angle)
        objects.append(obj)
        masks[name] = inside
        for key in (f"shape:{shape}", f"texture:{texture}", f"color:{color}"):
            masks[key] = masks.get(key, np.zeros_like(inside)) | inside
    image = image + rng.normal(0, 0.02, size=image.shape)
    pixels = np.clip(np.round(image * 255), 0, 255).astype(np.uint8)
    return Scene(pixels, tuple(names), masks, tuple(objects))
