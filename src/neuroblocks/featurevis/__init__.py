"""Feature visualization (docs/explanations/feature-visualization.md): images that maximise an objective on the network's
activations, in a Fourier, channel-decorrelated parameterisation with robustness transforms,
batched, truncated at the deepest layer needed, cancellable, and cached as icons."""

from .all_icons import render_icons
from .icon_cache import direction_icons, icon_service, icons
from .objectives import FeatureVisError, Objective, channel, class_logit, direction, diversity, l1, l2, neuron, total_variation
from .param import estimate_decorrelation
from .render import RenderStep, render
from .settings import Budget, FeatureVisSettings, configure, full_budget, settings

__all__ = [
    "Budget",
    "FeatureVisError",
    "FeatureVisSettings",
    "Objective",
    "RenderStep",
    "channel",
    "class_logit",
    "configure",
    "direction",
    "direction_icons",
    "diversity",
    "estimate_decorrelation",
    "full_budget",
    "icon_service",
    "icons",
    "l1",
    "l2",
    "neuron",
    "render",
    "render_icons",
    "settings",
    "total_variation",
]
