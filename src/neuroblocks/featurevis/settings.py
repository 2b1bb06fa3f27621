"""Feature visualization's defaults for one session: the icon size and steps wherever none are
given (`render`, `icons`, `FeatureVis` and the views), the full budget that the views' icons
refine to, and the channel decorrelation. Kept per session (`Session.state`), starting from what
the model catalogue suggests for the model (the small shapes models: smaller, quicker icons),
changed with `configure`.

Two budgets, because one cannot serve both: on a trained MobileNetV2 the views' quick budget (64
px, 256 steps, 0.8 s an icon on a 2-core CPU) makes 5 of 10 `features.14.conv.0` channels the top
channel on their own icon, the full budget (128 px, 512 steps, 4.5 s an icon) 9 of 10
(docs/explanations/feature-visualization.md). Views show the quick icons at once and refine the
ones on screen to the full budget behind them."""

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
    optimisation's steps; full_size, full_steps, refine: the full budget of icons that refine
    themselves in views (`full_budget`); decorrelation: a C×C channel mix for the Fourier image (None: ImageNet's
    for RGB, identity otherwise; `estimate_decorrelation` makes one from your data)."""

    size: int = 64
    steps: int = 256
    decorrelation: torch.Tensor | None = None
    full_size: int = 128
    full_steps: int | None = None  # None: 512 on a CPU, 1024 on a GPU (`full_budget`)
    refine: bool = True  # whether views refine the icons on screen to the full budget


@checked
def settings(session: Session) -> FeatureVisSettings:
    """The session's feature-visualization settings."""
    return session.state("featurevis", lambda s: FeatureVisSettings(**s.model_defaults.get("icons", {})))


@dataclass(frozen=True)
class Budget:
    """What one icon costs and shows: its side in px and its optimisation's steps, and a note
    of where that budget comes from."""

    size: int
    steps: int
    note: str = ""

    def __str__(self) -> str:
        return f"{self.size} px · {self.steps} steps" + (f" ({self.note})" if self.note else "")


@checked
def full_budget(session: Session) -> Budget:
    """The budget icons refine to: `full_size`, and `full_steps` or, by default, 512 steps on a
    CPU and 1024 on a GPU, where a step costs a tenth as much."""
    s = settings(session)
    gpu = session.device.type != "cpu"
    steps = s.full_steps or (1024 if gpu else 512)
    return Budget(s.full_size, steps, "set" if s.full_steps else ("GPU" if gpu else "CPU"))


@checked
def configure(
    session: Session,
    *,
    size: int | None = None,
    steps: int | None = None,
    decorrelation: torch.Tensor | np.ndarray | None = None,
    full_size: int | None = None,
    full_steps: int | None = None,
    refine: bool | None = None,
) -> Session:
    """Set the session's feature-visualization settings (those given), checked now; returns the session."""
    given: dict = {k: int(v) for k, v in {"size": size, "steps": steps, "full_size": full_size, "full_steps": full_steps}.items() if v is not None}
    if any(v < 1 for v in given.values()):
        raise ValueError(f"icon sizes and steps are positive integers; got {given}")
    if refine is not None:
        given["refine"] = bool(refine)
    if decorrelation is not None:
        mix = torch.as_tensor(decorrelation, dtype=torch.float32)
        c = session.channels
        if tuple(mix.shape) != (c, c):
            raise ChannelError(f"decorrelation is a {c}×{c} matrix for this {c}-channel model, not {tuple(mix.shape)}")
        given["decorrelation"] = mix
    session.set_state("featurevis", replace(settings(session), **given))
    return session
