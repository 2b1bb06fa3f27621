"""A graph checked against the model: its top unit nodes switched off one at a time, the change
of the target the graph predicted beside the change the model gives, and their rank correlation
(docs/explanations/graphs.md). A graph whose predictions do not order the real effects says so."""

from __future__ import annotations

from dataclasses import dataclass


#: Rank correlation below which a graph is reported as not predicting its own interventions.
WEAK = 0.5


@dataclass(frozen=True)
class Faithfulness:
    """`nodes` switched off one at a time: `predicted` and `actual` changes of the target, and
    Spearman's rank correlation between them (nan with fewer than 3 nodes)."""

    nodes: list[int]
    predicted: list[float]
    actual: list[float]
    correlation: float

    @property
    def verdict(self) -> str:
        if len(self.nodes) < 3:
            return f"only {len(self.nodes)} unit nodes to check: no correlation"
        said = "predicts" if self.correlation >= WEAK else "does not predict"
        return f"the graph {said} what switching its top {len(self.nodes)} units off does (rank correlation {self.correlation:.2f})"


def measure(graph, top: int = 8) -> Faithfulness:
    """Switch off each of the graph's `top` most influential kept unit nodes in turn."""
    from scipy.stats import spearmanr  # here, not at the top: importing it takes 0.4 s that `import neuroblocks` need not pay

    nodes = graph.kept_nodes("unit")[:top]
    pairs = [graph.intervene(i) for i in nodes]
    predicted, actual = [p for p, _ in pairs], [a for _, a in pairs]
    correlation = float(spearmanr(predicted, actual).statistic) if len(nodes) >= 3 else float("nan")
    return Faithfulness(nodes, predicted, actual, correlation)
