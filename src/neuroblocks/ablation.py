"""Ablation: switch units of a layer off and watch the decision change (docs/guides/faithfulness.md).

An `Ablation` is a forward hook on the layer's module that edits its output: listed units
(channels by default, or any units of the layer: directions, neuron groups, a dictionary's
latents, `neuroblocks.units`) or positions are set to zero, or to their mean over the
image's positions (mode="mean": the unit keeps its average level but loses all spatial
information). A unit's part is its code × atom, recomputed for every input. It is a layer edit of
the session (`Session.edit`): while one is active the session's caches and icon fingerprint
carry its description, so nothing computed under it is served without it, or the other way
round, and it holds the session's lock: passes of other threads (icons rendering behind a
view) wait until it ends instead of running half ablated.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import torch

from .errors import NeuroblocksError
from .keywords import checked
from .session import Session
from .units import Units, units_of

if TYPE_CHECKING:
    from .decoded import Decoded
    from .images import ImageLike

MODES = ("zero", "mean")


class Ablation:
    """A context manager that switches units of `layer` off: `off` [u, …] of `units` (default:
    the layer's channels; or a dictionary, groups, directions), or `positions` [[y, x], …] (a
    token layer's prefix token p is [-1, p]); mode "zero" or "mean" (the unit's mean over
    positions); `scale` multiplies the listed units' parts instead of removing them (0: off, 2:
    doubled: steering); `to` sets each listed unit's code to a constant at every position instead
    (its mean over a dataset: the unit keeps its average level and loses what tells images apart).
    `.change(image)` gives the logit change it causes:
    `with nb.ablate(session, "mixed4d", [3]) as off: …`, `nb.ablate(session, layer, [m], units=dictionary)`."""

    @checked
    def __init__(
        self,
        session: Session,
        layer: str,
        off: Sequence[int] | None = None,
        *,
        units: Units | torch.Tensor | None = None,
        positions: Sequence[Sequence[int]] | None = None,
        mode: str = "zero",
        scale: float = 0.0,
        to: Sequence[float] | None = None,
    ) -> None:
        self.session, self.layer, self.mode = session, session.check_layer(layer), mode
        self.layout = session.layout(self.layer)
        shape = self.layout.shape
        if mode not in MODES:
            raise NeuroblocksError(f"ablation mode is 'zero' or 'mean', not {mode!r}")
        if (off is None) == (positions is None) or (positions is not None and units is not None):
            raise NeuroblocksError("ablate exactly one of: units [u, …] (with units= for other than channels), positions=[[y, x], …]")
        if mode == "mean" and len(shape) != 3:
            raise NeuroblocksError(f"mode='mean' sets a unit to its mean over positions, and {self.layer!r} has none (shape {shape}); use mode='zero'")
        if scale != 0.0 and (mode != "zero" or positions is not None):
            raise NeuroblocksError("scale= multiplies units' parts; give units [u, …] with mode='zero' (the default)")
        self.scale = float(scale)
        if to is not None and (positions is not None or mode != "zero" or scale != 0.0 or len(to) != len(off or [])):
            raise NeuroblocksError("to= gives one code per listed unit, [c, …] as long as the units [u, …], with mode='zero' and no scale=")
        self.positions = self._checked_positions(positions, shape) if positions is not None else None
        self.units = units_of(self.layer, shape, units) if positions is None else None
        self.off = self.units.checked_picks(off) if positions is None else None
        self.to = None if to is None else torch.tensor([float(v) for v in to])
        what = f"positions {self.positions}" if positions is not None else f"{self.units.noun}s {self.off} of {self.units.icon_key}"
        what += "" if to is None else f" to {[round(float(v), 6) for v in to]}"
        self.description = f"ablate {self.layer} {mode} {what}" + (f" scaled {self.scale:g}" if self.scale else "")
        self._edit = session.edit(self.layer, self._edited, self.description)

    def _checked_positions(self, positions, shape) -> list[list[int]]:
        if len(shape) != 3:
            raise NeuroblocksError(f"layer {self.layer!r} has no positions (shape {shape}); ablate channels instead")
        picks = [[int(y), int(x)] for y, x in positions]
        prefix = self.layout.prefix
        bad = [p for p in picks if not (0 <= p[0] < shape[1] and 0 <= p[1] < shape[2]) and not (p[0] == -1 and 0 <= p[1] < prefix)]
        if bad:
            tokens = f" or a prefix token [-1, 0..{prefix - 1}]" if prefix else ""
            raise NeuroblocksError(f"position {bad[0]} is outside {self.layer!r}'s {shape[1]}×{shape[2]} grid; give [y, x]{tokens}")
        return picks

    def edit(self, out: torch.Tensor) -> torch.Tensor:
        """The layer's batched output (N, C, …) with the ablated part removed."""
        if self.positions is None:
            part = self.units.part(out, self.off)
            if self.to is not None:
                fixed = self.to.to(out) @ self.units.atoms[self.off].to(out)
                return out - part + (fixed[:, None, None] if out.dim() == 4 else fixed)
            return out - (1.0 - self.scale) * part if self.mode == "zero" else out - part + part.flatten(2).mean(2)[:, :, None, None]
        keep = torch.ones_like(out)
        for y, x in self.positions:
            if y >= 0:
                keep[:, :, y, x] = 0
        mean = out.flatten(2).mean(2)[:, :, None, None]
        return out * keep if self.mode == "zero" else out * keep + mean * (1 - keep)

    def edit_prefix(self, prefix: torch.Tensor, out: torch.Tensor) -> torch.Tensor:
        """A token layer's prefix tokens (N, P, C), edited as `edit` edits its patches `out`:
        position [-1, p] is prefix token p, and units remove their part of each token (a channel
        is off in every token; groups and latents, parts of the patch grid, leave them alone).
        "mean" is the patches' mean."""
        mean = out.flatten(2).mean(2)[:, None, :].expand_as(prefix)
        if self.positions is None:
            part = self.units.prefix_part(prefix, self.off)
            if self.to is not None:
                return prefix - part + self.to.to(prefix) @ self.units.atoms[self.off].to(prefix)
            return prefix - (1.0 - self.scale) * part if self.mode == "zero" else prefix - part + self.units.prefix_part(mean, self.off)
        keep = torch.ones_like(prefix)
        keep[:, [x for y, x in self.positions if y == -1]] = 0
        return prefix * keep if self.mode == "zero" else prefix * keep + mean * (1 - keep)

    def _edited(self, native: torch.Tensor) -> torch.Tensor:
        """The layer's own tensor, edited in the canonical layout and returned in its own."""
        grid = self.layout.to_canonical(native)
        if not self.layout.tokens:
            return self.layout.to_native(self.edit(grid))
        return self.layout.to_native(self.edit(grid), self.edit_prefix(self.layout.prefix_of(native), grid))

    def __enter__(self) -> Ablation:
        self._edit.__enter__()
        return self

    def __exit__(self, *exc) -> None:
        self._edit.__exit__(*exc)

    def change(self, image: ImageLike | Decoded) -> torch.Tensor:
        """Logits with this ablation minus logits without, (classes,), whether or not it is active."""
        active = self._edit.active
        if active:
            self.__exit__()
        try:
            image = self.session.read(image)
            before = self.session.trace(image).logits
            with self:
                after = self.session.trace(image).logits
        finally:
            if active:
                self.__enter__()
        return after - before


ablate = Ablation  # `nb.ablate(session, layer, …)` reads as what it does
