"""Ablation: switch units of a layer off and watch the decision change (docs/guides/faithfulness.md).

An `Ablation` is a forward hook on the layer's module that edits its output: listed channels,
positions, one neuron group's part of the activations, or trained latents' parts (each input's
code × atom, recomputed for every input) are set to zero, or to their mean over
the image's positions (mode="mean": the unit keeps its average level but loses all spatial
information). It is a layer edit of the session (`Session.edit`): while one is active the
session's caches and icon fingerprint carry its description, so nothing computed under it is
served without it, or the other way round, and it holds the session's lock: passes of other
threads (icons rendering behind a view) wait until it ends instead of running half ablated.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import TYPE_CHECKING

import torch

from .errors import NeuroblocksError
from .keywords import checked
from .session import Session

if TYPE_CHECKING:
    from .decoded import Decoded
    from .dictionary import Dictionary
    from .factorization import Groups
    from .images import ImageLike

MODES = ("zero", "mean")


@checked
def ablate(
    session: Session,
    layer: str,
    *,
    channels: Sequence[int] | None = None,
    positions: Sequence[Sequence[int]] | None = None,
    group: tuple[Groups, int] | None = None,
    latents: tuple[Dictionary, Sequence[int]] | None = None,
    mode: str = "zero",
) -> Ablation:
    """A context manager that switches units of `layer` off: `channels` [c, …], `positions`
    [[y, x], …] (a token layer's prefix token p is [-1, p]), `group` (groups, n) from
    `factorize`, or `latents` (dictionary, [m, …]) of a trained dictionary of the layer; mode
    "zero" or "mean" (the unit's mean over positions). `.change(image)` gives the logit change
    it causes: `with nb.ablate(session, "mixed4d", channels=[3]) as off: …`."""
    return Ablation(session, layer, channels=channels, positions=positions, group=group, latents=latents, mode=mode)


class Ablation:
    """A context manager: `with nb.ablate(session, layer, channels=[…]) as ablation: …`."""

    def __init__(
        self,
        session: Session,
        layer: str,
        *,
        channels: Sequence[int] | None = None,
        positions: Sequence[Sequence[int]] | None = None,
        group: tuple[Groups, int] | None = None,
        latents: tuple[Dictionary, Sequence[int]] | None = None,
        mode: str = "zero",
    ) -> None:
        self.session, self.layer, self.mode = session, session.check_layer(layer), mode
        self.layout = session.layout(self.layer)
        shape = self.layout.shape
        if mode not in MODES:
            raise NeuroblocksError(f"ablation mode is 'zero' or 'mean', not {mode!r}")
        if sum(x is not None for x in (channels, positions, group, latents)) != 1:
            raise NeuroblocksError("ablate exactly one of: channels=[…], positions=[[y, x], …], group=(groups, n), latents=(dictionary, [m, …])")
        self.channels = self._checked_channels(channels, shape) if channels is not None else None
        self.positions = self._checked_positions(positions, shape) if positions is not None else None
        self.group = self._checked_group(group) if group is not None else None
        self.latents = self._checked_latents(latents, shape) if latents is not None else None
        self.description = f"ablate {self.layer} {mode} " + (
            f"channels {self.channels}" if self.channels is not None
            else f"positions {self.positions}" if self.positions is not None
            else f"latents {self.latents[1]} of dictionary {self.latents[0].key}" if self.latents is not None
            else f"group {group[1]} of {group[0].method} {group[0].prioritize} k={len(group[0].channels)} {hashlib.sha256(group[0].channels.cpu().numpy().tobytes()).hexdigest()[:12]}"
        )
        self._edit = session.edit(self.layer, self._edited, self.description)

    def _checked_channels(self, channels, shape) -> list[int]:
        picks = [int(c) for c in channels]
        bad = [c for c in picks if not 0 <= c < shape[0]]
        if bad:
            raise NeuroblocksError(f"layer {self.layer!r} has channels 0..{shape[0] - 1}; there is no channel {bad[0]}")
        return picks

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

    def _checked_group(self, group):
        groups, n = group
        if groups.layer != self.layer:
            raise NeuroblocksError(f"these groups are of layer {groups.layer!r}, not {self.layer!r}")
        if not 0 <= int(n) < len(groups.channels):
            raise NeuroblocksError(f"there are {len(groups.channels)} groups; there is no group {n}")
        return groups, int(n)

    def _checked_latents(self, latents, shape):
        d, picks = latents
        if getattr(d, "layer", None) != self.layer:
            raise NeuroblocksError(f"latents= takes a trained dictionary of {self.layer!r} and latent indices, not one of {getattr(d, 'layer', d)!r}")
        if len(shape) != 3:
            raise NeuroblocksError(f"layer {self.layer!r} has no positions (shape {shape}): a dictionary's latents are atoms of a grid layer")
        picks = [int(m) for m in picks]
        bad = [m for m in picks if not 0 <= m < d.latents]
        if bad:
            raise NeuroblocksError(f"the dictionary has latents 0..{d.latents - 1}; there is no latent {bad[0]}")
        return d, picks

    def _part(self, out: torch.Tensor) -> torch.Tensor:
        """The ablated group's or latents' part of the batched output (N, C, H, W)."""
        if self.group is not None:
            groups, n = self.group
            return groups.reconstruction()[n].to(out)[None]
        d, picks = self.latents
        codes = d.codes(out.float())[:, picks]
        return torch.einsum("nkhw,kc->nchw", codes, d.atoms[picks].to(codes)).to(out)

    def edit(self, out: torch.Tensor) -> torch.Tensor:
        """The layer's batched output (N, C, …) with the ablated part removed."""
        if self.group is not None or self.latents is not None:
            part = self._part(out)
            return out - part if self.mode == "zero" else out - part + part.flatten(2).mean(2)[:, :, None, None]
        keep = torch.ones_like(out)
        if self.channels is not None:
            keep[:, self.channels] = 0
        else:
            for y, x in self.positions:
                if y >= 0:
                    keep[:, :, y, x] = 0
        if self.mode == "zero":
            return out * keep
        mean = out.flatten(2).mean(2)[:, :, None, None] if out.dim() == 4 else out.mean(1, keepdim=True)
        return out * keep + mean * (1 - keep)

    def edit_prefix(self, prefix: torch.Tensor, out: torch.Tensor) -> torch.Tensor:
        """A token layer's prefix tokens (N, P, C), edited as `edit` edits its patches `out`: an
        ablated channel is off in every token, position [-1, p] is prefix token p, and a group
        (a factor of the patch grid) and latents leave them alone. "mean" is the patches' mean."""
        if self.group is not None or self.latents is not None:
            return prefix
        keep = torch.ones_like(prefix)
        if self.channels is not None:
            keep[:, :, self.channels] = 0
        else:
            keep[:, [x for y, x in self.positions if y == -1]] = 0
        if self.mode == "zero":
            return prefix * keep
        return prefix * keep + out.flatten(2).mean(2)[:, None, :] * (1 - keep)

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
