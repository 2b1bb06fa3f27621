"""neuroblocks: linked widgets for the building blocks of interpretability, on any PyTorch model."""

from . import atlas, attribution, circuits, compare, datasets, dictionary, dissection, examples, factorization, faithfulness, featurevis, microscopy, precision, scale, shapes, units, widgets, work
from .ablation import ablate
from .circuits import graph
from .decoded import Decoded
from .dictionary import train_dictionary
from .errors import AttributionError, ImageError, NeuroblocksError, UnknownClassError, UnknownLayerError, WeightsUnavailableError
from .factorization import factorize, factorize_layers
from .featurevis import direction_icons, icons
from .images import load_image
from .microscopy import MicroscopeStore, microscope
from .above import Above
from .scale import Recipe
from .session import Session, Trace
from .widgets import (
    ActivationAtlas,
    ActivationGrid,
    AttributionGraph,
    ChannelAttribution,
    ClassComparison,
    DissectionView,
    FeatureVis,
    GroupFlow,
    Microscope,
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
    "Decoded",
    "train_dictionary",
    "Recipe",
    "ablate",
    "circuits",
    "graph",
    "direction_icons",
    "icons",
    "microscope",
    "MicroscopeStore",
    "microscopy",
    "ActivationAtlas",
    "ActivationGrid",
    "AttributionGraph",
    "ChannelAttribution",
    "ClassComparison",
    "DissectionView",
    "FeatureVis",
    "GroupFlow",
    "Microscope",
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
    "datasets",
    "dictionary",
    "dissection",
    "examples",
    "factorization",
    "faithfulness",
    "featurevis",
    "precision",
    "factorize",
    "factorize_layers",
    "load_image",
    "scale",
    "shapes",
    "units",
    "work",
]
__version__ = "0.1.0"
