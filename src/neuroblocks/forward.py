"""One forward pass of any `nn.Module`, steered by module path: capture, replace, stop, freeze.

Everything works through forward hooks and by swapping a module instance's `forward` for the
duration of one call, so no model needs code of its own. Captured outputs are the module's own
tensors (in the autograd graph), and the network is handed a clone, so in-place operations
further up (torchvision's `ReLU(inplace=True)`) can neither change the captured values nor the
gradients taken with respect to them.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterable, Mapping
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field

import torch
from torch import nn

from .errors import UnknownLayerError
from .layer_layout import LayerLayout


class _Stop(Exception):
    """Raised inside the model to end a pass once everything asked for has been seen."""


def primary(output: object) -> torch.Tensor | None:
    """The tensor a module's output stands for: the output itself; a Hugging Face ModelOutput's
    `last_hidden_state` (or its first tensor); a dict's or a tuple's first tensor; else None."""
    if isinstance(output, torch.Tensor):
        return output
    if isinstance(output, Mapping):
        if isinstance(output.get("last_hidden_state"), torch.Tensor):
            return output["last_hidden_state"]
        output = list(output.values())
    if isinstance(output, (tuple, list)):
        return next((item for item in output if isinstance(item, torch.Tensor)), None)
    return None


def with_primary(output: object, tensor: torch.Tensor) -> object:
    """`output` with its primary tensor (see `primary`) replaced by `tensor`, the rest kept."""
    if isinstance(output, torch.Tensor):
        return tensor
    old = primary(output)
    if isinstance(output, Mapping):
        key = next(k for k, v in output.items() if v is old)
        return type(output)(**{**output, key: tensor}) if hasattr(output, "to_tuple") else type(output)({**output, key: tensor})
    items = [tensor if item is old else item for item in output]
    return output._make(items) if hasattr(output, "_make") else type(output)(items)


@dataclass(frozen=True)
class Pass:
    """What a pass produced: captured outputs by layer (batched), the logits (None if stopped),
    and the captured token layers' prefix tokens (N, P, C)."""

    activations: dict[str, torch.Tensor]
    logits: torch.Tensor | None
    prefixes: dict[str, torch.Tensor] = field(default_factory=dict)


@dataclass(frozen=True)
class Trace:
    """Activations of the asked-for layers, each (C, H, W) or (F,), the logits (classes,), and
    the token layers' prefix tokens, each (P, C)."""

    activations: dict[str, torch.Tensor]
    logits: torch.Tensor | None
    prefixes: dict[str, torch.Tensor] = field(default_factory=dict)

    def __getitem__(self, layer: str) -> torch.Tensor:
        return self.activations[layer]


@contextmanager
def _swapped_forward(module: nn.Module, forward: Callable):
    had_own = "forward" in module.__dict__
    own = module.__dict__.get("forward")
    module.forward = forward
    try:
        yield
    finally:
        if had_own:
            module.forward = own
        else:
            del module.forward


def _constant(value: torch.Tensor) -> Callable:
    def forward(*args, **kwargs):
        return value.clone()  # a fresh tensor: in-place ops above must not touch the caller's

    return forward


def _replay(module: nn.Module, outputs: list[torch.Tensor], batch: int, copy: bool) -> Callable:
    """A forward that returns recorded outputs for its first calls and computes afterwards.

    A batch is served as a broadcast view unless `copy`: most recorded outputs are never read
    above the layer, and copying early feature maps for hundreds of rows would cost gigabytes.
    """
    original = module.forward
    calls = itertools.count()

    def forward(*args, **kwargs):
        i = next(calls)
        if i >= len(outputs):
            return original(*args, **kwargs)
        out = outputs[i]
        return out.expand(batch, *out.shape[1:]).clone() if copy or batch == 1 else out.expand(batch, *out.shape[1:])

    return forward


def _capture_hook(name: str, captured: dict[str, torch.Tensor], prefixes: dict[str, torch.Tensor], wanted: int, stop: bool, layout: LayerLayout | None) -> Callable:
    def hook(module, inputs, output):
        tensor = primary(output)
        if tensor is None:
            raise UnknownLayerError(f"layer {name!r} outputs a {type(output).__name__} holding no tensor; pick one of its submodules")
        if name in captured:
            raise UnknownLayerError(f"layer {name!r} runs more than once per forward pass, so its output is ambiguous; pick its parent or one of its submodules")
        captured[name] = layout.to_canonical(tensor) if layout is not None else tensor
        if layout is not None and layout.tokens:
            prefixes[name] = layout.prefix_of(tensor)
        if stop and len(captured) == wanted:
            raise _Stop
        return with_primary(output, tensor.clone())

    return hook


def _replace_hook(value: torch.Tensor) -> Callable:
    """For a layer whose output is a structure (a tuple, a ModelOutput): it runs, and its primary
    tensor is swapped for `value`, so the rest of the structure stays what the network expects."""

    def hook(module, inputs, output):
        return with_primary(output, value.clone())

    return hook


