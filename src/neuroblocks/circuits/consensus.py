"""What several graphs agree on: the units of one layer that the graphs of several images keep,
ranked by their summed influence. The graphs of scenes a model gets wrong, each asked why it chose
the wrong class over the right one, agree on the units of the shortcut it took: those that
raised that target. The units that lowered it carried the evidence for the right class
(docs/guides/shortcut.md)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

from .graph import Graph, GraphError


def shared_units(graphs: Sequence[Graph], layer: str, share: float = 0.5, raised: bool | None = None) -> list[int]:
    """The units of `layer` kept in at least `share` of `graphs`, most summed influence first;
    with `raised` True (False), only those whose attribution to the target, summed over the
    graphs, is positive (negative)."""
    if not graphs:
        raise GraphError("shared_units needs at least one graph")
    missing = [i for i, g in enumerate(graphs) if layer not in g.layers]
    if missing:
        raise GraphError(f"graph {missing[0]} has no layer {layer!r}; its layers are {graphs[missing[0]].layers}")
    seen: Counter = Counter()
    weight: Counter = Counter()
    attribution: Counter = Counter()
    for g in graphs:
        for i in g.kept_nodes("unit"):
            if g.nodes[i].layer == layer:
                seen[g.nodes[i].unit] += 1
                weight[g.nodes[i].unit] += g.nodes[i].influence
                attribution[g.nodes[i].unit] += g.nodes[i].attribution
    wanted = lambda u: raised is None or (attribution[u] > 0) == raised  # noqa: E731
    return sorted((u for u, n in seen.items() if n >= share * len(graphs) and wanted(u)), key=lambda u: -weight[u])
