"""Feature visualization (SPEC §3): images that maximise an objective on the network's
activations, in a Fourier, channel-decorrelated parameterisation with robustness transforms,
batched, truncated at the deepest layer needed, cancellable, and cached as icons."""

from .all_icons import render_icons
from .objectives import FeatureVisError, Objective, channel, class_logit, direction, diversity, l1, l2, neuron, total_variation
from .param import estimate_decorrelation
from .render import Cancelled, Progress, render

__all__ = [
    "Cancelled",
    "FeatureVisError",
    "Objective",
    "Progress",
    "channel",
    "class_logit",
    "direction",
    "diversity",
    "estimate_decorrelation",
    "l1",
    "l2",
    "neuron",
    "render",
    "render_icons",
    "total_variation",
]
