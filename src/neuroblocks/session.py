"""The Session: one model, its preprocessing, labels and caches, shared by every view.

Widgets, attribution and feature visualization never touch the model directly: they ask the
Session for activations (cached per image and layer, so linked views share one forward pass),
for batched passes with hooks, or for the network above a layer.
"""

from __future__ import annotations

import hashlib
import os
import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
import torch
from torch import nn

from . import channels as ch
from . import forward as fw
from . import framing
from . import layer_choice
from . import layer_layout as lay
from . import precision, probe
from . import models
from .attribution_rules import check as check_rule
from .decoded import Decoded, Reading, read_input
from .errors import NeuroblocksError, UnknownLayerError, closest
from .fingerprint import weights_hash, weights_version
from .images import Fit, ImageLike, UrlCache
from .keywords import checked
from .labels import Labels
from .layer_edit import LayerEdit
from .lru import TensorLRU
from .work import WorkQueue

T = TypeVar("T")

_LOGITS = "<logits>"
_PREFIX = "<prefix>"
_PROBE_SIDE = 224  # probe size for models that take any input size


def default_device() -> torch.device:
    """$NEUROBLOCKS_DEVICE ("cuda", "cuda:1", "mps", …), else the CPU: where sessions that name
    no device run, so one setting moves a notebook, or the whole test suite, to a GPU."""
    return torch.device(os.environ.get("NEUROBLOCKS_DEVICE") or "cpu")


def _usable(device: torch.device) -> torch.device:
    if device.type == "cuda" and not torch.cuda.is_available():
        raise NeuroblocksError(
            f"device {str(device)!r} was asked for (device= or NEUROBLOCKS_DEVICE) but torch sees no CUDA GPU "
            f"(torch {torch.__version__}, CUDA build: {torch.version.cuda or 'no'}); use device='cpu' or unset NEUROBLOCKS_DEVICE"
        )
    return device


@dataclass(frozen=True)
class Trace:
    """Activations of the asked-for layers, each (C, H, W) or (F,), the logits (classes,), and
    the token layers' prefix tokens, each (P, C)."""

    activations: dict[str, torch.Tensor]
    logits: torch.Tensor | None
    prefixes: dict[str, torch.Tensor] = field(default_factory=dict)

    def __getitem__(self, layer: str) -> torch.Tensor:
        return self.activations[layer]


