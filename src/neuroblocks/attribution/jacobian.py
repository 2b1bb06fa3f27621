"""Attribution of every atom to every output of a function, in batched passes.

For f mapping a layer's activations to M outputs and P atoms, the (M, P) matrix is a Jacobian
product. Reverse mode needs one backward pass per output, forward mode one pass per atom (the
tangent is the atom's part of the activations, so the pushed-forward tangent is that atom's
attribution to all outputs at once). Whichever count is smaller is used, in batches, so the
Python loop runs once per batch, not once per atom or output.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable

import torch
import torch.autograd.forward_ad as fwAD

from .atoms import Channels, Directions, Positions


def _reverse(f, a, atoms, n_outputs: int, batch: int) -> torch.Tensor:
    rows = []
    for start in range(0, n_outputs, batch):
        picks = torch.arange(start, min(start + batch, n_outputs), device=a.device)
        copies = a.expand(len(picks), *a.shape).clone().requires_grad_()
        out = f(copies)
        (grads,) = torch.autograd.grad(out[torch.arange(len(picks)), picks].sum(), copies)
        rows.append(atoms.reduce(a, grads))
    return torch.cat(rows)


def _forward(f, a, atoms, batch: int) -> torch.Tensor:
    cols = []
    with torch.no_grad(), warnings.catch_warnings():
        # torch's forward-mode decompositions warn, on first use, about torch's own use of
        # torch.jit.script: nothing a user can act on.
        warnings.filterwarnings("ignore", message="`torch.jit.script` is deprecated", category=FutureWarning)
        for start in range(0, atoms.count, batch):
            picks = torch.arange(start, min(start + batch, atoms.count), device=a.device)
            with fwAD.dual_level():
                dual = fwAD.make_dual(a.expand(len(picks), *a.shape).contiguous(), atoms.tangents(a, picks))
                cols.append(fwAD.unpack_dual(f(dual)).tangent)
    return torch.cat(cols).T


def attribution_matrix(
    f: Callable[[torch.Tensor], torch.Tensor],
    a: torch.Tensor,
    atoms: Positions | Channels | Directions,
    n_outputs: int,
    *,
    mode: str = "auto",
    batch: int = 64,
) -> torch.Tensor:
    """(n_outputs, atoms) matrix: entry (m, p) is atom p's attribution to output m of f.

    f maps a batch of activations (N, *a.shape) to (N, n_outputs). mode: "auto" (fewer
    passes), "forward" (one JVP per atom) or "reverse" (one VJP per output).
    """
    if mode == "auto":
        mode = "forward" if atoms.count < n_outputs else "reverse"
    if mode == "forward":
        return _forward(f, a, atoms, batch)
    if mode == "reverse":
        return _reverse(f, a, atoms, n_outputs, batch)
    raise ValueError(f"mode is 'auto', 'forward' or 'reverse', not {mode!r}")
