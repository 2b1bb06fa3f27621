"""How far to trust an attribution: deletion curves (docs/guides/faithfulness.md).

Remove what a map ranks highest first and watch the target's probability fall; do the same in
random orders. A map that explains the decision makes the probability fall faster than chance,
and the area between the random curve and the map's is one number for it (Samek et al. 2017's
region perturbation; Petsiuk et al. 2018's deletion). A class the model gives almost nothing
(below `MIN_START`) cannot fall, so its map is not judged. A map of a position grid removes image
regions (each cell's part of the input, filled with a blurred copy of the image, so no sharp new
edges appear); a map of a layer's units removes their parts of the activations (ablation). Where
the map does no better than the random orders' own spread, the result says so.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F
import torchvision.transforms.functional as TF

from .errors import NeuroblocksError
from .images import ImageLike
from .keywords import checked
from .session import Session
from .units import Units, units_of

FILLS = ("blur", "mean", "zero")
#: the smallest area that counts as better than random: a map whose removal order moves the
#: probability this little explains nothing a reader can use (a saturated or indifferent model)
MIN_AREA = 0.02
#: the least probability at the start for a deletion curve to judge a map by
MIN_START = 0.05


@dataclass(frozen=True)
class Deletion:
    """fractions (S+1,): the share of the items removed at each step; curve (S+1,): the target's
    probability with the map's top items removed (`start`: with nothing removed); random
    (R, S+1): the same for R random orders."""

    fractions: torch.Tensor
    curve: torch.Tensor
    random: torch.Tensor
    start: float
    what: str

    @property
    def area(self) -> float:
        """Area between the random curves' mean and the map's: > 0 when the map's top items matter more."""
        return _area(self.fractions, self.random.mean(0) - self.curve)

    @property
    def spread(self) -> float:
        """The standard deviation of the random orders' own areas: how far chance alone moves it."""
        areas = torch.stack([torch.tensor(_area(self.fractions, self.random.mean(0) - r)) for r in self.random])
        return float(areas.std()) if len(areas) > 1 else 0.0

    @property
    def judged(self) -> bool:
        """Whether the target starts with enough probability (`MIN_START`) to judge its map."""
        return self.start >= MIN_START

    @property
    def beats_random(self) -> bool:
        """The map's order beats the random orders' mean by more than their spread (so it beats
        most random orders), and by at least `MIN_AREA`."""
        return self.judged and self.area > max(self.spread, MIN_AREA)

    @property
    def note(self) -> str:
        """What a view prints beside the plot."""
        if not self.judged:
            return f"deletion of {self.what}: the model gives the target {self.start:.3f}, too little to fall, so its map is not judged"
        verdict = "" if self.beats_random else " — no better than random removal: do not read much into this map"
        return f"deletion of {self.what}: area {self.area:+.3f} between random order and the map's (random spread ±{self.spread:.3f}){verdict}"


def _area(x: torch.Tensor, y: torch.Tensor) -> float:
    return float(torch.trapezoid(y.double(), x.double()))


def _probability(session: Session, logits: torch.Tensor, c: int) -> torch.Tensor:
    return torch.sigmoid(logits[:, c]) if session.multilabel else torch.softmax(logits.float(), dim=1)[:, c]


def _orders(values: torch.Tensor, seeds: int) -> list[torch.Tensor]:
    """The map's order (largest first, ties by index) and `seeds` random orders."""
    generator = torch.Generator().manual_seed(0)
    return [values.argsort(descending=True, stable=True)] + [torch.randperm(len(values), generator=generator) for _ in range(seeds)]


def _curves(count: int, steps: int, seeds: int, values: torch.Tensor, removed: Callable[[list[torch.Tensor]], torch.Tensor], what: str) -> Deletion:
    """Run `removed(kept_masks)` (one bool mask (count,) per state: True = still there) → the
    target's probability per state, for the map's order and the random ones."""
    cuts = torch.linspace(0, count, steps + 1).round().long()
    states = [torch.ones(count, dtype=torch.bool).index_fill(0, order[:k], False) for order in _orders(values, seeds) for k in cuts.tolist()]
    probabilities = removed(states).reshape(seeds + 1, steps + 1).cpu()
    return Deletion(cuts.float() / count, probabilities[0], probabilities[1:], float(probabilities[0, 0]), what)


