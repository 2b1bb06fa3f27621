"""The interfaces of the article as linked anywidget views (docs/views.md)."""

from .activation_atlas import ActivationAtlas
from .activation_grid import ActivationGrid
from .attribution_graph import AttributionGraph
from .base import View
from .channel_attribution import ChannelAttribution
from .class_comparison import ClassComparison
from .dissection_view import DissectionView
from .export import to_html
from .feature_vis import FeatureVis
from .group_flow import GroupFlow
from .arrange import column, row
from .model_comparison import ModelComparison
from .linking import Links, link, link_traits
from .microscope_view import Microscope
from .neuron_groups import NeuronGroups
from .semantic_dictionary import SemanticDictionary
from .spatial_attribution import SpatialAttribution
from .unit_browser import UnitBrowser

__all__ = [
    "ActivationAtlas",
    "ActivationGrid",
    "AttributionGraph",
    "ChannelAttribution",
    "ClassComparison",
    "DissectionView",
    "FeatureVis",
    "GroupFlow",
    "Links",
    "Microscope",
    "ModelComparison",
    "NeuronGroups",
    "SemanticDictionary",
    "SpatialAttribution",
    "UnitBrowser",
    "View",
    "column",
    "link",
    "link_traits",
    "row",
    "to_html",
]
