"""Layer similarity by linear CKA (Kornblith et al. 2019), accumulated over minibatches with the
unbiased HSIC estimator (Nguyen, Raghu & Kornblith 2021), so memory does not grow with the
dataset; docs/guides/comparing-models.md. Each image's activations are flattened (C·H·W), as in Kornblith et al.

The null is the same quantity with one model's images permuted within each batch: what CKA
reads when the two representations see unrelated inputs.
"""

from __future__ import annotations

import torch

MIN_BATCH = 4  # the unbiased HSIC estimator divides by n − 3


def gram(x: torch.Tensor) -> torch.Tensor:
    """Linear kernel between the rows of x (n, …), in float64."""
    flat = x.reshape(x.shape[0], -1).double()
    return flat @ flat.T


def hsic(k: torch.Tensor, l: torch.Tensor) -> torch.Tensor:
    """Unbiased HSIC (Song et al. 2012) of two n × n Gram matrices, n ≥ 4."""
    n = k.shape[0]
    k = k.clone().fill_diagonal_(0)
    l = l.clone().fill_diagonal_(0)
    ones_k, ones_l = k.sum(1), l.sum(1)
    trace = (k * l).sum()
    return (trace + ones_k.sum() * ones_l.sum() / ((n - 1) * (n - 2)) - 2 * (ones_k @ ones_l) / (n - 2)) / (n * (n - 3))


class MinibatchCKA:
    """CKA between every layer of A and every layer of B, fed batch by batch.

    permutations: how many within-batch shuffles of B's images estimate the null.
    """

    def __init__(self, n_a: int, n_b: int, permutations: int = 8, seed: int = 0) -> None:
        self.cross = torch.zeros(n_a, n_b, dtype=torch.float64)
        self.null = torch.zeros(permutations, n_a, n_b, dtype=torch.float64)
        self.self_a = torch.zeros(n_a, dtype=torch.float64)
        self.self_b = torch.zeros(n_b, dtype=torch.float64)
        self.generator = torch.Generator().manual_seed(seed)
        self.images = 0
        self.left_out = 0  # images of batches too small for the estimator

    def update(self, a: list[torch.Tensor], b: list[torch.Tensor]) -> None:
        n = a[0].shape[0]
        if n < MIN_BATCH:
            self.left_out += n
            return
        grams_a, grams_b = [gram(x).cpu() for x in a], [gram(y).cpu() for y in b]  # n × n each: made where the activations are
        orders = [torch.randperm(n, generator=self.generator) for _ in range(self.null.shape[0])]
        shuffled = [[l[order][:, order] for l in grams_b] for order in orders]
        for i, k in enumerate(grams_a):
            self.self_a[i] += hsic(k, k)
            for j, l in enumerate(grams_b):
                self.cross[i, j] += hsic(k, l)
                for p in range(len(orders)):
                    self.null[p, i, j] += hsic(k, shuffled[p][j])
        for j, l in enumerate(grams_b):
            self.self_b[j] += hsic(l, l)
        self.images += n

    def _normalise(self, cross: torch.Tensor) -> torch.Tensor:
        scale = (self.self_a[:, None] * self.self_b[None, :]).clamp(min=1e-300).sqrt()
        return cross / scale

    def result(self) -> tuple[torch.Tensor, torch.Tensor]:
        """(CKA (n_a, n_b), null CKA (permutations, n_a, n_b))."""
        return self._normalise(self.cross), self._normalise(self.null)
