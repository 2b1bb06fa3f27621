"""Attribution rules: what the derivative of the network above a layer passes through
normalisation and attention.

- "gradient": the plain derivative, as Captum's LayerGradientXActivation takes it.
- "conservative" (the default): a normalisation's division by its input's own spread (LayerNorm,
  GroupNorm, RMSNorm) and every softmax (in a vision model, attention's weights) are held
  constant in the backward and forward passes: the "detach" rules of Ali et al. 2022 ("XAI for
  Transformers: better explanations through conservative propagation", LN-rule and AH-rule) and
  AttnLRP. Why: LayerNorm ignores its input's scale, so the plain activation × gradient of a
  token read through one sums to almost nothing over the token's features; held constant, the
  normalisation is linear (centre, then scale), attention is a fixed mix of its values, and the
  attributions add up to what passed through them.

The forward values stay bit-identical (the logits do not change); only derivatives do. A network
with none of these operations above the layer (a CNN with BatchNorm) gets the plain gradient
exactly. The swaps are made where models call them (`torch.layer_norm`, `torch.group_norm`,
`torch.rms_norm`, `torch.softmax`, `Tensor.softmax`, `F.scaled_dot_product_attention`; every
`nn.LayerNorm`, `nn.GroupNorm`, `nn.RMSNorm`, `F.softmax` and `nn.MultiheadAttention` goes
through them), in the calling thread only, while the network above the layer runs.
"""

from __future__ import annotations

from contextlib import ExitStack, contextmanager

import torch
import torch.nn.functional as F

from .errors import AttributionError
from .swap import FunctionalSwap

RULES = ("conservative", "gradient")


def check(rule: str) -> str:
    if rule not in RULES:
        raise AttributionError(f"rule is 'conservative' (normalisation scales and softmax weights held constant) or 'gradient' (the plain derivative), not {rule!r}")
    return rule


def _derivative_of(exact: torch.Tensor, surrogate: torch.Tensor) -> torch.Tensor:
    """The exact values, with the surrogate's derivative (in reverse and in forward mode)."""
    return exact.detach() + (surrogate - surrogate.detach())


def _scaled(x: torch.Tensor, dims: tuple[int, ...], eps: float, centred: bool = True) -> torch.Tensor:
    """x (centred) over `dims`, divided by its spread there held constant."""
    centre = x - x.mean(dims, keepdim=True) if centred else x
    return centre * torch.rsqrt((centre * centre).mean(dims, keepdim=True) + eps).detach()


def _layer_norm(original, input, normalized_shape, weight=None, bias=None, eps=1e-5, *rest, **kwargs):
    exact = original(input, normalized_shape, weight, bias, eps, *rest, **kwargs)
    s = _scaled(input, tuple(range(-len(normalized_shape), 0)), eps)
    s = s * weight if weight is not None else s
    return _derivative_of(exact, s + bias if bias is not None else s)


def _group_norm(original, input, num_groups, weight=None, bias=None, eps=1e-5, *rest, **kwargs):
    exact = original(input, num_groups, weight, bias, eps, *rest, **kwargs)
    n, c = input.shape[:2]
    s = _scaled(input.reshape(n, num_groups, -1), (2,), eps).reshape(input.shape)
    affine = (1, c) + (1,) * (input.dim() - 2)
    s = s * weight.reshape(affine) if weight is not None else s
    return _derivative_of(exact, s + bias.reshape(affine) if bias is not None else s)


def _rms_norm(original, input, normalized_shape, weight=None, eps=None):
    exact = original(input, normalized_shape, weight, eps)
    s = _scaled(input, tuple(range(-len(normalized_shape), 0)), torch.finfo(input.dtype).eps if eps is None else eps, centred=False)
    return _derivative_of(exact, s * weight if weight is not None else s)


def _softmax(original, *args, **kwargs):
    return original(*args, **kwargs).detach()


def _attention(original, query, key, value, attn_mask=None, *rest, **kwargs):
    """Attention's weights held constant: the output is the same mix of the values, and the
    derivative reaches the values only."""
    if isinstance(attn_mask, torch.Tensor):
        attn_mask = attn_mask.detach()
    if isinstance(kwargs.get("attn_mask"), torch.Tensor):
        kwargs["attn_mask"] = kwargs["attn_mask"].detach()
    return original(query.detach(), key.detach(), value, attn_mask, *rest, **kwargs)


_SWAPS = (
    FunctionalSwap("layer_norm", _layer_norm, torch),
    FunctionalSwap("group_norm", _group_norm, torch),
    FunctionalSwap("rms_norm", _rms_norm, torch),
    FunctionalSwap("softmax", _softmax, torch),
    FunctionalSwap("softmax", _softmax, torch.Tensor),
    FunctionalSwap("scaled_dot_product_attention", _attention, F),
)


@contextmanager
def applied(rule: str):
    """Within this block (and this thread), derivatives follow `rule`."""
    held = check(rule) == "conservative"
    with ExitStack() as stack:
        for swap in _SWAPS:
            stack.enter_context(swap.active(held))
        yield
