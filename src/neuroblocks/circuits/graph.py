"""An attribution graph over units: the few units of several layers, and the edges between them,
that carry one decision on one image (docs/explanations/graphs.md).

Nodes are the image (the input node), each layer's active units (channels, directions, groups or
a dictionary's latents, `neuroblocks.units`) summed over positions, per layer one node for the
active units left out of the graph ("other units") and one for what the units do not reconstruct
("error": a dictionary's reconstruction error, the part of the activations outside a set of
directions), and the target. An edge is the direct effect of a lower node on a higher unit through
the network between their layers, linearised at this image: the lower node's part of the
activations times the gradient of the higher unit's summed code, exactly what
`attribution.layer_to_layer` computes. Edges into the target are the top layer's nodes'
attribution to it. Error and other-unit nodes, like the input, are sources: nothing flows into them.
Influence and pruning follow circuit-tracer (`influence`).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field

import torch

from .. import forward as fw
from .. import precision
from ..ablation import ablate
from ..attribution import atoms as _atoms
from ..attribution import tokens
from ..attribution.gradient import above_fn, activations_and_gradient, gradients_on
from ..attribution.jacobian import attribution_matrix
from ..attribution.settings import settings
from ..attribution.targets import check_order, class_or_pair
from ..decoded import Decoded
from ..errors import NeuroblocksError
from ..images import ImageLike
from ..keywords import checked
from ..session import Session
from ..units import Units, units_of
from .checks import Faithfulness, measure
from .influence import influence, prune

#: Units per layer whose edges are computed: the active ones with the largest attribution to the target.
PER_LAYER = 64
#: A part of the activations smaller than this share of their norm makes no node ("error" of a complete basis).
NEGLIGIBLE = 1e-4


class GraphError(NeuroblocksError, ValueError):
    """A graph asked of layers, units or a target it cannot be built for."""


@dataclass(frozen=True)
class Node:
    """One node: `kind` is "input", "unit", "other", "error" or "target"; a unit node's `unit` is
    its index in its layer's units and `value` its code summed over positions; `attribution` is
    the node's linear attribution to the target (its part of the activations times the target's
    gradient at its layer); `influence` its influence over all paths (`influence`)."""

    kind: str
    layer: str | None
    unit: int | None
    value: float
    attribution: float
    influence: float

    @property
    def name(self) -> str:
        if self.kind == "unit":
            return f"{self.layer}:{self.unit}"
        return self.kind if self.layer is None else f"{self.layer}:{self.kind}"


@dataclass
class Graph:
    """What `graph` returns. `adjacency[i, j]` is the edge from node j into node i (all nodes);
    `kept` and `edges` the pruned graph; `maps` each kept unit node's code over the image."""

    session: Session
    image: Decoded
    target: int | tuple[int, int]
    layers: list[str]
    units: list[Units]
    nodes: list[Node]
    adjacency: torch.Tensor
    kept: torch.Tensor
    edges: torch.Tensor
    maps: dict[int, torch.Tensor]
    #: per layer: the share of the target's attribution at that layer (in absolute value, summed
    #: over its nodes) that its kept unit nodes carry
    explained: dict[str, float]
    #: the shares of influence on the target that enter through error nodes (what the units do not
    #: reconstruct) and through other-unit nodes (active units left out), not the input
    error_share: float
    other_share: float
    seconds: float
    node_share: float
    edge_share: float
    faithfulness: Faithfulness | None = field(default=None)  # set by `graph` (checks=)

    @property
    def target_index(self) -> int:
        return len(self.nodes) - 1

    @property
    def description(self) -> str:
        s = self.session
        if isinstance(self.target, tuple):
            return f"{s.class_name(self.target[0])!r} minus {s.class_name(self.target[1])!r}"
        return repr(s.class_name(self.target))

    def kept_nodes(self, kind: str | None = None) -> list[int]:
        """Indices of the kept nodes (of one kind), most influential first."""
        picks = [i for i in torch.nonzero(self.kept).flatten().tolist() if kind is None or self.nodes[i].kind == kind]
        return sorted(picks, key=lambda i: -self.nodes[i].influence)

    def layer_units(self, layer: str) -> Units:
        return self.units[self.layers.index(layer)]

    def predicted(self, node: int, scale: float = 0.0) -> float:
        """The target's change the graph predicts when node `node`'s part is multiplied by `scale`
        (0: switched off): linear, (scale − 1) × the node's attribution to the target, which is the
        sum over every path from it of the products of the network's derivatives. (Products of the
        graph's own edges would be cruder: an edge sums its effect over positions, so a path
        through it forgets where its effect landed.)"""
        return (scale - 1.0) * self.nodes[node].attribution

    def intervene(self, node: int, scale: float = 0.0) -> tuple[float, float]:
        """(predicted, actual): the target's change when unit node `node` is multiplied by `scale`
        (0: switched off), as the graph predicts it and as the model gives it."""
        if not 0 <= node < len(self.nodes):
            raise GraphError(f"there is no node {node}: this graph's nodes are 0..{len(self.nodes) - 1} (kept_nodes() lists the kept ones)")
        n = self.nodes[node]
        if n.kind != "unit":
            raise GraphError(f"node {node} is the {n.name} node; only unit nodes can be switched off or scaled")
        with torch.no_grad():
            change = ablate(self.session, n.layer, [n.unit], units=self.layer_units(n.layer), scale=scale).change(self.image)
        return self.predicted(node, scale), float(target_value(change, self.target))

    def __repr__(self) -> str:
        kept = self.kept_nodes("unit")
        return (
            f"<Graph of {self.description}: {len(kept)} units kept of {sum(n.kind == 'unit' for n in self.nodes)} over {len(self.layers)} layers, "
            f"{int(self.edges.sum())} edges; explains ≥ {min(self.explained.values()):.0%} of the target's attribution at every layer; "
            f"{self.error_share:.0%} of influence through error nodes, {self.other_share:.0%} through units left out"
            + ("; it explains little of the decision" if min(self.explained.values()) < 0.5 else "")
            + (f"; {self.faithfulness.verdict}" if self.faithfulness is not None else "") + ">"
        )


