"""Which unit of one layer is which of another: one-to-one matching by the Hungarian method on
the correlations, and each unit's best partner (many-to-one); docs/guides/comparing-models.md."""

from __future__ import annotations

from dataclasses import dataclass

import torch


@dataclass(frozen=True)
class Matching:
    """Units of `layer_a` matched to units of `layer_b`.

    correlation (C_a, C_b): every pair's correlation over the same images and positions.
    pairs (K, 2): the one-to-one matching (K = min(C_a, C_b)), strongest first; pair_correlation (K,).
    best_b (C_a,): each unit of A's best partner in B; best_a (C_b,): the reverse.
    null_correlation (C_a, C_b): the same with inputs shuffled between the models;
    null_pair_correlation (K,): the one-to-one matching of those, strongest first.
    """

    layer_a: str
    layer_b: str
    correlation: torch.Tensor
    pairs: torch.Tensor
    pair_correlation: torch.Tensor
    best_b: torch.Tensor
    best_a: torch.Tensor
    null_correlation: torch.Tensor
    null_pair_correlation: torch.Tensor
    images: int

    @property
    def mean(self) -> float:
        """Mean correlation of the one-to-one pairs."""
        return float(self.pair_correlation.mean())

    @property
    def null_mean(self) -> float:
        """The same for the shuffled-input null."""
        return float(self.null_pair_correlation.mean())


def one_to_one(correlation: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(pairs (K, 2), their correlations (K,)), strongest first: the assignment that maximises
    the summed correlation."""
    from scipy.optimize import linear_sum_assignment  # here, not at the top: importing it takes 0.3 s that `import neuroblocks` need not pay

    rows, cols = linear_sum_assignment(-correlation.double().numpy())
    pairs = torch.from_numpy(rows).long(), torch.from_numpy(cols).long()
    values = correlation[pairs]
    order = values.argsort(descending=True)
    return torch.stack(pairs, 1)[order], values[order]


def matching(layer_a: str, layer_b: str, correlation: torch.Tensor, null: torch.Tensor, images: int) -> Matching:
    pairs, values = one_to_one(correlation)
    _, null_values = one_to_one(null)
    return Matching(layer_a, layer_b, correlation, pairs, values, correlation.argmax(1), correlation.argmax(0), null, null_values, images)
