"""Attribution of every atom to every output of a function, in batched passes.

For f mapping a layer's activations to M outputs and P atoms, the (M, P) matrix is a Jacobian
product. Reverse mode needs one backward pass per output, forward mode one pass per atom (the
tangent is the atom's part of the activations, so the pushed-forward tangent is that atom's
attribution to all outputs at once; under vmap the network's own pass runs once per batch of
tangents, not once per tangent). Whichever count is smaller is used, in batches, so the
Python loop runs once per batch, not once per atom or output. Fused attention kernels have no forward-mode
derivative (PyTorch's flash attention on the CPU, nn.MultiheadAttention's fast path), so forward
mode runs attention as plain operations (the "math" backend of scaled_dot_product_attention, the
fast path off); a kernel that still has none makes "auto" fall back to reverse mode, warning once.

Forward mode is process-wide state in PyTorch: one dual level for the whole process, and
`torch.func.jvp`'s nesting count a module global. Two threads in forward mode at once (a view
computing its legend in the work queue's thread while a notebook cell asks for another matrix)
enter and delete each other's level, and one of them fails with "Trying to access a forward AD
level with an invalid index". So each batch of JVPs holds one process-wide lock, taken after
the caller's own lock (the session's: an ablation holds it across a user's calls).
"""

from __future__ import annotations

import threading
import warnings
from collections.abc import Callable, Hashable
from contextlib import AbstractContextManager, contextmanager, nullcontext

import torch
import torch.autograd.forward_ad as fwAD
from torch.nn.attention import SDPBackend, sdpa_kernel

from ..work import progress
from ..units import ChannelParts, Parts
from .atoms import Directions, Positions
from .budget import batch_for


def _reverse(f, a, atoms, n_outputs: int, batch: int | None, budget: int, key: Hashable | None) -> torch.Tensor:
    def pass_of(picks: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        copies = a.expand(len(picks), *a.shape).clone().requires_grad_()
        return copies, f(copies)[torch.arange(len(picks)), picks].sum()

    batch = batch or batch_for(lambda n: pass_of(torch.arange(n, device=a.device)), n_outputs, budget, key and (*key, tuple(a.shape), "reverse"))
    rows = []
    for start in range(0, n_outputs, batch):
        picks = torch.arange(start, min(start + batch, n_outputs), device=a.device)
        copies, total = pass_of(picks)
        (grads,) = torch.autograd.grad(total, copies)
        rows.append(atoms.reduce(a, grads))
        progress(start + len(picks), n_outputs)
    return torch.cat(rows)


@contextmanager
def _plain_attention():
    """Attention as differentiable primitives, which forward mode can pass through."""
    fast = torch.backends.mha.get_fastpath_enabled()
    torch.backends.mha.set_fastpath_enabled(False)
    try:
        with sdpa_kernel([SDPBackend.MATH]):
            yield
    finally:
        torch.backends.mha.set_fastpath_enabled(fast)


@contextmanager
def _quiet():
    """torch's forward-mode decompositions warn, on first use, about torch's own use of
    torch.jit.script, and vmap about ops it batches in a loop: nothing a user can act on.
    (The warning filters are process-wide too: they are set under the forward-mode lock.)"""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="`torch.jit.script` is deprecated", category=FutureWarning)
        warnings.filterwarnings("ignore", message="There is a performance drop because we have not yet implemented the batching rule", category=UserWarning)
        yield


def _shared_primal(f, a: torch.Tensor, tangents: torch.Tensor) -> torch.Tensor:
    """JVPs of one batch of tangents with the network's own pass run once (vmap over jvp)."""
    return torch.func.vmap(lambda t: torch.func.jvp(lambda x: f(x[None])[0], (a,), (t,))[1])(tangents)


def _dual_batch(f, a: torch.Tensor, tangents: torch.Tensor) -> torch.Tensor:
    """The same with dual tensors, the pass run once per tangent: for model code vmap cannot
    batch (an in-place operation on a tensor the tangents do not reach)."""
    with fwAD.dual_level():
        dual = fwAD.make_dual(a.expand(len(tangents), *a.shape).contiguous(), tangents)
        return fwAD.unpack_dual(f(dual)).tangent


_FORWARD_AD = threading.Lock()  # see the module's docstring


def _jvps(f, a: torch.Tensor, tangents: torch.Tensor, how: list, lock: AbstractContextManager) -> torch.Tensor:
    """One batch of JVPs by `how[0]`, which turns to `_dual_batch` for good once vmap fails;
    no other thread is in forward mode meanwhile."""
    with lock, _FORWARD_AD, _plain_attention(), _quiet():
        try:
            return how[0](f, a, tangents)
        except RuntimeError as e:
            if how[0] is _dual_batch or "vmap" not in str(e):
                raise
            how[0] = _dual_batch
            return _dual_batch(f, a, tangents)


def _forward(f, a, atoms, batch: int | None, budget: int, key: Hashable | None, lock: AbstractContextManager) -> torch.Tensor:
    cols, how = [], [_shared_primal]
    with torch.no_grad():
        first = lambda n: _jvps(f, a, atoms.tangents(a, torch.arange(n, device=a.device)), how, lock)  # noqa: E731  a pass of the first n
        batch = batch or batch_for(first, atoms.count, budget, key and (*key, tuple(a.shape), "forward"))
        for start in range(0, atoms.count, batch):
            tangents = atoms.tangents(a, torch.arange(start, min(start + batch, atoms.count), device=a.device))
            cols.append(_jvps(f, a, tangents, how, lock))
            progress(start + len(tangents), atoms.count)
    return torch.cat(cols).T


_WARNED: set[str] = set()


def _warn_fallback(why: str) -> None:
    if why not in _WARNED:
        _WARNED.add(why)
        warnings.warn(f"forward-mode AD does not pass through this model ({why}); attribution to every output uses reverse mode, one pass per output", stacklevel=3)


def attribution_matrix(
    f: Callable[[torch.Tensor], torch.Tensor],
    a: torch.Tensor,
    atoms: Positions | ChannelParts | Parts | Directions,
    n_outputs: int,
    *,
    mode: str = "auto",
    batch: int | None = None,
    budget: int = 128 * 2**20,
    key: tuple | None = None,
    lock: AbstractContextManager | None = None,
) -> torch.Tensor:
    """(n_outputs, atoms) matrix: entry (m, p) is atom p's attribution to output m of f.

    f maps a batch of activations (N, *a.shape) to (N, n_outputs). mode: "auto" (fewer
    passes; forward on a tie, as its passes share the network's own), "forward" (one JVP per
    atom) or "reverse" (one VJP per output). batch: tangents (or outputs) per pass; by default
    as many as fit in `budget` bytes (see `budget`); `key` names f for reusing that measurement.
    lock: held around each forward-mode batch, before the process-wide one (pass the session's).
    """
    chosen = mode
    if mode == "auto":
        mode = "forward" if atoms.count <= n_outputs else "reverse"
    if mode not in ("forward", "reverse"):
        raise ValueError(f"mode is 'auto', 'forward' or 'reverse', not {mode!r}")
    if batch is not None and batch < 1:
        raise ValueError(f"batch is a count of tangents per pass, at least 1; got {batch}")
    if mode == "forward":
        try:
            return _forward(f, a, atoms, batch, budget, key, lock if lock is not None else nullcontext())
        except NotImplementedError as e:
            if chosen != "auto" or "forward AD" not in str(e):
                raise
            _warn_fallback(str(e).splitlines()[0])
    return _reverse(f, a, atoms, n_outputs, batch, budget, key)
