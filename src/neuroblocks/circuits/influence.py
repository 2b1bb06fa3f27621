"""Influence on the target over all paths of an attribution graph, and pruning by it.

The method of circuit-tracer (Ameisen et al. 2025, "Circuit tracing"): the adjacency matrix A
holds A[i, j], the edge from node j into node i. Its absolute values, each row scaled to sum to
one, say what share of a node's input each lower node gives; the target's influence on every
node is then the sum over path lengths of e_target · Â^n, finite here because a graph of layers
has no cycles. Nodes are kept, most influential first, until they hold `node_share` of all
influence; then edges, scored by their share times the influence of the node they enter, until
they hold `edge_share`; nodes left with no way to the target, or no way in, go.
"""

from __future__ import annotations

import torch


def normalised(adjacency: torch.Tensor) -> torch.Tensor:
    """|A| with each row scaled to sum to one (rows without input stay zero)."""
    a = adjacency.abs()
    return a / a.sum(1, keepdim=True).clamp(min=1e-30)


def influence(adjacency: torch.Tensor, target: int) -> torch.Tensor:
    """(nodes,): each node's influence on `target` over all paths, from the normalised matrix."""
    a = normalised(adjacency)
    reach = torch.zeros(len(a), dtype=a.dtype)
    reach[target] = 1.0
    total = torch.zeros_like(reach)
    for _ in range(len(a)):  # a graph of layers has no cycles: the series ends
        reach = reach @ a
        if not reach.any():
            break
        total += reach
    return total


def _threshold(scores: torch.Tensor, share: float) -> float:
    """The smallest score among the top scores that together hold `share` of the total."""
    ordered = scores.flatten().sort(descending=True).values
    total = ordered.sum()
    if total <= 0:
        return float("inf")
    cumulative = ordered.cumsum(0) / total
    return float(ordered[min(int(torch.searchsorted(cumulative, torch.tensor(share, dtype=cumulative.dtype))), len(ordered) - 1)])


def prune(
    adjacency: torch.Tensor, target: int, sources: torch.Tensor, node_share: float, edge_share: float, always: torch.Tensor | None = None,
    scores: torch.Tensor | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """(kept nodes (bool, nodes), kept edges (bool, nodes × nodes)). `sources` marks nodes that
    have no input by construction (the input, error nodes): they are not dropped for lacking one.
    `always` marks nodes kept whatever their influence (the input, whose influence is all of it):
    the shares are of the other nodes' influence. The target is always kept. `scores`: the
    nodes' `influence`, where the caller has it already."""
    if not (0 < node_share <= 1 and 0 < edge_share <= 1):
        raise ValueError(f"node_share and edge_share are shares in (0, 1]; got {node_share} and {edge_share}")
    scores = influence(adjacency, target) if scores is None else scores
    always = torch.zeros(len(scores), dtype=torch.bool) if always is None else always.clone()
    always[target] = True
    nodes = always | (scores >= _threshold(scores[~always & (scores > 0)], node_share))
    kept = adjacency * nodes[:, None] * nodes[None, :]
    into = influence(kept, target)
    into[target] += 1.0
    edge_scores = normalised(kept) * into[:, None]
    edges = (edge_scores >= _threshold(edge_scores[edge_scores > 0], edge_share)) & (edge_scores > 0)
    while True:  # drop nodes cut off from the target, or (unless sources) from any input
        out_ok = edges.any(0) | (torch.arange(len(nodes)) == target)
        in_ok = edges.any(1) | sources
        keep = nodes & out_ok & in_ok
        if torch.equal(keep, nodes):
            return nodes, edges
        nodes = keep
        edges &= nodes[:, None] & nodes[None, :]
