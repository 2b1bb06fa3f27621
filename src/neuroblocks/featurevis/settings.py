"""Feature visualization's defaults for one session: the icon size and steps wherever none are
given (`render`, `icons`, `FeatureVis` and the views) and the channel decorrelation. Kept per
session (`Session.state`), starting from what the model catalogue suggests for the model (the
small shapes models: smaller, quicker icons), changed with `configure`."""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
import torch

from ..channels import ChannelError
from ..keywords import checked
from ..session import Session


@dataclass(frozen=True)
class FeatureVisSettings:
    """size: px of an icon before it grows to fit its layer (`sizes.default_size`); steps: the
    optimisation's steps; decorrelation: a C×C channel mix for the Fourier image (None: ImageNet's
    for RGB, identity otherwise; `estimate_decorrelation` makes one from your data)."""

    size: int = 64
    steps: int = 256
    decorrelation: torch.Tensor | None = None


@checked
def settings(session: Session) -> FeatureVisSettings:
    """The session's feature-visualization settings."""
    return session.state("featurevis", lambda s: FeatureVisSettings(**s.model_defaults.get("icons", {})))


@checked
def configure(
    session: Session, *, size: int | None = None, steps: int | None = None, decorrelation: torch.Tensor | np.ndarray | None = None
) -> Session:
    """Set the session's feature-visualization settings (those given), checked now; returns the session."""
    given: dict = {k: int(v) for k, v in {"size": size, "steps": steps}.items() if v is not None}
    if decorrelation is not None:
        mix = torch.as_tensor(decorrelation, dtype=torch.float32)
        c = session.channels
        if tuple(mix.shape) != (c, c):
            raise ChannelError(f"decorrelation is a {c}×{c} matrix for this {c}-channel model, not {tuple(mix.shape)}")
        given["decorrelation"] = mix
    session.set_state("featurevis", replace(settings(session), **given))
    return session
