"""Attribution: how much each atom of a layer (neuron, position, channel, any unit) matters to a
target, as activation × gradient (docs/explanations/attribution.md), between hidden layers and to all classes at once.

`target` is a class name or index, a pair (a, b) meaning logit a minus logit b, a callable on
the logits (N, classes) → (N,), or `Hidden(layer, fn)` for a quantity on a higher layer.
`settings(session)` says how a session's attribution runs (rule, precision, memory budget) and
`configure(session, ...)` changes it.
A token layer's patch tokens are positions; its prefix tokens (class, register) have their own
`prefix_tokens` attribution, are counted in `channel`, and are the last position atoms of
`to_classes` and `layer_to_layer` (see `tokens`).
Options: `rule=` "conservative" (default: normalisation scales and softmax weights held
constant, see `rules`) or "gradient" (the plain derivative, as Captum takes it); `relax=True`
relaxes max-pool gradients; `smoothing=True` smooths gradient maps (cosmetic);
`steps=N` (and `baseline=`) on `spatial`, `channel` and `unit` integrates the gradient along the
path from zero activations (or a baseline image's); `integrated` gives the path's completeness. Any units of a layer
(`neuroblocks.units`: directions, neuron groups, a dictionary's latents) are atoms too: `unit`,
and `units=` of `to_classes` and `layer_to_layer`.
"""

from .. import attribution_rules as rules
from .settings import AttributionSettings, configure, settings
from .integrated import Integrated, integrated
from .per_atom import channel, layer_to_layer, neuron, prefix_tokens, spatial, to_classes, unit
from .targets import Hidden

__all__ = ["AttributionSettings", "Hidden", "Integrated", "integrated", "configure", "settings", "channel", "layer_to_layer", "neuron", "prefix_tokens", "rules", "spatial", "to_classes", "unit"]
