"""Render feature visualizations: optimise one image per objective, in one batch.

The forward pass stops at the deepest layer any objective reads (the network above never runs
unless an objective reads the logits). A `RenderStep` is reported every step, intermediate images at
the steps listed in `thresholds`, and `cancel` is checked every step, so long renders can run in
a thread behind a widget.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from ..keywords import checked
from ..session import Session
from .settings import settings
from ..work import Cancelled
from . import clamps, transforms
from .objectives import INPUT, LOGITS, FeatureVisError, Objective, prefix_key
from .param import FourierImage
from .redirected import redirected_gradients
from .sizes import default_size, input_side


def cancel_check(cancel: threading.Event | Callable[[], bool] | None) -> Callable[[], bool]:
    """A cancel Event, callable or None, as one callable."""
    return cancel.is_set if isinstance(cancel, threading.Event) else (cancel or (lambda: False))


@dataclass(frozen=True)
class RenderStep:
    """Reported after each step: objective values (N,), and images (uint8) at thresholds."""

    step: int
    steps: int
    values: np.ndarray
    images: np.ndarray | None


def to_uint8(images: torch.Tensor) -> np.ndarray:
    """(N, C, H, W) in [0, 1] → (N, H, W, C) uint8."""
    return (images.detach().clamp(0, 1) * 255).round().to(torch.uint8).permute(0, 2, 3, 1).cpu().numpy()


def start_seeds(objectives: Sequence[Objective], seed: int) -> list[int]:
    """Each image's starting seed: `seed`, plus how many earlier images have the same objective.

    Distinct objectives all start alike, so an icon does not depend on its batch; repeats of one
    objective (a set rendered for diversity) start apart, or they could never differ.
    """
    seen: dict[str, int] = {}
    seeds = []
    for obj in objectives:
        seeds.append(seed + seen.get(obj.description, 0))
        seen[obj.description] = seen.get(obj.description, 0) + 1
    return seeds


#: Where an icon is shown to the model: at its own size, or enlarged to the model's input size as Lucent does.
PLACES = ("native", "input")


@dataclass(frozen=True)
class _Evaluator:
    """One step's pass: the objectives' values on a batch of transformed images."""

    session: Session
    objectives: Sequence[Objective]
    layers: list[str]
    clamped: dict[str, torch.nn.Module]  # layers read before their clamp, with it (`clamps.clamped`)
    needs_logits: bool
    channels_last: bool
    side: tuple[int, int] | None  # the size the model is shown, when not the icon's own

    def __call__(self, images: torch.Tensor) -> torch.Tensor:
        x = images.contiguous(memory_format=torch.channels_last) if self.channels_last else images
        if self.side is not None and tuple(x.shape[-2:]) != self.side:
            x = F.interpolate(x, size=self.side, mode="bilinear", align_corners=False)
        with clamps.before_clamps(self.session, self.clamped) as unclamped:
            p = self.session.forward(x, capture=self.layers, stop=not self.needs_logits)
        acts = {**p.activations, **unclamped, **{prefix_key(layer): value for layer, value in p.prefixes.items()}, INPUT: images, LOGITS: p.logits}
        return torch.stack([obj(acts)[i] for i, obj in enumerate(self.objectives)])

    def first(self, images: torch.Tensor, param: FourierImage) -> torch.Tensor:
        """The first pass, with the failures a user can fix turned into clear errors."""
        try:
            return self(images)
        except RuntimeError as e:
            text = str(e)
            if any(s in text for s in ("too small", "Kernel size can't be greater", "Output size is")):
                raise FeatureVisError(f"an image of {param.h}×{param.w} px is too small for this network ({text.splitlines()[0]}); use a larger size") from e
            raise


@checked
def render(
    session: Session,
    objectives: Objective | Sequence[Objective],
    size: int | None = None,
    steps: int | None = None,
    seed: int = 0,
    progress: Callable[[RenderStep], None] | None = None,
    *,
    lr: float = 0.05,
    thresholds: Sequence[int] = (),
    cancel: threading.Event | Callable[[], bool] | None = None,
    channels_last: bool | None = None,
    redirect_steps: int = 16,
    at: str = "native",
    before_clamp: bool = True,
) -> np.ndarray:
    """One image per objective, (N, size, size, 3) uint8, after `steps` Adam steps (the final image),
    drawn as the session draws its inputs (grayscale or a composite for models that are not RGB).
    size defaults to one that gives the objectives' layers a grid of a few cells a side (see
    `sizes`), steps to the session's (`featurevis.settings`), as icons and views do.

    before_clamp: a layer that ends in a clamp (ReLU6) is optimised on what the clamp receives
    (see `clamps`); False optimises the clamped output, which stops improving at the ceiling.

    at: "native" shows the model the icon at its own size, so a unit's picture is drawn at the
    scale of the icon; "input" enlarges it to the model's input size first, as Lucent does, so
    the picture is drawn at the scale the model sees photos (what an icon scores at 224 px).
    channels_last: feed the model channels-last tensors (default: on the CPU, where it is faster).
    redirect_steps: for this many first steps, let gradient reach units that are off on the
    starting image (see `redirected`); 0 turns it off.
    Raises Cancelled (with the images so far) when `cancel` is set. Works inside `torch.no_grad()`
    and `torch.inference_mode()`.
    """
    objectives = [objectives] if isinstance(objectives, Objective) else list(objectives)
    if not objectives:
        raise FeatureVisError("render needs at least one objective")
    if at not in PLACES:
        raise FeatureVisError(f"at={at!r}: say \"native\" (the model sees the icon at its own size) or \"input\" (enlarged to the model's input size)")
    for obj in objectives:
        obj.check(session)
    needed = set().union(*(obj.layers for obj in objectives))
    size, steps = size or default_size(session, needed), steps or settings(session).steps
    layers = [layer for layer in session.layers if layer in needed]
    side = session.fixed_size or ((input_side(session),) * 2 if at == "input" else None)
    evaluate = _Evaluator(session, objectives, layers, clamps.clamped(session, layers) if before_clamp else {}, LOGITS in needed or not layers, session.device.type == "cpu" if channels_last is None else channels_last, side)
    with torch.inference_mode(False), torch.enable_grad():  # also inside a user's `no_grad` or `inference_mode` block
        param = FourierImage(start_seeds(objectives, seed), size, size, session.device, session.channels, settings(session).decorrelation)
        _optimise(evaluate, param, torch.Generator().manual_seed(seed), torch.optim.Adam(param.parameters(), lr=lr), steps, cancel_check(cancel), progress, set(thresholds), redirect_steps)
    with torch.no_grad():
        return _shown(session, param)


def _shown(session: Session, param: FourierImage) -> np.ndarray:
    return to_uint8(session.display(param().detach()))


def _optimise(evaluate: _Evaluator, param, g, optimizer, steps, is_cancelled, progress, marks, redirect_steps) -> None:
    session, objectives = evaluate.session, evaluate.objectives
    for step in range(1, steps + 1):
        if is_cancelled():
            raise Cancelled(step - 1, _shown(session, param))
        optimizer.zero_grad()
        # Redirection only matters while units are still off; once on, it returns the plain
        # gradient anyway, so later steps skip its cost.
        with redirected_gradients(step <= redirect_steps):
            images = transforms.standard(param(), g)
            values = evaluate.first(images, param) if step == 1 else evaluate(images)
        if values.grad_fn is not None:
            (-values.sum()).backward()
        if param.spectrum.grad is None:  # zero_grad leaves None until a backward reaches the image
            raise FeatureVisError(f"{', '.join(o.description for o in objectives)}: no gradient path from the image to what these objectives read; pick a layer computed from the input")
        # A unit that is off on the starting image, even with redirected ReLUs, gets zero gradient
        # and keeps its starting image; that is an answer about the unit, not an error.
        optimizer.step()
        if progress is not None:
            progress(RenderStep(step, steps, values.detach().cpu().numpy(), _shown(session, param) if step in marks else None))
