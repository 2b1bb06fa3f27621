"""The shapes world and its model: the offline default whose ground truth is known."""

from .model import ShapesNet, pretrained
from .world import CLASSES, COLORS, SHAPES, SIZE, TEXTURES, Scene, ShapeObject, class_concepts, scene

__all__ = ["CLASSES", "COLORS", "SHAPES", "SIZE", "TEXTURES", "Scene", "ShapeObject", "ShapesNet", "class_concepts", "pretrained", "scene"]