@checked
@torch.no_grad()
def deletion(
    session: Session, image: ImageLike, target: int | str, attribution: torch.Tensor, *, steps: int = 16, seeds: int = 8, fill: str = "blur", batch: int = 32
) -> Deletion:
    """Deletion curve of a map (H, W) over the model's input: the cells of its grid, in the map's
    order (largest first), have their part of the input replaced by `fill` ("blur": a blurred
    copy of the image; "mean": its mean colour; "zero"), in `steps` steps, and the same in
    `seeds` random orders."""
    if fill not in FILLS:
        raise NeuroblocksError(f"fill is one of {', '.join(FILLS)}, not {fill!r}")
    if attribution.dim() != 2:
        raise NeuroblocksError(f"a map for deletion is (H, W) over a layer's grid, not of shape {tuple(attribution.shape)}; for units use unit_deletion")
    c = session.class_index(target)
    pixels = session.read(image).pixels.to(session.device)
    filled = _filled(pixels, fill)
    h, w = attribution.shape

    def removed(states: list[torch.Tensor]) -> torch.Tensor:
        masks = torch.stack(states).reshape(-1, 1, h, w).float().to(pixels)
        kept = F.interpolate(masks, size=pixels.shape[1:], mode="nearest")
        out = []
        for chunk in kept.split(batch):
            out.append(_probability(session, session.forward(chunk * pixels + (1 - chunk) * filled).logits, c))
        return torch.cat(out)

    return _curves(h * w, min(steps, h * w), seeds, attribution.flatten().float().cpu(), removed, f"image regions ({h}×{w})")


def _filled(pixels: torch.Tensor, fill: str) -> torch.Tensor:
    if fill == "zero":
        return torch.zeros_like(pixels)
    if fill == "mean":
        return pixels.mean((1, 2), keepdim=True).expand_as(pixels)
    side = max(3, (min(pixels.shape[1:]) // 8) | 1)  # an odd kernel, an eighth of the image
    return TF.gaussian_blur(pixels, [side, side])


@checked
@torch.no_grad()
def unit_deletion(
    session: Session, image: ImageLike, target: int | str, attribution: torch.Tensor, layer: str, *, units: Units | None = None, steps: int = 16, seeds: int = 8, batch: int = 32
) -> Deletion:
    """Deletion curve of per-unit values (K,) of `layer`'s units (default: its channels): the
    units' parts of the activations are removed (ablated) in the values' order, in `steps`
    steps, and the same in `seeds` random orders; only the network above the layer runs."""
    layer, image = session.check_layer(layer), session.read(image)
    shape = tuple(session.layer_shape(layer))
    if len(shape) != 3:
        raise NeuroblocksError(f"layer {layer!r} has no positions (shape {shape}); unit deletion removes units' parts of a grid layer")
    units = units_of(layer, shape, units)
    if tuple(attribution.shape) != (units.count,):
        raise NeuroblocksError(f"the values are one per unit, ({units.count},) for {units.description}, not {tuple(attribution.shape)}")
    c = session.class_index(target)
    above = session.above(image, layer)
    a = session.trace(image, layer, logits=False)[layer]
    codes, atoms = units.codes(a.float()), units.atoms.float().to(a.device)

    def removed(states: list[torch.Tensor]) -> torch.Tensor:
        out = []
        for chunk in torch.stack(states).split(batch):
            gone = (~chunk).float().to(codes)
            edited = a[None] - torch.einsum("nk,khw,kc->nchw", gone, codes, atoms).to(a)
            out.append(_probability(session, above(edited).logits, c))
        return torch.cat(out)

    return _curves(units.count, min(steps, units.count), seeds, attribution.float().cpu(), removed, f"{units.count} {units.noun}s of {layer}")
