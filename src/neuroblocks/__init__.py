"""neuroblocks: linked widgets for the building blocks of interpretability, on any PyTorch model."""

from . import attribution, factorization, featurevis, shapes
from .factorization import factorize, factorize_layers
from .errors import AttributionError, ImageError, NeuroblocksError, UnknownClassError, UnknownLayerError, WeightsUnavailableError
from .images import load_image
from .session import Above, Session, Trace

__all__ = [
    "Above",
    "AttributionError",
    "ImageError",
    "NeuroblocksError",
    "Session",
    "Trace",
    "UnknownClassError",
    "UnknownLayerError",
    "WeightsUnavailableError",
    "attribution",
    "factorization",
    "featurevis",
    "factorize",
    "factorize_layers",
    "load_image",
    "shapes",
]
__version__ = "0.1.0"
