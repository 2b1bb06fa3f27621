"""The Session: one model, its preprocessing, labels and caches, shared by every view.

Widgets, attribution and feature visualization never touch the model directly: they ask the
Session for activations (cached per image and layer, so linked views share one forward pass),
for batched passes with hooks, or for the network above a layer.
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any, TypeVar

import torch
from torch import nn

from . import channels as ch
from . import forward as fw
from . import layer_layout as lay
from . import models
from .above import Above, above_of
from .decoded import Decoded
from .devices import default_device, usable
from .errors import NeuroblocksError
from .forward import Trace
from .fingerprint import weights_hash, weights_version
from .images import Fit, ImageLike, UrlCache
from .keywords import checked
from .labels import Labels
from .layer_catalogue import LayerCatalogue
from .layer_edit import LayerEdit
from .lru import TensorLRU
from .reads_inputs import ReadsInputs

T = TypeVar("T")
_LOGITS, _PREFIX = "<logits>", "<prefix>"


class Session(ReadsInputs):
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
    device: where the model and every tensor of the session live (default: `default_device()`).
    cache_bytes: memory for cached activations and logits.
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
        cache_bytes: int = 512 * 2**20,
        layouts: Mapping[str, str | lay.LayerLayout] | None = None,
        logits: Callable[[object], torch.Tensor] | None = None,
    ) -> None:
        if not isinstance(model, nn.Module):
            raise TypeError(f"Session wraps a torch.nn.Module, not a {type(model).__name__}")
        self.device = usable(torch.device(device) if device is not None else default_device())
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
        self._lock = threading.RLock()
        self._cache = TensorLRU(cache_bytes)
        self._logits_fn = logits
        self._fingerprint: tuple[tuple, str] | None = None
        modules = dict(self.model.named_modules())
        run = lambda x: self.logits_of(self.model(self.model_input(x)))  # noqa: E731
        side = self.probe_side()
        #: Which modules are layers, their shapes, layouts and signs (`layer_catalogue`).
        self.catalogue = LayerCatalogue(modules, run, lambda: self.channels, lambda: self.channels_source, side, self.device, layouts or {}, self._lock)
        self._urls = UrlCache()  # fetched images, so a URL is fetched once per session
        self._state: dict[str, Any] = {}  # each feature's own object for this session (see `state`)
        self._edits: list[str] = []  # descriptions of the layer edits in force (see `edit`)
        #: What the model catalogue suggests to features for this model, e.g. {"icons": {"size":
        #: 48, "steps": 128}} for the small shapes models (`featurevis.settings` starts from it).
        self.model_defaults: dict[str, Any] = {}
        #: (name, weights) when made by `Session.load`, so another process can load the same
        #: (`scale.Recipe.of`); None for a model given directly.
        self.loaded_as: tuple[str, str | None] | None = None

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
            session.model_defaults["icons"] = dict(built.icon_defaults)
        session.loaded_as = (built.name, None if built.weights is None else str(built.weights))
        return session

    # -- inputs -----------------------------------------------------------------------------

    def __repr__(self) -> str:
        return f"Session({type(self.model).__name__}, {len(self.labels)} classes, {self.channels} input channel{'s' if self.channels > 1 else ''}, input_size={self.input_size}, device={self.device})"

    # -- layers -----------------------------------------------------------------------------

    @property
    def fixed_size(self) -> tuple[int, int] | None:
        """(H, W) when the model takes inputs of that size only (a ViT's position embeddings), else None."""
        self.catalogue.probe()
        return self.catalogue.fixed_size

    @property
    def structured(self) -> frozenset[str]:
        """Layers whose output is a structure (a tuple, a dict) holding their tensor."""
        self.catalogue.probe()
        return self.catalogue.structured

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
        """How `layer`'s output is laid out, and where that was learnt (docs/guides/transformers.md)."""
        return self.catalogue.layout(layer)

    def readable_layers(self) -> list[str]:
        """The layers the blocks can read (their layout settled), in execution order."""
        return self.catalogue.readable()

    def prefix_tokens(self, layer: str) -> int:
        """How many prefix tokens (class, distillation, register) `layer` has beside its patch grid: 0 unless a token layer."""
        return self.layout(layer).prefix

    @property
    def layers(self) -> list[str]:
        """Hookable layers (modules that run once per pass and output a tensor), in execution
        order: the order their outputs are made, so a block follows its own parts."""
        return list(self.catalogue.probe())

    def sign(self, layer: str) -> str:
        """"non-negative" for a layer after a nonlinearity (ReLU, a pool of one), else "signed"
        (a linear bottleneck, a residual stream, a pre-activation): read from the probe pass on
        noise. Activation × gradient is two-sided on a signed layer, and NMF needs its ± split."""
        return "signed" if self.catalogue.signed(layer) else "non-negative"

    def suggested_layers(self, n: int = 4) -> list[str]:
        """Up to `n` grid layers worth reading first, shallowest first: the last layer of each of
        the deepest resolution stages, non-negative ones preferred (a model of one resolution, a
        ViT: evenly spaced blocks). Views and notebooks use them when no layer is named."""
        return self.catalogue.suggested(n)

    def describe_layers(self, layers: Iterable[str] | None = None) -> str:
        """A table of layers (default: all) with their shape, layout and sign, one per line."""
        return self.catalogue.describe(self.layers if layers is None else layers, self.sign)

    def layer_shape(self, layer: str) -> tuple[int, ...]:
        """Shape of one image's output of `layer` as the blocks see it, e.g. (528, 14, 14) (a
        channels-last grid too), at this session's input size."""
        return self.layout(layer).shape

    def check_layer(self, layer: str) -> str:
        """`layer` if the model has it as a hookable layer; otherwise an error naming close ones."""
        return self.catalogue.check(layer)

    # -- labels -----------------------------------------------------------------------------

    @property
    def labels(self) -> list[str]:
        """Class names in output order."""
        return self._named().names

    def class_index(self, name: str | int) -> int:
        """Output index of a class by name (case, spaces and underscores don't matter) or index."""
        return self._named().index(name)

    def class_name(self, index: int) -> str:
        return self._named().name(index)

    def _named(self) -> Labels:
        """The labels given, else "class i" for each of the model's outputs (read by the probe)."""
        if self._labels is None:
            self.catalogue.probe()
            self._labels = Labels([f"class {i}" for i in range(self.catalogue.outputs)])
        return self._labels

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
        return LayerEdit(self._lock, self.catalogue.modules[self.check_layer(layer)], self._edits, change, description)

    def state(self, key: str, make: Callable[[Session], T]) -> T:
        """The one object feature `key` keeps for this session (an icon service, a dictionary's
        cache), made by `make(session)` under the session's lock on first use."""
        with self._lock:
            if key not in self._state:
                self._state[key] = make(self)
            return self._state[key]

    def set_state(self, key: str, value: object) -> None:
        """Replace feature `key`'s object for this session (its settings, changed by the user)."""
        with self._lock:
            self._state[key] = value

    def examples(self, data: Iterable | None) -> Session:
        """Show each unit's top crops from `data` (images, or a Dataset of them) beside its icon in
        every view built from now on (`dissection.exemplars`; None: stop); returns the session."""
        self.set_state("exemplar data", data)
        return self

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
        layouts = self.catalogue.layouts([*capture, *(replace or {})])
        with self._lock:
            return fw.run(
                self.model, self.catalogue.modules, self.model_input(images), capture=capture, replace=replace, replace_prefixes=replace_prefixes, stop=stop,
                layouts=layouts, structured=self.structured, logits_of=self.logits_of,
            )

    def above(self, image: ImageLike | Decoded, layer: str) -> Above:
        """The network above `layer` for one image, as a function of that layer's activations."""
        return above_of(self, self.read(image), self.check_layer(layer))

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