class Session:
    """Wraps a PyTorch model for interpretation.

    model: any `nn.Module` mapping a batch of images to logits; it is put in eval mode.
    preprocess: applied to batches of images in [0, 1] before the model (e.g. a
        `torchvision.transforms.Normalize`); it must be differentiable for feature visualization.
    labels: class names in output order (default: "class 0", "class 1", …).
    input_size: side (or (height, width)) every image is resized to; None keeps image sizes.
    fit: how images are resized, "crop" (cover and crop the centre) or "stretch" (the whole image).
    resize: with fit "crop", the short side images are scaled to before the centre crop to
        input_size (torchvision's eval presets: 256 before 224); None: scale to cover input_size.
    interpolation: how images are resized, "bilinear" or "bicubic" (antialiased either way).
    multilabel: the model scores each class with its own sigmoid (several can be present at
        once), so `predict` reports independent probabilities instead of a softmax.
    channels: input channels the model takes (default: read from the model's first
        convolution); 1 turns colour images into luminance, other counts than 1 and 3 take
        arrays or tensors with exactly that many channels.
    display_channels: the 3 input channels views draw as red, green and blue (default: gray
        for 1 channel, the first three for more).
    decorrelation: a C×C matrix for feature visualization's decorrelated channels (default
        ImageNet's for RGB, identity otherwise; `featurevis.estimate_decorrelation` makes one
        from your data).
    device: where the model and every tensor of the session live (default: `default_device()`).
    cache_bytes: memory for cached activations and logits.
    memory_budget: bytes one attribution pass may use for its batch of tangents (the views'
        all-class and layer-to-layer matrices): a smaller budget, smaller batches, lower peaks.
    attribution_rule: "conservative" (LayerNorm's scale and attention's softmax weights held
        constant in derivatives) or "gradient" (the plain derivative); see `attribution.rules`.
    attribution_precision: "float32" (attribution's passes with TF32 off on GPUs that have it)
        or "torch" (PyTorch's own setting kept); see `precision`.
    layouts: {layer name or pattern: "channels_first" | "channels_last" | "tokens:P" | "vectors"}
        for layers whose layout the shapes cannot tell (`session.layout(layer)` says what was read).
    logits: for a model whose output is not the logits tensor, a function from its output to the
        logits (N, classes); by default a tensor is used as it is, and a Hugging Face
        `ModelOutput` or a dict gives its `logits`, a tuple its first tensor.
    """

    @checked
    def __init__(
        self,
        model: nn.Module,
        *,
        preprocess: Callable[[torch.Tensor], torch.Tensor] | None = None,
        labels: Sequence[str] | None = None,
        input_size: int | tuple[int, int] | None = None,
        device: str | torch.device | None = None,
        fit: Fit = "crop",
        resize: int | None = None,
        interpolation: str = "bilinear",
        multilabel: bool = False,
        channels: int | None = None,
        display_channels: Sequence[int] | None = None,
        decorrelation: torch.Tensor | np.ndarray | None = None,
        cache_bytes: int = 512 * 2**20,
        memory_budget: int = 128 * 2**20,
        attribution_rule: str = "conservative",
        attribution_precision: str = "float32",
        layouts: Mapping[str, str | lay.LayerLayout] | None = None,
        logits: Callable[[object], torch.Tensor] | None = None,
    ) -> None:
        if not isinstance(model, nn.Module):
            raise TypeError(f"Session wraps a torch.nn.Module, not a {type(model).__name__}")
        self.device = _usable(torch.device(device) if device is not None else default_device())
        self.model = model.to(self.device).eval()
        self.preprocess = preprocess
        self.input_size = input_size
        self.fit = fit
        self.resize = resize
        self.interpolation = interpolation
        self.multilabel = multilabel
        self._labels: Labels | None = Labels(labels) if labels is not None else None
        self._channels = (ch.check_count(channels), "given") if channels is not None else None
        self._display_channels = display_channels
        self._decorrelation = decorrelation
        self._modules = dict(self.model.named_modules())
        self._lock = threading.RLock()
        self._cache = TensorLRU(cache_bytes)
        self._shapes: dict[str, tuple[int, ...]] | None = None
        self._internal: dict[str, tuple[int, ...]] = {}  # modules that run once but are not layers (see `_probe`)
        self._probed: dict[str, layer_choice.Probed] = {}  # what the probe saw of each layer (sign, aliases)
        self._layout_hints = dict(layouts or {})
        self._logits_fn = logits
        self._structured: frozenset[str] = frozenset()  # layers whose output is a structure holding their tensor
        self._layouts: dict[str, lay.LayerLayout | str] = {}
        self._fingerprint: tuple[tuple, str] | None = None
        self._fixed_size: tuple[int, int] | None = None
        self._urls = UrlCache()  # fetched images, so a URL is fetched once per session
        self._state: dict[str, Any] = {}  # each feature's own object for this session (see `state`)
        self._edits: list[str] = []  # descriptions of the layer edits in force (see `edit`)
        #: The views' background work, one step at a time, the view looked at last first.
        self.work = WorkQueue()
        #: Bytes an attribution pass may use for its batch of tangents (the all-class and
        #: layer-to-layer matrices pick their batch size from it; see attribution.budget).
        self.memory_budget = memory_budget
        #: How attribution's derivatives pass normalisation and attention (`attribution.rules`):
        #: "conservative" holds LayerNorm's scale and softmax weights constant, "gradient" is the
        #: plain derivative; every attribution, view and factorization uses it unless told `rule=`.
        self.attribution_rule = check_rule(attribution_rule)
        #: How attribution's float32 convolutions and matrix products run on GPUs with TF32
        #: (`precision`): "float32" (full precision, TF32 off while attribution runs) or "torch"
        #: (PyTorch's own setting, faster there and 1e-2-ish off).
        self.attribution_precision = precision.check(attribution_precision)
        #: Feature visualization's size (px) and steps wherever none are given: `render`, `icons`,
        #: `FeatureVis` and the views (the activation grid and atlas draw their cells at half the
        #: size); a small model on small images (the shapes model) is better served by smaller,
        #: quicker icons.
        self.icon_defaults = {"size": 64, "steps": 256}
        #: How another process builds this session (a `Recipe`): set by `Session.load`; dataset
        #: jobs on Ray need it (or one of their own) for their workers.
        self.recipe: Recipe | None = None

    @classmethod
    @checked
    def load(cls, name: str, weights: str | Path | None = None, fallback: str | None = None, device: str | None = None) -> Session:
        """A session over a named model: "shapes", "shapes-gray" (its 1-channel twin),
        "shapes-seed1" (trained from another seed), "shapes-narrow" (conv4 of 8 channels for 12
        classes: concepts in superposition), "shapes-vit" (a small vision transformer of
        the same world), "shapes-vit-ln" (the same with a ViT's final LayerNorm), "inceptionv1"
        (Lucid's InceptionV1, the article's network: `conv2d0` … `mixed5b`), "googlenet" or
        any torchvision classifier (ViT, Swin, ConvNeXt, MaxViT included), or "timm:<name>" for
        any timm model (needs `neuroblocks[timm]`).

        weights: None for the model's default pretrained weights (downloaded once, when online),
        a local file, a torchvision weights name such as "IMAGENET1K_V1", or "random" for a
        randomly initialised model. fallback: a model name to use, with a warning, when the
        weights cannot be had.
        """
        built = models.build(name, weights=weights, fallback=fallback)
        session = cls(built.model, device=device, **built.options)
        if built.icon_defaults is not None:
            session.icon_defaults = dict(built.icon_defaults)
        session.recipe = Recipe.load(built.name, built.weights)
        return session

    # -- inputs -----------------------------------------------------------------------------

    def __repr__(self) -> str:
        return f"Session({type(self.model).__name__}, {len(self.labels)} classes, {self.channels} input channel{'s' if self.channels > 1 else ''}, input_size={self.input_size}, device={self.device})"

    def read(self, x: ImageLike | Decoded) -> Decoded:
        """`x` decoded once with this session's settings (a URL fetched once per session), to pass
        on to every block of a computation in its place; a `Decoded` of these settings as it is."""
        reading = Reading(self.input_size, self.fit, self.channels, self.resize, self.interpolation)
        return read_input(x, reading, self._urls)

    def image(self, x: ImageLike | Decoded) -> torch.Tensor:
        """Any image input → (channels, H, W) float tensor in [0, 1] at this session's input size
        (a copy: the reading it comes from is shared by a whole computation)."""
        return self.read(x).pixels.to(self.device, copy=True)

    def framing(self, x: ImageLike | Decoded) -> framing.Framing:
        """Which part of the photo `x` the model sees, and the mapping between photo pixels, model
        input and a layer's grid cells (`Framing.photo_to_cell(points, session.layer_shape(layer)[-2:])`)."""
        size = (self.input_size, self.input_size) if isinstance(self.input_size, int) else self.input_size
        return framing.frame(self.read(x).photo_size, None if size is None else (int(size[0]), int(size[1])), self.fit, self.resize)

    def _probe_side(self) -> tuple[int, int]:
        size = self.input_size or _PROBE_SIDE
        return (size, size) if isinstance(size, int) else (int(size[0]), int(size[1]))

    @property
    def channels(self) -> int:
        """Input channels the model takes: as given, or read from the model (`channels_source` says where)."""
        with self._lock:
            if self._channels is None:
                self._channels = ch.infer(self.model, lambda x: self.model(self._model_input(x)), self._probe_side(), self.device)
            return self._channels[0]

    @property
    def channels_source(self) -> str:
        """Where the channel count came from: "given", or the module attribute it was read from."""
        self.channels
        return self._channels[1]

    @property
    def display_channels(self) -> tuple[int, int, int]:
        """The input channels views draw as red, green and blue."""
        return ch.composite(self.channels, self._display_channels)

    @display_channels.setter
    def display_channels(self, chosen: Sequence[int] | None) -> None:
        ch.composite(self.channels, chosen)  # refuse a bad choice now, not at the next draw
        self._display_channels = chosen

    def display(self, images: torch.Tensor) -> torch.Tensor:
        """Inputs (…, channels, H, W) as the 3-channel pictures views draw (see `display_note`)."""
        return ch.draw(images, self.display_channels)

    @property
    def display_note(self) -> str:
        """How views draw this model's inputs, e.g. "1-channel input: shown in grayscale"; empty for RGB."""
        return ch.note(self.channels, self.display_channels)

    @property
    def decorrelation(self) -> torch.Tensor | None:
        """The C×C channel mix feature visualization uses, when one was given (else its default)."""
        if self._decorrelation is None:
            return None
        mix = torch.as_tensor(self._decorrelation, dtype=torch.float32)
        if tuple(mix.shape) != (self.channels, self.channels):
            raise ch.ChannelError(f"decorrelation is a {self.channels}×{self.channels} matrix for this {self.channels}-channel model, not {tuple(mix.shape)}")
        return mix

    @property
    def dtype(self) -> torch.dtype:
        """The model's floating-point type (its first parameter's; float32 without one): inputs are
        cast to it, and attribution computes in it (a bfloat16 model's in bfloat16)."""
        param = next(self.model.parameters(), None)
        return param.dtype if param is not None and param.is_floating_point() else torch.float32

    def _model_input(self, images: torch.Tensor) -> torch.Tensor:
        images = images.to(self.device, self.dtype)
        return self.preprocess(images) if self.preprocess is not None else images

    # -- layers -----------------------------------------------------------------------------

    def _shapes_at(self, h: int, w: int, structured: set[str] | None = None, seen: dict[str, tuple[bool, str]] | None = None) -> tuple[dict[str, tuple[int, ...]], torch.Tensor]:
        """`probe.module_outputs` of this model at an h×w input."""
        noise = torch.rand(probe.BATCH, self.channels, h, w, generator=torch.Generator().manual_seed(0)).to(self.device)
        return probe.module_outputs(self._modules, lambda x: self.logits_of(self.model(self._model_input(x))), noise, structured, seen)

    def _probe(self) -> dict[str, tuple[int, ...]]:
        """The hookable layers and their canonical shapes; their layouts (`layer_layout`) are read
        from a second pass at a taller input, where the model takes one."""
        with self._lock:
            if self._shapes is not None:
                return self._shapes
            h, w = self._probe_side()
            structured: set[str] = set()
            seen: dict[str, tuple[bool, str]] = {}
            try:
                native, logits = self._shapes_at(h, w, structured, seen)
            except RuntimeError as e:
                raise ch.ChannelError(
                    f"the model fails on a {self.channels}-channel {h}×{w} input (channels {self.channels_source}): {str(e).splitlines()[0]}; "
                    "pass Session(..., channels=N) with the count it takes, or input_size= with the size it takes"
                ) from e
            taller = (h + max(32, h // 2) + 31) // 32 * 32, w
            try:
                other = self._shapes_at(*taller)[0]
            except Exception:  # a model that takes one input size: the layouts are read from one pass
                other = {}
            self._fixed_size = None if other else (h, w)
            if self._labels is None:
                self._labels = Labels([f"class {i}" for i in range(logits.shape[-1])])
            found: dict[str, lay.LayerLayout | str] = {}
            for name, shape in native.items():
                stated = lay.given(self._layout_hints, name)
                if stated is not None:
                    found[name] = lay.stated(stated, shape, name, (h, w))
                else:
                    found[name] = lay.infer(self._modules[name], shape, (h, w), (other[name], taller) if name in other else None)
            # Not grids, tokens or vectors: a window partition's (windows, window tokens, C) and the
            # attention computed on it are internal steps, not layers a block can read.
            self._internal = {n: native[n] for n, v in found.items() if isinstance(v, lay.LayerLayout) and v.kind == "other"}
            self._layouts = {n: v for n, v in found.items() if n not in self._internal}
            self._structured = frozenset(structured)
            self._shapes = {n: (v.shape if isinstance(v, lay.LayerLayout) else native[n]) for n, v in self._layouts.items()}
            self._probed = {n: layer_choice.Probed(shape, *seen[n]) for n, shape in self._shapes.items()}
            return self._shapes

    @property
    def fixed_size(self) -> tuple[int, int] | None:
        """(H, W) when the model takes inputs of that size only (a ViT's position embeddings), else None."""
        self._probe()
        return self._fixed_size

    def logits_of(self, output: object) -> torch.Tensor:
        """The logits (N, classes) in what the model returned (see the `logits` argument)."""
        if self._logits_fn is not None:
            return self._logits_fn(output)
        if isinstance(output, torch.Tensor):
            return output
        found = output.get("logits") if isinstance(output, Mapping) else getattr(output, "logits", None)
        found = found if isinstance(found, torch.Tensor) else fw.primary(output)
        if found is None:
            raise NeuroblocksError(f"the model returns a {type(output).__name__} with no logits tensor in it: pass Session(..., logits=fn), fn taking the model's output to the logits (N, classes)")
        return found

    def layout(self, layer: str) -> lay.LayerLayout:
        """How `layer`'s output is laid out, and where that was learnt (docs/guides/transformers.md); an error that
        says how to state it where the shapes cannot tell."""
        layer = self.check_layer(layer)
        found = self._layouts[layer]
        if isinstance(found, str):
            raise lay.how_to_state(layer, found)
        return found

    def readable_layers(self) -> list[str]:
        """The layers the blocks can read (their layout settled), in execution order."""
        self._probe()
        return [n for n, v in self._layouts.items() if isinstance(v, lay.LayerLayout)]

    def _readable(self, layers: Iterable[str]) -> dict[str, lay.LayerLayout]:
        """The layouts of layers a pass captures or replaces (an error where one is ambiguous)."""
        return {layer: self.layout(layer) for layer in layers}

    def prefix_tokens(self, layer: str) -> int:
        """How many prefix tokens (class, distillation, register) `layer` has beside its patch grid: 0 unless a token layer."""
        return self.layout(layer).prefix

    @property
    def layers(self) -> list[str]:
        """Hookable layers (modules that run once per pass and output a tensor), in execution
        order: the order their outputs are made, so a block follows its own parts."""
        return list(self._probe())

    def sign(self, layer: str) -> str:
        """"non-negative" for a layer after a nonlinearity (ReLU, a pool of one), else "signed"
        (a linear bottleneck, a residual stream, a pre-activation): read from the probe pass on
        noise. Activation × gradient is two-sided on a signed layer, and NMF needs its ± split."""
        return "signed" if self._probed[self.check_layer(layer)].signed else "non-negative"

    def suggested_layers(self, n: int = 4) -> list[str]:
        """Up to `n` grid layers worth reading first, shallowest first: the last layer of each of
        the deepest resolution stages, non-negative ones preferred (a model of one resolution, a
        ViT: evenly spaced blocks). Views and notebooks use them when no layer is named."""
        self._probe()
        return layer_choice.suggest(self._probed, self._modules, n)

    def describe_layers(self, layers: Iterable[str] | None = None) -> str:
        """A table of layers (default: all) with their shape, layout and sign, one per line."""
        rows = []
        for layer in self.layers if layers is None else layers:
            found = self._layouts[self.check_layer(layer)]
            kind = found.kind if isinstance(found, lay.LayerLayout) else "layout unknown"
            rows.append(f"{layer:<40s} {str(self.layer_shape(layer) if isinstance(found, lay.LayerLayout) else self._shapes[layer]):<18s} {kind:<15s} {self.sign(layer)}")
        return "\n".join(rows)

    def layer_shape(self, layer: str) -> tuple[int, ...]:
        """Shape of one image's output of `layer` as the blocks see it, e.g. (528, 14, 14) (a
        channels-last grid too), at this session's input size."""
        return self.layout(layer).shape

    def check_layer(self, layer: str) -> str:
        """`layer` if the model has it as a hookable layer; otherwise an error naming close ones."""
        shapes = self._probe()
        if layer in shapes:
            return layer
        if layer in self._internal:
            raise UnknownLayerError(
                f"{layer!r} is an internal step, not a layer: its output {self._internal[layer]} per image is no grid, token or vector layout "
                f"(e.g. windows × window tokens × features); close layers: {', '.join(closest(layer, shapes))}"
            )
        if layer in self._modules and layer:
            raise UnknownLayerError(f"layer {layer!r} cannot be hooked: it runs more than once per pass or outputs no tensor; close layers: {', '.join(closest(layer, shapes))}")
        raise UnknownLayerError(f"unknown layer {layer!r}; close names: {', '.join(closest(layer, shapes))} (session.layers lists all {len(shapes)})")

    # -- labels -----------------------------------------------------------------------------

    @property
    def labels(self) -> list[str]:
        """Class names in output order."""
        if self._labels is None:
            self._probe()
        return self._labels.names

    def class_index(self, name: str | int) -> int:
        """Output index of a class by name (case, spaces and underscores don't matter) or index."""
        if self._labels is None:
            self._probe()
        return self._labels.index(name)

    def class_name(self, index: int) -> str:
        if self._labels is None:
            self._probe()
        return self._labels.name(index)

    # -- weights ----------------------------------------------------------------------------

    @property
    def fingerprint(self) -> str:
        """Hash of the current weights (and layer edits in force), for disk caches; the weights'
        hash is recomputed only after they change."""
        with self._lock:
            version = weights_version(self.model)
            if self._fingerprint is None or self._fingerprint[0] != version:
                self._fingerprint = (version, weights_hash(self.model))
            if self._edits:
                return hashlib.sha256("|".join([self._fingerprint[1], *self._edits]).encode()).hexdigest()[:16]
            return self._fingerprint[1]

    # -- what features build on it ------------------------------------------------------------

    @property
    def lock(self) -> threading.RLock:
        """The lock every pass of this session holds: work that must not interleave with a layer
        edit (an attribution matrix's batched passes) holds it too."""
        return self._lock

    def edit(self, layer: str, change: Callable[[torch.Tensor], torch.Tensor], description: str) -> LayerEdit:
        """A context manager under which `layer`'s output is `change(output)` (its own tensor,
        in its own layout) in every pass of this session. It holds the session's lock, so passes
        of other threads wait instead of running half edited, and `description` joins every cache
        key and the fingerprint while it is in force. Ablation (`neuroblocks.ablate`) is one."""
        return LayerEdit(self._lock, self._modules[self.check_layer(layer)], self._edits, change, description)

    def state(self, key: str, make: Callable[[Session], T]) -> T:
        """The one object feature `key` keeps for this session (an icon service, a dictionary's
        cache), made by `make(session)` under the session's lock on first use."""
        with self._lock:
            if key not in self._state:
                self._state[key] = make(self)
            return self._state[key]

    # -- passes -----------------------------------------------------------------------------

    def forward(
        self,
        images: torch.Tensor,
        *,
        capture: Iterable[str] = (),
        replace: dict[str, torch.Tensor] | None = None,
        replace_prefixes: dict[str, torch.Tensor] | None = None,
        stop: bool = False,
    ) -> fw.Pass:
        """One batched pass over images (N, channels, H, W) in [0, 1]; gradients flow if enabled.

        capture: layers whose batched outputs to return. replace: layers whose output is the
        given tensor instead (a token layer's also its prefix tokens (N, P, C) in
        `replace_prefixes`). stop: end at the last captured layer (no logits).
        """
        if images.dim() != 4 or images.shape[1] != self.channels:
            got = f"{images.shape[1]}-channel images" if images.dim() == 4 else "images"
            raise ch.ChannelError(f"this model takes {self.channels}-channel images (N, {self.channels}, H, W); got {got} of shape {tuple(images.shape)}")
        capture = [self.check_layer(layer) for layer in capture]
        layouts = self._readable([*capture, *(replace or {})])
        with self._lock:
            return fw.run(
                self.model, self._modules, self._model_input(images), capture=capture, replace=replace, replace_prefixes=replace_prefixes, stop=stop,
                layouts=layouts, structured=self._structured, logits_of=self.logits_of,
            )

    def above(self, image: ImageLike | Decoded, layer: str) -> Above:
        """The network above `layer` for one image, as a function of that layer's activations."""
        return Above(self, self.read(image), self.check_layer(layer))

    def trace(self, image: ImageLike | Decoded, layers: str | Iterable[str] = (), *, logits: bool = True) -> Trace:
        """Activations of `layers` for one image, from one pass, cached per (image, layer).

        With `logits=False` the pass stops at the deepest requested layer.
        """
        names = [self.check_layer(layer) for layer in ([layers] if isinstance(layers, str) else layers)]
        decoded = self.read(image)
        img = decoded.pixels.to(self.device)
        key = (weights_version(self.model), tuple(self._edits), decoded.digest, tuple(img.shape))
        tokens = [layer for layer in names if self.layout(layer).tokens]
        with self._lock:
            found = {layer: self._cache.get((*key, layer)) for layer in names}
            prefixes = {layer: self._cache.get((*key, layer, _PREFIX)) for layer in tokens}
            out = self._cache.get((*key, _LOGITS)) if logits else None
            missing = [layer for layer, value in found.items() if value is None or (layer in tokens and prefixes[layer] is None)]
            if missing or (logits and out is None):
                with torch.inference_mode(False), torch.no_grad():  # cached tensors stay usable by gradient blocks
                    result = self.forward(img[None], capture=missing, stop=not logits)
                for layer in missing:
                    found[layer] = result.activations[layer][0]
                    self._cache.put((*key, layer), found[layer])
                    if layer in tokens:
                        prefixes[layer] = result.prefixes[layer][0]
                        self._cache.put((*key, layer, _PREFIX), prefixes[layer])
                if logits:
                    out = result.logits[0]
                    self._cache.put((*key, _LOGITS), out)
        # Copies, so a caller editing a result in place cannot corrupt what other views share.
        return Trace(
            {layer: value.clone() for layer, value in found.items()}, out.clone() if out is not None else None, {layer: value.clone() for layer, value in prefixes.items()}
        )

    def predict(self, image: ImageLike | Decoded, top: int = 5) -> list[tuple[str, float]]:
        """The `top` classes by probability: [(label, probability)], most likely first."""
        logits = self.trace(image).logits.float()
        probs = torch.sigmoid(logits) if self.multilabel else torch.softmax(logits, dim=-1)
        values, indices = probs.topk(min(top, probs.numel()))
        return [(self.class_name(int(i)), float(v)) for v, i in zip(values, indices)]


class Above:
    """The part of the network above one layer, for one image: activations → logits.

    Everything that finishes before the layer starts is replayed from one recording, so a
    call costs only the work above the layer, whatever the architecture.
    """

    def __init__(self, session: Session, image: Decoded, layer: str) -> None:
        self.session, self.layer = session, layer
        trace = session.trace(image, layer, logits=False)
        self.shape = tuple(trace[layer].shape)
        #: A token layer's own prefix tokens (P, C), used where a call gives none.
        self.prefix = trace.prefixes.get(layer)
        self._x = session._model_input(image.pixels[None])
        with session._lock:
            self._frozen = fw.record_below(session.model, session._modules, self._x, layer)

    def __call__(self, activations: torch.Tensor, *, prefix: torch.Tensor | None = None, capture: Iterable[str] = (), stop: bool = False) -> fw.Pass:
        """Run with `activations` (N, *shape) as the layer's output, and for a token layer
        `prefix` (N, P, C) as its prefix tokens (default: the image's own); gradients flow to both."""
        if tuple(activations.shape[1:]) != self.shape:
            raise ValueError(f"activations of {self.layer!r} have shape (N, {', '.join(map(str, self.shape))}), not {tuple(activations.shape)}")
        capture = [self.session.check_layer(layer) for layer in capture]
        x = self._x.expand(activations.shape[0], *self._x.shape[1:])
        layouts = self.session._readable([*capture, self.layer])
        args = dict(
            capture=capture, replace={self.layer: activations}, stop=stop, frozen=self._frozen, layouts=layouts,
            replace_prefixes={self.layer: self.prefix[None] if prefix is None else prefix} if self.prefix is not None else None,
            structured=self.session._structured, logits_of=self.session.logits_of,
        )
        with self.session._lock:
            try:
                return fw.run(self.session.model, self.session._modules, x, **args)
            except RuntimeError as e:
                if "single memory location" not in str(e):
                    raise
                # The model writes in place into a replayed output: serve copies instead.
                return fw.run(self.session.model, self.session._modules, x, copy_frozen=True, **args)


@dataclass(frozen=True)
class Recipe:
    """How another process (a Ray worker) builds its own Session: a Session is not sent over the
    wire (it holds a model, threads and caches); a recipe is. `Recipe(make_session, *args,
    **kwargs)` calls a function that returns a Session (any model, any preprocessing);
    `Recipe.load(name, weights=…)` is `Session.load`'s arguments. The function must be importable
    or picklable by value (a notebook's function is)."""

    factory: Callable[..., Session]
    args: tuple = ()
    kwargs: dict[str, Any] = field(default_factory=dict)

    def __init__(self, factory: Callable[..., Session], *args: Any, **kwargs: Any) -> None:
        if not callable(factory):
            raise TypeError(f"a Recipe starts from a function that returns a Session, not a {type(factory).__name__}")
        object.__setattr__(self, "factory", factory)
        object.__setattr__(self, "args", args)
        object.__setattr__(self, "kwargs", kwargs)

    @classmethod
    def load(cls, name: str, weights: str | Path | None = None, fallback: str | None = None) -> Recipe:
        """`Session.load(name, weights=…, fallback=…)` on each worker, on the worker's device."""
        return cls(Session.load, name, weights=None if weights is None else str(weights), fallback=fallback)

    def build(self) -> Session:
        session = self.factory(*self.args, **self.kwargs)
        if not isinstance(session, Session):
            raise TypeError(f"the recipe's function {getattr(self.factory, '__name__', self.factory)!r} returned a {type(session).__name__}, not a Session")
        return session