def run(
    model: nn.Module,
    modules: Mapping[str, nn.Module],
    x: torch.Tensor,
    *,
    capture: Iterable[str] = (),
    replace: Mapping[str, torch.Tensor] | None = None,
    replace_prefixes: Mapping[str, torch.Tensor] | None = None,
    stop: bool = False,
    frozen: Mapping[str, list[torch.Tensor]] | None = None,
    copy_frozen: bool = False,
    layouts: Mapping[str, LayerLayout] | None = None,
    structured: frozenset[str] = frozenset(),
    logits_of: Callable[[object], torch.Tensor] = primary,
) -> Pass:
    """Run `model(x)` once.

    capture: layers whose outputs to return. replace: layers whose output is the given tensor
    instead (the layer itself does not run); replace_prefixes: the prefix tokens of replaced
    token layers. stop: end the pass once every captured layer has
    run (no logits). frozen: layers that return recorded outputs (see `record_below`), as
    broadcast views unless `copy_frozen`. layouts: layers whose captured and replacing tensors
    are in the canonical layout rather than the layer's own (see `layer_layout`). structured: layers
    whose output is a structure holding their tensor (see `primary`). logits_of: the logits
    from the model's output.
    Hooks and swapped forwards are always removed, also when the pass raises.
    """
    layouts = layouts or {}
    capture = list(dict.fromkeys(capture))
    captured: dict[str, torch.Tensor] = {}
    prefixes: dict[str, torch.Tensor] = {}
    logits = None
    with ExitStack() as stack:
        for name in capture:
            handle = modules[name].register_forward_hook(_capture_hook(name, captured, prefixes, len(capture), stop, layouts.get(name)))
            stack.callback(handle.remove)
        for name, value in (replace or {}).items():
            native = layouts[name].to_native(value, (replace_prefixes or {}).get(name)) if name in layouts else value
            if name in structured:
                # First among the layer's hooks, as a swapped forward would be: an ablation then edits the given tensor.
                stack.callback(modules[name].register_forward_hook(_replace_hook(native), prepend=True).remove)
            else:
                stack.enter_context(_swapped_forward(modules[name], _constant(native)))
        for name, outputs in (frozen or {}).items():
            stack.enter_context(_swapped_forward(modules[name], _replay(modules[name], outputs, x.shape[0], copy_frozen)))
        try:
            logits = logits_of(model(x))
        except _Stop:
            pass
    missing = [name for name in capture if name not in captured]
    if missing:
        raise UnknownLayerError(f"layer(s) {', '.join(map(repr, missing))} did not run in this forward pass; pick layers the model calls")
    return Pass(captured, logits, prefixes)


def _ancestors(layer: str) -> set[str]:
    parts = layer.split(".")
    return {".".join(parts[:i]) for i in range(len(parts))}


@contextmanager
def recording_below(modules: Mapping[str, nn.Module], layer: str):
    """While entered, a pass of batch one records the output of every module that finishes
    before `layer` starts, at the coarsest level; yields {module: [outputs]}, complete once the
    pass has reached the layer (empty if none ran in the block).

    The modules recorded are the children of `layer`'s ancestors (the root included) other than
    those ancestors and the layer itself; replaying them makes a later pass skip all the work
    below the layer, even inside residual blocks, while functional code around them still runs.
    A module whose output is not a batch-of-one tensor is left to run for real.
    """
    ancestors = _ancestors(layer)
    outputs: dict[str, list[torch.Tensor]] = {}
    unreplayable: set[str] = set()
    reached = [False]

    def recorder(name: str) -> Callable:
        def hook(module, inputs, output):
            if reached[0]:
                return
            if isinstance(output, torch.Tensor) and output.dim() > 0 and output.shape[0] == 1:
                outputs.setdefault(name, []).append(output.detach().clone())
            else:
                unreplayable.add(name)

        return hook

    def at_layer(module, inputs):
        reached[0] = True

    found: dict[str, list[torch.Tensor]] = {}
    with ExitStack() as stack:
        for name, module in modules.items():
            if name and name != layer and name not in ancestors and name.rpartition(".")[0] in ancestors:
                stack.callback(module.register_forward_hook(recorder(name)).remove)
        stack.callback(modules[layer].register_forward_pre_hook(at_layer).remove)
        yield found
    if reached[0]:
        found.update({name: outs for name, outs in outputs.items() if name not in unreplayable})


def record_below(model: nn.Module, modules: Mapping[str, nn.Module], x: torch.Tensor, layer: str) -> dict[str, list[torch.Tensor]]:
    """`recording_below` for a pass of `x` that stops where `layer` starts."""

    def stop_here(module, inputs):
        raise _Stop

    with recording_below(modules, layer) as found, torch.no_grad():
        handle = modules[layer].register_forward_pre_hook(stop_here)
        try:
            model(x)
        except _Stop:
            pass
        finally:
            handle.remove()
    return found
