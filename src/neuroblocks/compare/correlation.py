"""Unit-to-unit correlations between two layers over the same inputs and positions (Li et al.
2016, "Convergent learning"), accumulated from running sums so memory is the size of the
correlation matrix, whatever the dataset. Grids of different sizes are averaged down to the
smaller one (area resampling), so a position means the same image region in both; a vector
layer is a 1 × 1 grid.

The null pairs each image of A with another image of B (the batch rolled by one): what the
correlations are when the inputs do not correspond.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def as_grid(x: torch.Tensor) -> torch.Tensor:
    """(n, C, H, W) as it is; (n, C) as (n, C, 1, 1)."""
    if x.dim() == 2:
        return x[:, :, None, None]
    if x.dim() != 4:
        raise ValueError(f"unit matching reads (C, H, W) grids or (C,) vectors, not activations of shape {tuple(x.shape[1:])}")
    return x


def common_grid(a: torch.Tensor, b: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Both as (n · h · w, channels) at the smaller of their grids."""
    a, b = as_grid(a), as_grid(b)
    h, w = min(a.shape[2], b.shape[2]), min(a.shape[3], b.shape[3])

    def rows(x: torch.Tensor) -> torch.Tensor:
        x = F.adaptive_avg_pool2d(x, (h, w)) if x.shape[2:] != (h, w) else x
        return x.permute(0, 2, 3, 1).reshape(-1, x.shape[1]).double()

    return rows(a), rows(b)


class RunningCorrelation:
    """Pearson correlation of every unit of A with every unit of B, fed batch by batch."""

    def __init__(self, c_a: int, c_b: int) -> None:
        self.n = 0
        self.sum_a, self.sum_b = torch.zeros(c_a, dtype=torch.float64), torch.zeros(c_b, dtype=torch.float64)
        self.sq_a, self.sq_b = torch.zeros(c_a, dtype=torch.float64), torch.zeros(c_b, dtype=torch.float64)
        self.cross = torch.zeros(c_a, c_b, dtype=torch.float64)
        self.null_cross = torch.zeros(c_a, c_b, dtype=torch.float64)
        self.null_n = 0

    def update(self, a: torch.Tensor, b: torch.Tensor) -> None:
        """A batch's sums, computed where the activations are (a GPU), kept on the CPU."""
        x, y = common_grid(a, b)
        self.n += x.shape[0]
        self.sum_a += x.sum(0).cpu()
        self.sum_b += y.sum(0).cpu()
        self.sq_a += (x * x).sum(0).cpu()
        self.sq_b += (y * y).sum(0).cpu()
        self.cross += (x.T @ y).cpu()
        if a.shape[0] > 1:  # B's images rolled by one: every image meets another
            x_null, y_null = common_grid(a, b.roll(1, dims=0))
            self.null_cross += (x_null.T @ y_null).cpu()
            self.null_n += x_null.shape[0]

    def _correlation(self, cross: torch.Tensor, n: int) -> torch.Tensor:
        mean_a, mean_b = self.sum_a / self.n, self.sum_b / self.n
        std_a = (self.sq_a / self.n - mean_a**2).clamp(min=0).sqrt()
        std_b = (self.sq_b / self.n - mean_b**2).clamp(min=0).sqrt()
        covariance = cross / max(n, 1) - mean_a[:, None] * mean_b[None, :]
        scale = std_a[:, None] * std_b[None, :]
        # A unit that never changes correlates with nothing.
        return torch.where(scale > 1e-12, covariance / scale.clamp(min=1e-12), torch.zeros_like(covariance)).clamp(-1, 1)

    def result(self) -> tuple[torch.Tensor, torch.Tensor]:
        """(correlations (c_a, c_b), null correlations (c_a, c_b)) as float32."""
        return self._correlation(self.cross, self.n).float(), self._correlation(self.null_cross, self.null_n).float()
