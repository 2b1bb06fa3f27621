"""The layer catalogue: which modules of a model are layers, their shapes, layouts and signs, read
once from probe passes on noise (docs/explanations/session.md). The Session holds one and answers
every question about layers from it."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Mapping

import torch
from torch import nn

from . import layer_choice, probe
from . import layer_layout as lay
from .channels import ChannelError
from .errors import UnknownLayerError, closest


class LayerCatalogue:
    """`run(images)` is the model's logits for a batch of inputs in [0, 1]; `channels()` and
    `channels_source()` the input channel count and where it came from; `side` the probe's
    (H, W); `hints` the user's {layer or pattern: layout} for layers the shapes cannot tell."""

    def __init__(
        self,
        modules: dict[str, nn.Module],
        run: Callable[[torch.Tensor], torch.Tensor],
        channels: Callable[[], int],
        channels_source: Callable[[], str],
        side: tuple[int, int],
        device: torch.device,
        hints: Mapping[str, str | lay.LayerLayout],
        lock: threading.RLock,
    ) -> None:
        self.modules, self._run, self._channels, self._source = modules, run, channels, channels_source
        self._side, self._device, self._hints, self._lock = side, device, dict(hints), lock
        self._shapes: dict[str, tuple[int, ...]] | None = None
        self._internal: dict[str, tuple[int, ...]] = {}  # modules that run once but are not layers (see `probe`)
        self._probed: dict[str, layer_choice.Probed] = {}  # what the probe saw of each layer (sign, aliases)
        self._layouts: dict[str, lay.LayerLayout | str] = {}
        #: layers whose output is a structure holding their tensor
        self.structured: frozenset[str] = frozenset()
        #: (H, W) when the model takes inputs of that size only (a ViT's position embeddings), else None
        self.fixed_size: tuple[int, int] | None = None
        #: how many logits the model gives
        self.outputs = 0

    def _shapes_at(self, h: int, w: int, structured: set[str] | None = None, seen: dict[str, tuple[bool, str]] | None = None):
        """`probe.module_outputs` of the model at an h×w input."""
        noise = torch.rand(probe.BATCH, self._channels(), h, w, generator=torch.Generator().manual_seed(0)).to(self._device)
        return probe.module_outputs(self.modules, self._run, noise, structured, seen)

    def probe(self) -> dict[str, tuple[int, ...]]:
        """The hookable layers and their canonical shapes; their layouts (`layer_layout`) are read
        from a second pass at a taller input, where the model takes one."""
        with self._lock:
            if self._shapes is not None:
                return self._shapes
            h, w = self._side
            structured: set[str] = set()
            seen: dict[str, tuple[bool, str]] = {}
            try:
                native, logits = self._shapes_at(h, w, structured, seen)
            except RuntimeError as e:
                raise ChannelError(
                    f"the model fails on a {self._channels()}-channel {h}×{w} input (channels {self._source()}): {str(e).splitlines()[0]}; "
                    "pass Session(..., channels=N) with the count it takes, or input_size= with the size it takes"
                ) from e
            taller = (h + max(32, h // 2) + 31) // 32 * 32, w
            try:
                other = self._shapes_at(*taller)[0]
            except Exception:  # a model that takes one input size: the layouts are read from one pass
                other = {}
            self.fixed_size = None if other else (h, w)
            self.outputs = logits.shape[-1]
            found: dict[str, lay.LayerLayout | str] = {}
            for name, shape in native.items():
                stated = lay.given(self._hints, name)
                if stated is not None:
                    found[name] = lay.stated(stated, shape, name, (h, w))
                else:
                    found[name] = lay.infer(self.modules[name], shape, (h, w), (other[name], taller) if name in other else None)
            # Not grids, tokens or vectors: a window partition's (windows, window tokens, C) and the
            # attention computed on it are internal steps, not layers a block can read.
            self._internal = {n: native[n] for n, v in found.items() if isinstance(v, lay.LayerLayout) and v.kind == "other"}
            self._layouts = {n: v for n, v in found.items() if n not in self._internal}
            self.structured = frozenset(structured)
            self._shapes = {n: (v.shape if isinstance(v, lay.LayerLayout) else native[n]) for n, v in self._layouts.items()}
            self._probed = {n: layer_choice.Probed(shape, *seen[n]) for n, shape in self._shapes.items()}
            return self._shapes

    def check(self, layer: str) -> str:
        """`layer` if the model has it as a hookable layer; otherwise an error naming close ones."""
        shapes = self.probe()
        if layer in shapes:
            return layer
        if layer in self._internal:
            raise UnknownLayerError(
                f"{layer!r} is an internal step, not a layer: its output {self._internal[layer]} per image is no grid, token or vector layout "
                f"(e.g. windows × window tokens × features); close layers: {', '.join(closest(layer, shapes))}"
            )
        if layer in self.modules and layer:
            raise UnknownLayerError(f"layer {layer!r} cannot be hooked: it runs more than once per pass or outputs no tensor; close layers: {', '.join(closest(layer, shapes))}")
        raise UnknownLayerError(f"unknown layer {layer!r}; close names: {', '.join(closest(layer, shapes))} (session.layers lists all {len(shapes)})")

    def layout(self, layer: str) -> lay.LayerLayout:
        """How `layer`'s output is laid out (docs/guides/transformers.md); an error that says how
        to state it where the shapes cannot tell."""
        layer = self.check(layer)  # probes first: the probe replaces `_layouts`
        found = self._layouts[layer]
        if isinstance(found, str):
            raise lay.how_to_state(layer, found)
        return found

    def layouts(self, layers: Iterable[str]) -> dict[str, lay.LayerLayout]:
        """The layouts of layers a pass captures or replaces (an error where one is ambiguous)."""
        return {layer: self.layout(layer) for layer in layers}

    def readable(self) -> list[str]:
        """The layers the blocks can read (their layout settled), in execution order."""
        self.probe()
        return [n for n, v in self._layouts.items() if isinstance(v, lay.LayerLayout)]

    def signed(self, layer: str) -> bool:
        layer = self.check(layer)
        return self._probed[layer].signed

    def suggested(self, n: int) -> list[str]:
        self.probe()
        return layer_choice.suggest(self._probed, self.modules, n)

    def describe(self, layers: Iterable[str], sign: Callable[[str], str]) -> str:
        """A table of `layers` with their shape, layout and sign, one per line."""
        rows = []
        for layer in layers:
            layer = self.check(layer)
            found = self._layouts[layer]
            settled = isinstance(found, lay.LayerLayout)
            shape = found.shape if settled else self._shapes[layer]
            rows.append(f"{layer:<40s} {str(shape):<18s} {found.kind if settled else 'layout unknown':<15s} {sign(layer)}")
        return "\n".join(rows)
