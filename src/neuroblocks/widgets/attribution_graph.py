"""Attribution graph: the units of several layers that carry one decision, in columns, lowest
layer first, with the edges between them (width: weight; colour: sign). Hovering a node shows its
code over the image and brings its paths forward; clicking "off" or "×2" switches the unit off or
doubles it, runs the model, and shows the target's actual change beside the graph's prediction
(docs/views.md). The graph's faithfulness, its explained share and its share through error nodes
are in the status line. `position`, linked with a grid view, picks out the nodes active there."""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import torch
import traitlets

from ..circuits import Graph, graph
from ..images import ImageLike
from ..session import Session
from ..units import Units
from .base import Part, View
from .inputs import class_names, target_of, unit_icons
from .payload import array

#: nodes drawn per layer at most, most influential first (the graph keeps more; the status says how many)
SHOWN = 8


class AttributionGraph(View):
    """`target`: a class or a pair [a, b] (default: the top class); `layers` lowest first (default:
    the session's suggested ones); `units`: units of some of those layers (others: channels).
    `node` is the hovered node's id; `intervention` the last switch's result."""

    kind = traitlets.Unicode("attribution_graph").tag(sync=True)
    needs_grid = True
    layers = traitlets.List().tag(sync=True)
    node_share = traitlets.Float(0.8).tag(sync=True)
    edge_share = traitlets.Float(0.95).tag(sync=True)
    columns = traitlets.List().tag(sync=True)  # per layer: {layer, nodes: [{id, unit, kind, key, value, attribution, influence}], maps (n, H, W), kept}
    edges = traitlets.Dict().tag(sync=True)  # (E, 3) float32 rows [from id, to id, weight]
    target_label = traitlets.Unicode("").tag(sync=True)
    summary = traitlets.Dict().tag(sync=True)  # {target: its node id, explained: {layer: share}, error_share, other_share, seconds, faithfulness: {…}}
    node = traitlets.Int(None, allow_none=True).tag(sync=True)
    intervention = traitlets.Dict().tag(sync=True)  # {node, scale, predicted, actual} of the last click
    class_names = traitlets.Dict().tag(sync=True)
    inputs = ("image", "layers", "target", "node_share", "edge_share")

    def __init__(
        self, session: Session, image: ImageLike, target=None, *, layers: Sequence[str] | None = None, units: Units | Sequence[Units] | None = None, **options
    ) -> None:
        self.units, self.graph = units, None
        layers = list(layers or session.suggested_layers())
        super().__init__(session, image=image, target=target, layers=layers, layer=options.pop("layer", layers[-1]), **options)

    def _check(self) -> None:
        super()._check()
        target_of(self.session, self.photo, self.target)  # a misspelt class is refused now, not in the background

    def _compute(self) -> Iterator[Part]:
        s = self.session
        yield f"attribution graph over {len(self.layers)} layers"
        target = tuple(self.target) if isinstance(self.target, list) else self.target
        g = graph(s, self.photo, target, self.layers, self.units, node_share=self.node_share, edge_share=self.edge_share)
        self.graph = g
        shown = {layer: [i for i in g.kept_nodes() if g.nodes[i].layer == layer][:SHOWN] for layer in g.layers}
        ids = [0, *(i for picks in shown.values() for i in picks), g.target_index]
        columns, wanted = [], []
        for layer, units in zip(g.layers, g.units):
            picks = shown[layer]
            unit_picks = [g.nodes[i].unit for i in picks if g.nodes[i].kind == "unit"]
            blank = torch.zeros(s.trace(self.photo, layer, logits=False)[layer].shape[1:])  # other units and error have no one map
            maps = torch.stack([g.maps.get(i, blank) for i in picks]) if picks else blank[None, :0]
            columns.append({
                "layer": layer,
                "nodes": [_node(g, i, units) for i in picks],
                "maps": array(maps),
                "kept": sum(g.nodes[i].layer == layer and g.nodes[i].kind == "unit" for i in g.kept_nodes()),
            })
            wanted += unit_icons(units, unit_picks)
        edges = [[j, i, float(g.adjacency[i, j])] for i in ids for j in ids if g.edges[i, j]]
        faith = g.faithfulness
        values = {
            "picture": self.picture_of(self.photo),
            "columns": columns,
            "edges": array(torch.tensor(edges, dtype=torch.float32).reshape(-1, 3)),
            "target_label": g.description,
            "summary": {
                "target": g.target_index,
                "explained": g.explained,
                "error_share": g.error_share,
                "other_share": g.other_share,
                "seconds": g.seconds,
                "faithfulness": {} if faith is None else {
                    "nodes": faith.nodes, "predicted": faith.predicted, "actual": faith.actual, "correlation": faith.correlation, "verdict": faith.verdict,
                },
            },
            "class_names": class_names(s, g.target if isinstance(g.target, tuple) else [g.target]),
            "node": None,
            "intervention": {},
        }
        yield values, wanted
        picked = [(units, [g.nodes[i].unit for i in shown[layer] if g.nodes[i].kind == "unit"]) for layer, units in zip(g.layers, g.units)]
        yield from self.meanings(((units, picks, [f"{units.icon_key}:{u}" for u in picks], None) for units, picks in picked), labels=True)

    def intervene(self, node: int, scale: float = 0.0) -> dict:
        """Switch node `node` off (scale 0) or scale it, run the model: {node, scale, predicted,
        actual}, also shown in the view. Blocks until done; the browser's clicks run in the background."""
        self.wait()
        if self.graph is None:
            raise RuntimeError("the graph has not been computed (its computation failed: see the view's error)")
        predicted, actual = self.graph.intervene(int(node), float(scale))
        self.intervention = {"node": int(node), "scale": float(scale), "predicted": predicted, "actual": actual}
        return dict(self.intervention)

    def on_intervene(self, content: dict) -> None:
        node, scale = int(content["node"]), float(content.get("scale", 0.0))
        self.in_background(lambda: self.graph.intervene(node, scale), lambda found, generation: self._show_intervention(node, scale, found, generation), "running the model with the unit changed…")

    def _show_intervention(self, node: int, scale: float, found: tuple[float, float], generation: int) -> None:
        if generation == self._generation:
            self.intervention = {"node": node, "scale": scale, "predicted": found[0], "actual": found[1]}


def _node(g: Graph, i: int, units: Units) -> dict:
    n = g.nodes[i]
    return {
        "id": i, "unit": n.unit, "kind": n.kind, "key": f"{units.icon_key}:{n.unit}" if n.kind == "unit" else "",
        "value": n.value, "attribution": n.attribution, "influence": n.influence,
    }