def target_value(logits: torch.Tensor, target: int | tuple[int, int]) -> torch.Tensor:
    """The target read off logits (..., classes): a class's logit, or a pair's difference."""
    return logits[..., target[0]] - logits[..., target[1]] if isinstance(target, tuple) else logits[..., target]


def _units_per_layer(session: Session, layers: Sequence[str], units: Units | Sequence[Units] | None) -> list[Units]:
    given = [units] if isinstance(units, Units) else list(units or [])
    by_layer = {}
    for u in given:
        if not isinstance(u, Units):
            raise GraphError(f"units= takes units of the graph's layers (a dictionary, groups, nb.units.Directions), or a list of them; not {type(u).__name__}")
        if u.layer not in layers:
            raise GraphError(f"units of {u.layer!r} were given, but the graph's layers are {list(layers)}: add {u.layer!r} to layers=")
        by_layer[u.layer] = u
    # A unit's code must be a function of the activations for a lower layer to feed it: neuron
    # groups, one image's factorization, are read by their directions, as dataset jobs read them.
    return [units_of(layer, session.layer_shape(layer), by_layer.get(layer)).for_any_image() for layer in layers]


def _check_layers(session: Session, layers: Sequence[str] | None) -> list[str]:
    layers = [session.check_layer(layer) for layer in (layers or session.suggested_layers())]
    if not layers:
        raise GraphError("a graph needs at least one layer with positions: pass layers=[…]")
    for lower, higher in zip(layers, layers[1:]):
        check_order(session, lower, higher)
    for layer in layers:
        shape = session.layer_shape(layer)
        if len(shape) != 3 or session.layout(layer).tokens:
            raise GraphError(f"layer {layer!r} (shape {shape}) is not a grid of positions; a graph's layers are convolutional grids")
    return layers


@dataclass
class _Layer:
    """One layer's nodes while the graph is built: their tangents (parts of the activations)."""

    layer: str
    units: Units
    a: torch.Tensor
    picks: list[int]
    tangents: torch.Tensor  # (nodes, C, H, W): the picked units', then other, then error
    kinds: list[str]
    values: list[float]
    attributions: list[float]
    maps: torch.Tensor  # (picked, H, W)


def _nodes_of(session: Session, image: Decoded, layer: str, units: Units, target, per_layer: int) -> _Layer:
    a, g = activations_and_gradient(session, image, layer, target)
    a, g = a.float(), g.float()
    codes = units.codes(a)
    summed = codes.flatten(1).sum(1)
    attribution = torch.einsum("chw,kc,khw->k", g, units.atoms.to(a), codes)
    active = summed.abs() > 1e-6 * summed.abs().max().clamp(min=1e-30)
    score = attribution.abs() * active
    picks = [u for u in score.topk(min(per_layer, len(score))).indices.tolist() if score[u] > 0]
    parts = units.attribution_atoms(a).tangents(a, torch.tensor(picks, dtype=torch.long)).float()
    whole = units.part(a[None], range(units.count))[0].float()
    tangents, kinds = [parts], ["unit"] * len(picks)
    for kind, rest in (("other", whole - parts.sum(0)), ("error", a - whole)):
        if rest.norm() > NEGLIGIBLE * a.norm():
            tangents.append(rest[None])
            kinds.append(kind)
    tangents = torch.cat(tangents)
    node_attr = torch.einsum("nchw,chw->n", tangents, g)
    values = summed[picks].tolist() + [0.0] * (len(kinds) - len(picks))
    return _Layer(layer, units, a, picks, tangents, kinds, values, node_attr.tolist(), codes[picks].detach())


def _edges_between(session: Session, image: Decoded, lower: _Layer, higher: _Layer) -> torch.Tensor:
    """(higher's picked units, lower's nodes): the layer-to-layer attribution of each lower node to each higher unit's summed code."""
    above = session.above(image, lower.layer)
    picks = torch.tensor(higher.picks, dtype=torch.long)
    f = above_fn(above, False, lambda p: higher.units.summed(tokens.of_pass(p.activations, p.prefixes, higher.layer))[:, picks], (higher.layer,))
    with precision.applied(settings(session).precision):
        return attribution_matrix(f, lower.a, _atoms.Directions(lower.tangents), len(higher.picks), budget=settings(session).memory_budget, lock=session.lock).float()


