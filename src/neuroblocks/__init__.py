"""neuroblocks: linked widgets for the building blocks of interpretability, on any PyTorch model."""

from . import shapes
from .errors import ImageError, NeuroblocksError, UnknownClassError, UnknownLayerError, WeightsUnavailableError
from .images import load_image
from .session import Above, Session, Trace

__all__ = [
    "Above",
    "ImageError",
    "NeuroblocksError",
    "Session",
    "Trace",
    "UnknownClassError",
    "UnknownLayerError",
    "WeightsUnavailableError",
    "load_image",
    "shapes",
]
__version__ = "0.1.0"
