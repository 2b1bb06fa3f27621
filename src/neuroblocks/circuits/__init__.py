"""Attribution graphs over units: which units of several layers carry one decision, tested by
switching them off (docs/explanations/graphs.md)."""

from .checks import Faithfulness, measure
from .consensus import shared_units
from .edit import Edit, shared_edit, unit_means
from .graph import Graph, GraphError, Node, graph, target_value
from .influence import influence, prune

__all__ = ["Edit", "Faithfulness", "Graph", "GraphError", "Node", "graph", "influence", "measure", "prune", "shared_edit", "shared_units", "target_value", "unit_means"]