def _edges_from_input(session: Session, image: Decoded, first: _Layer) -> torch.Tensor:
    """(first layer's picked units,): gradient × input of each one's summed code (one forward-mode pass)."""
    x = session.model_input(image.pixels[None].to(session.device))[0]
    picks = torch.tensor(first.picks, dtype=torch.long)
    layouts = session.catalogue.layouts([first.layer])

    def f(batch: torch.Tensor) -> torch.Tensor:
        p = fw.run(session.model, session.catalogue.modules, batch, capture=[first.layer], stop=True, layouts=layouts, structured=session.structured, logits_of=session.logits_of)
        return first.units.summed(p.activations[first.layer])[:, picks]

    with precision.applied(settings(session).precision):
        return attribution_matrix(f, x, _atoms.Directions(x[None]), len(picks), mode="forward", lock=session.lock)[:, 0].float()


@checked
@gradients_on
def graph(
    session: Session,
    image: ImageLike,
    target=None,
    layers: Sequence[str] | None = None,
    units: Units | Sequence[Units] | None = None,
    *,
    node_share: float = 0.8,
    edge_share: float = 0.95,
    per_layer: int = PER_LAYER,
    checks: int = 8,
) -> Graph:
    """The attribution graph of `target` (a class, a pair (a, b) for logit a minus logit b; default
    the top class) on `image`, over `layers` (default: the session's suggested ones), lowest
    first, cut into `units` (a Units of one layer, or a list; other layers: their channels).

    Per layer, the `per_layer` active units with the largest attribution to the target become
    nodes; the other active units make one "other" node. The graph is pruned to the nodes
    holding `node_share` of the influence on the target and the edges holding `edge_share`.
    Its `checks` most influential unit nodes are then switched off one at a time, and the changes
    the graph predicted compared with the model's (`faithfulness`; 0: not checked).
    """
    start = time.perf_counter()
    image = session.read(image)
    layers = _check_layers(session, layers)
    resolved = class_or_pair(session, image, target)
    if per_layer < 1:
        raise GraphError(f"per_layer is how many units of each layer become nodes, at least 1; got {per_layer}")
    built = [_nodes_of(session, image, layer, u, resolved, per_layer) for layer, u in zip(layers, _units_per_layer(session, layers, units))]

    nodes: list[tuple[str, str | None, int | None, float, float]] = [("input", None, None, 0.0, 0.0)]
    starts = []
    for layer in built:
        starts.append(len(nodes))
        for k, kind in enumerate(layer.kinds):
            nodes.append((kind, layer.layer, layer.picks[k] if kind == "unit" else None, layer.values[k], layer.attributions[k]))
    value = float(target_value(session.trace(image).logits, resolved))
    nodes.append(("target", None, None, value, value))
    n = len(nodes)
    adjacency = torch.zeros(n, n, dtype=torch.float64)
    first = built[0]
    adjacency[starts[0] : starts[0] + len(first.picks), 0] = _edges_from_input(session, image, first).double()
    for (lo, lo_start), (hi, hi_start) in zip(zip(built, starts), zip(built[1:], starts[1:])):
        adjacency[hi_start : hi_start + len(hi.picks), lo_start : lo_start + len(lo.kinds)] = _edges_between(session, image, lo, hi).double()
    top, top_start = built[-1], starts[-1]
    adjacency[n - 1, top_start : top_start + len(top.kinds)] = torch.tensor(top.attributions, dtype=torch.float64)

    sources = torch.tensor([kind in ("input", "other", "error") for kind, *_ in nodes])
    scores = influence(adjacency, n - 1)
    kept, edges = prune(adjacency, n - 1, sources, node_share, edge_share, always=torch.arange(n) == 0, scores=scores)
    made = [Node(kind, layer, unit, v, attr, float(scores[i])) for i, (kind, layer, unit, v, attr) in enumerate(nodes)]
    explained = {}
    for layer, s in zip(built, starts):
        total = sum(abs(v) for v in layer.attributions)
        carried = sum(abs(layer.attributions[k]) for k, kind in enumerate(layer.kinds) if kind == "unit" and kept[s + k])
        explained[layer.layer] = carried / total if total > 1e-12 else 0.0
    entering = max(1e-30, float(scores[sources].sum()))
    error_share, other_share = (float(scores[torch.tensor([k == kind for k, *_ in nodes])].sum()) / entering for kind in ("error", "other"))
    maps = {s + k: layer.maps[k] for layer, s in zip(built, starts) for k in range(len(layer.picks)) if kept[s + k]}
    made_graph = Graph(
        session, image, resolved, layers, [b.units for b in built], made, adjacency, kept, edges, maps, explained, error_share, other_share, 0.0,
        node_share, edge_share,
    )
    made_graph.faithfulness = measure(made_graph, checks) if checks else None
    made_graph.seconds = time.perf_counter() - start
    return made_graph
