"""Matrix factorization of activation cubes into neuron groups (docs/explanations/neuron-groups.md): which positions and
channels act together, prioritised by activations, gradients or attributions, and groups that
compose across layers."""

from .compatible import Flow, factorize_layers
from .groups import Groups
from .one_layer import factorize
from .overview import overview_colors

__all__ = ["Flow", "Groups", "factorize", "factorize_layers", "overview_colors"]
