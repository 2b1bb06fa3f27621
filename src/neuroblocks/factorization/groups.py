"""Neuron groups: factors of one layer's activation cube, ordered, coloured and attributed.

Whatever the factorization was prioritised by, each group is also given an activation-space
channel direction (the activations fitted onto its spatial factor), so that every group can be
drawn as a feature visualization and attributed to classes the same way.
"""

from __future__ import annotations

import colorsys
import hashlib
from dataclasses import dataclass, field

import numpy as np
import torch

from .. import attribution_rules as rules
from .. import precision
from ..attribution.jacobian import attribution_matrix
from ..attribution.settings import settings as attribution_settings
from ..session import Session
from ..units import Directions, Parts, Units, UnitsError


@dataclass(frozen=True)
class Groups(Units):
    """k groups of one layer, ordered left to right by the column of their spatial peak: units of
    the image they were found on (`neuroblocks.units`), code = spatial factor, atom = direction.

    spatial: (k, H, W) spatial factors. channels: (k, C) activation-space directions.
    error: relative reconstruction error of the factorised matrix. to_classes: (k, classes),
    each group's attribution (reconstruction × gradient) to every logit. colors: (k, 3) uint8,
    hue n·360/k. converged: False if the solver hit its iteration limit. split_signs: NMF was
    given the signed matrix as its positive and negative parts side by side.
    """

    layer: str
    spatial: torch.Tensor
    channels: torch.Tensor
    error: float
    to_classes: torch.Tensor
    colors: np.ndarray
    method: str
    prioritize: object
    converged: bool
    split_signs: bool = False
    found_by: str = ""  # said instead of the method, e.g. "the strongest latents of a dictionary of 512 latents (…)"
    latents: tuple[int, ...] = ()  # groups that are a dictionary's latents: which latent each is
    drawn_by: torch.Tensor | None = field(default=None, compare=False)  # (k, C) what icons maximise, if not `channels`

    noun = "group"
    linear = False

    @property
    def count(self) -> int:
        return len(self.channels)

    @property
    def atoms(self) -> torch.Tensor:
        return self.channels

    def codes(self, a: torch.Tensor) -> torch.Tensor:
        """The spatial factors, whatever the input: a group is a part of the image it was found
        on, so ablating it removes that same part from every pass (and its code has no gradient)."""
        if tuple(a.shape[-2:]) != tuple(self.spatial.shape[1:]):
            raise UnitsError(f"these groups are of a {tuple(self.spatial.shape[1:])} grid of {self.layer!r}, not {tuple(a.shape[-2:])}")
        s = self.spatial.to(a.device, a.dtype)
        return s if a.dim() == 3 else s[None].expand(a.shape[0], -1, -1, -1)

    def prefix_codes(self, prefix: torch.Tensor) -> torch.Tensor:
        """None: a group is a part of the patch grid."""
        return prefix.new_zeros(*prefix.shape[:-1], self.count)

    @property
    def icon_key(self) -> str:
        return f"{self.layer}:groups-{hashlib.sha256(self.channels.cpu().numpy().tobytes()).hexdigest()[:10]}"

    def icon_direction(self, u: int) -> torch.Tensor:
        return (self.channels if self.drawn_by is None else self.drawn_by)[u]

    def for_any_image(self) -> Directions:
        return Directions(self.layer, (self.channels if self.drawn_by is None else self.drawn_by).float().cpu(), noun="group")

    @property
    def description(self) -> str:
        """How the groups were found, e.g. "NMF of activations" or "NMF of activations' ± parts"."""
        if self.found_by:
            return self.found_by
        what = self.prioritize if isinstance(self.prioritize, str) else "+".join(self.prioritize)
        return f"{self.method.upper()} of {what}" + ("' ± parts" if self.split_signs else "")

    @property
    def masks(self) -> torch.Tensor:
        """Spatial factors for display: divided by their 99th percentile over all groups, in [0, 1]."""
        scale = torch.quantile(self.spatial.flatten().float(), 0.99).clamp(min=1e-12)
        return (self.spatial / scale).clamp(0, 1)

    def reconstruction(self) -> torch.Tensor:
        """(k, C, H, W): each group's part of the activations, spatial factor × channel direction."""
        return self.channels[:, :, None, None] * self.spatial[:, None]

    def top_classes(self, session: Session, n: int = 5) -> list[list[tuple[str, float]]]:
        """The classes each group supports most: [[(label, attribution)]] per group."""
        values, indices = self.to_classes.topk(min(n, self.to_classes.shape[1]), dim=1)
        return [[(session.class_name(int(i)), float(v)) for v, i in zip(vs, ids)] for vs, ids in zip(values, indices)]


def left_to_right(spatial: np.ndarray, width: int) -> np.ndarray:
    """Order of groups by (column, row) of each spatial factor's peak (docs/explanations/neuron-groups.md)."""
    peaks = spatial.argmax(axis=0)
    return np.lexsort((peaks // width, peaks % width))


def hues(k: int) -> np.ndarray:
    """Group n gets hue n·360/k."""
    return np.array([[round(255 * c) for c in colorsys.hsv_to_rgb(n / k, 0.75, 0.95)] for n in range(k)], dtype=np.uint8)


def activation_directions(activations: np.ndarray, spatial: np.ndarray, nonnegative: bool) -> np.ndarray:
    """(k × C) directions such that activations ≈ spatial @ directions, spatial held fixed."""
    if nonnegative:
        from sklearn.decomposition import non_negative_factorization  # here, not at the top: importing scikit-learn takes 0.5 s that `import neuroblocks` need not pay

        directions_t, _, _ = non_negative_factorization(
            activations.T, H=spatial.T, n_components=spatial.shape[1], update_H=False, max_iter=1000
        )
        return directions_t.T
    return np.linalg.lstsq(spatial, activations, rcond=None)[0]


def build_groups(
    session: Session, image, layer: str, a: torch.Tensor, spatial: np.ndarray, directions: np.ndarray, latents: np.ndarray | None = None, drawn_by: torch.Tensor | None = None, **about
) -> Groups:
    """Groups from spatial factors (H·W × k) and directions (k × C): ordered left to right,
    coloured, and attributed to every class by the all-class engine (one forward-mode pass per
    group). `about` fills the remaining fields (error, converged, method, prioritize)."""
    k, (_, h, w) = spatial.shape[1], a.shape
    order = left_to_right(spatial, w)
    spatial_t = torch.from_numpy(np.ascontiguousarray(spatial[:, order].T)).to(a).reshape(k, h, w)
    channels_t = torch.from_numpy(np.ascontiguousarray(directions[order])).to(a)
    above = session.above(image, layer)

    def logits(x: torch.Tensor) -> torch.Tensor:
        with rules.applied(attribution_settings(session).rule):
            return above(x).logits

    with precision.applied(attribution_settings(session).precision):
        to_classes = attribution_matrix(logits, a, Parts(spatial_t, channels_t), len(session.labels), budget=attribution_settings(session).memory_budget, lock=session.lock).T
    ordered = () if latents is None else tuple(int(m) for m in np.asarray(latents)[order])
    icons = None if drawn_by is None else drawn_by[torch.from_numpy(order)]
    return Groups(layer=layer, spatial=spatial_t, channels=channels_t, to_classes=to_classes, colors=hues(k), latents=ordered, drawn_by=icons, **about)
