"""neuroblocks: linked widgets for the building blocks of interpretability, on any PyTorch model."""

from . import atlas, attribution, compare, dissection, factorization, featurevis, scale, shapes, widgets, work
from .factorization import factorize, factorize_layers
from .errors import AttributionError, ImageError, NeuroblocksError, UnknownClassError, UnknownLayerError, WeightsUnavailableError
from .images import load_image
from .session import Above, Session, Trace
from .widgets import (
    ActivationAtlas,
    ActivationGrid,
    ChannelAttribution,
    ClassComparison,
    Dissection,
    FeatureVis,
    GroupFlow,
    ModelComparison,
    NeuronGroups,
    SemanticDictionary,
    SpatialAttribution,
    UnitBrowser,
    column,
    link,
    link_traits,
    row,
    to_html,
)

__all__ = [
    "Above",
    "ActivationAtlas",
    "ActivationGrid",
    "ChannelAttribution",
    "ClassComparison",
    "Dissection",
    "FeatureVis",
    "GroupFlow",
    "ModelComparison",
    "NeuronGroups",
    "SemanticDictionary",
    "SpatialAttribution",
    "UnitBrowser",
    "column",
    "link",
    "link_traits",
    "row",
    "to_html",
    "widgets",
    "AttributionError",
    "ImageError",
    "NeuroblocksError",
    "Session",
    "Trace",
    "UnknownClassError",
    "UnknownLayerError",
    "WeightsUnavailableError",
    "atlas",
    "attribution",
    "compare",
    "dissection",
    "factorization",
    "featurevis",
    "factorize",
    "factorize_layers",
    "load_image",
    "scale",
    "shapes",
    "work",
]
__version__ = "0.1.0"
