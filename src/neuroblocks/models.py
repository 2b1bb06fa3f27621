"""Named models: the bundled shapes models (RGB, grayscale, a second seed, a ViT), Lucid's
InceptionV1 (the article's network), every torchvision classifier and, with timm installed, every timm model as "timm:<name>", with their weights.

The catalogue builds a module and says how to read it (preprocessing, labels, input size): the
Session wraps what it returns (`Session.load`), so this module never needs the Session.
Pretrained weights come through torchvision's own download and cache, so a file already in
torch's hub cache is used offline. A local file is fed to torchvision's own builder in place of
the download, so every architecture's quirks (GoogLeNet's auxiliary heads and input transform)
stay torchvision's concern.
"""

from __future__ import annotations

import hashlib
import pickle
import threading
import urllib.error
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
import torchvision
import torchvision.transforms.functional as TF
from torchvision import models as tvm
from torchvision.models import _api  # where WeightsEnum fetches its state dicts

from . import inceptionv1
from .errors import NeuroblocksError, WeightsUnavailableError, closest
from .shapes import model as shapes_model
from .shapes import vit as shapes_vit
from .shapes import world

_FETCH_LOCK = threading.Lock()  # swapping torchvision's fetch function is process-wide


@dataclass(frozen=True)
class Built:
    """A catalogued model with how to read it: `options` are the Session's keyword arguments
    (preprocess, labels, input_size, …), `icon_defaults` are where the session's feature visualization starts (`featurevis.settings`) where the model
    needs others; `name` and `weights` say what was loaded (a fallback's, after a fallback)."""

    model: torch.nn.Module
    name: str
    weights: str | Path | None
    options: dict[str, Any] = field(default_factory=dict)
    icon_defaults: dict[str, int] | None = None


def names() -> list[str]:
    """Every name `Session.load` accepts (timm's are "timm:<name>", any of `timm.list_models()`)."""
    return [*_SHAPES, "inceptionv1", *tvm.list_models(module=tvm)]


#: The bundled models: name → (a random model, the weights loader, the bundled weights, the training option that remakes them).
_SHAPES = {
    "shapes": (lambda: shapes_model.ShapesNet(channels=3), shapes_model.pretrained, shapes_model.WEIGHTS, ""),
    "shapes-gray": (lambda: shapes_model.ShapesNet(channels=1), shapes_model.pretrained, shapes_model.WEIGHTS_GRAY, " --channels 1"),
    "shapes-seed1": (lambda: shapes_model.ShapesNet(channels=3), shapes_model.pretrained, shapes_model.WEIGHTS_SEED1, " --seed 1"),
    "shapes-narrow": (lambda: shapes_model.ShapesNet(channels=3, width=shapes_model.NARROW), shapes_model.pretrained, shapes_model.WEIGHTS_NARROW, " --arch cnn-narrow"),
    "shapes-vit": (shapes_vit.ShapesViT, shapes_vit.pretrained_vit, shapes_vit.WEIGHTS_VIT, " --arch vit"),
    "shapes-vit-ln": (lambda: shapes_vit.ShapesViT(final_norm=True), shapes_vit.pretrained_vit, shapes_vit.WEIGHTS_VIT_LN, " --arch vit-ln"),
}


def _shapes(name: str, weights: str | Path | None) -> Built:
    random, loader, bundled, option = _SHAPES[name]
    if weights == "random":
        model = random()
    else:
        path = Path(weights) if weights is not None else bundled
        if not path.is_file():
            raise WeightsUnavailableError(f"no {name} weights at {path}; retrain them with `python -m neuroblocks.shapes.train{option} --out {path}`")
        model = loader(path)
    options = dict(labels=world.CLASSES, input_size=world.SIZE, multilabel=True)
    return Built(model, name, weights, options, icon_defaults={"size": 48, "steps": 128, "full_size": 64, "full_steps": 256})  # 64 px scenes: 48 px icons converge in 128 steps


def _from_local_file(name: str, enum: tvm.WeightsEnum, path: Path) -> torch.nn.Module:
    """Build `name` with `enum`'s recipe, its state dict read from `path` instead of the web."""
    if not path.is_file():
        raise WeightsUnavailableError(f"no weights file at {path}; pass the path of a .pth file (e.g. {Path(enum.url).name})")

    def from_file(url: str, *args, **kwargs) -> dict:
        return torch.load(path, map_location="cpu", weights_only=True)

    with _FETCH_LOCK:
        original = _api.load_state_dict_from_url
        _api.load_state_dict_from_url = from_file
        try:
            return tvm.get_model(name, weights=enum)
        except (RuntimeError, pickle.UnpicklingError) as e:
            raise WeightsUnavailableError(f"{path} does not hold weights for torchvision's {name}: {str(e).splitlines()[0]}") from e
        finally:
            _api.load_state_dict_from_url = original


def _cached(enum: tvm.WeightsEnum) -> Path:
    """Where torchvision's download keeps `enum`'s file (torch's hub cache, under $TORCH_HOME)."""
    return Path(torch.hub.get_dir(), "checkpoints", Path(enum.url).name)


def _project_copy(enum: tvm.WeightsEnum) -> Path | None:
    """A copy of `enum`'s file in a project's own torch cache (`.torch/`, where this project's
    `make weights` puts it) in the working directory or one above it, or in the checkout this
    package runs from; torch looks there only when TORCH_HOME says so."""
    here = Path.cwd().resolve()
    for folder in (here, *here.parents, Path(__file__).resolve().parents[2]):
        path = folder / ".torch" / "hub" / "checkpoints" / _cached(enum).name
        if path.is_file():
            return path
    return None


def _download(name: str, enum: tvm.WeightsEnum) -> torch.nn.Module:
    try:
        return tvm.get_model(name, weights=enum)
    except (urllib.error.URLError, OSError, RuntimeError) as e:
        copy = _project_copy(enum)
        if copy is not None:
            raise WeightsUnavailableError(
                f"could not get {name}'s {enum.name} weights from torch's cache ({_cached(enum)}) or online ({e}). A copy is at {copy} "
                f"(`make weights` puts it there): pass weights='{copy}', or set TORCH_HOME={copy.parents[2]} before Python starts "
                f"(as `make demo` does), and weights={enum.name!r} loads it offline."
            ) from e
        at_hand = [other.name for other in type(enum) if other is not enum and _cached(other).is_file()]
        offline = f"weights={at_hand[0]!r} is in your cache and loads offline; " if at_hand else ""
        raise WeightsUnavailableError(
            f"could not get {name}'s {enum.name} weights ({e}). {offline}Download {enum.url} on a machine that is online, "
            f"then pass weights='/path/to/{_cached(enum).name}', or copy the file to {_cached(enum)}; "
            f"or use weights='random', or fallback='shapes' to continue with the bundled offline model."
        ) from e


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(2**20), b""):
            digest.update(block)
    return digest.hexdigest()


def matching_weights(name: str, path: Path) -> tvm.WeightsEnum | None:
    """The torchvision weights enum whose file `path` is: by torchvision's file name
    (`<arch>-<first hex digits of its SHA-256>.pth`), else by the file's digest against those
    prefixes; None for a file torchvision does not publish (a fine-tuned model)."""
    enums = list(tvm.get_model_weights(name))
    by_name = {Path(e.url).name: e for e in enums}
    if path.name in by_name:
        return by_name[path.name]
    digest = _sha256(path)
    return next((e for e in enums if digest.startswith(Path(e.url).stem.rsplit("-", 1)[-1])), None)


def _inceptionv1(weights: str | Path | None) -> Built:
    """Lucid's InceptionV1 with the published `inception5h.pth` (downloaded once into torch's hub
    cache, or a local file), its labels when the graph's label file lies beside the weights."""
    model = inceptionv1.InceptionV1()
    path = None
    if weights != "random":
        if weights is None:
            path = Path(torch.hub.get_dir(), "checkpoints", "inception5h.pth")
            try:
                state = torch.hub.load_state_dict_from_url(inceptionv1.URL, file_name=path.name, map_location="cpu")
            except (urllib.error.URLError, OSError, RuntimeError) as e:
                raise WeightsUnavailableError(
                    f"could not get InceptionV1's weights ({e}). Download {inceptionv1.URL} on a machine that is online, then pass "
                    f"weights='/path/to/inception5h.pth', or copy the file to {path}; or use weights='random', or fallback='mobilenet_v2'."
                ) from e
        else:
            path = Path(weights).expanduser()
            if not path.is_file():
                raise WeightsUnavailableError(f"no weights file at {path}; pass the path of inception5h.pth ({inceptionv1.URL})")
            state = torch.load(path, map_location="cpu", weights_only=True)
        try:
            model.load_state_dict(inceptionv1.from_lucent(state))
        except (RuntimeError, ValueError) as e:
            raise WeightsUnavailableError(f"{path} does not hold Lucid's InceptionV1 (inception5h.pth): {str(e).splitlines()[0]}") from e
    return Built(model, "inceptionv1", weights, dict(preprocess=inceptionv1.lucid_input, labels=inceptionv1.labels_beside(path), input_size=inceptionv1.SIZE))


def live_heads(model: torch.nn.Module) -> torch.nn.Module:
    """A random model with its all-zero linear layers redrawn: torchvision starts a ViT's head at
    zero, and through a zero layer every gradient, so every attribution, is zero."""
    for module in model.modules():
        if isinstance(module, torch.nn.Linear) and not module.weight.any():
            torch.nn.init.trunc_normal_(module.weight, std=0.02)
    return model


def _torchvision(name: str, weights: str | Path | None) -> Built:
    enums = tvm.get_model_weights(name)
    default = enums.DEFAULT
    if weights == "random":
        with warnings.catch_warnings():  # e.g. GoogLeNet's note about its init scheme changing
            warnings.simplefilter("ignore", FutureWarning)
            model = live_heads(tvm.get_model(name, weights=None))
        chosen = default
    elif weights is None or (isinstance(weights, str) and weights in enums.__members__):
        chosen = enums[weights] if weights is not None else default
        model = _download(name, chosen)
    else:
        path = Path(weights).expanduser()
        chosen = matching_weights(name, path) if path.is_file() else default
        if chosen is None:
            warnings.warn(f"{path.name} is none of torchvision's files for {name}: built, preprocessed and labelled as {default}", stacklevel=4)
            chosen = default
        model = _from_local_file(name, chosen, path)
    recipe = chosen.transforms()
    options = dict(
        preprocess=torchvision.transforms.Normalize(recipe.mean, recipe.std),
        labels=chosen.meta["categories"],
        input_size=recipe.crop_size[0],
        resize=getattr(recipe, "resize_size", [None])[0],
        interpolation=getattr(recipe, "interpolation", TF.InterpolationMode.BILINEAR).value,
    )
    return Built(model, name, weights, options)


def _timm(name: str, weights: str | Path | None) -> Built:
    """A timm model: pretrained weights by timm's own download (or a local file), its labels and
    preprocessing from its pretrained config."""
    try:
        import timm
        from timm.data import ImageNetInfo, infer_imagenet_subset, resolve_data_config
    except ImportError as e:
        raise NeuroblocksError(f"{name!r} needs timm: pip install 'neuroblocks[timm]'") from e
    arch = name[len("timm:") :]
    known = timm.list_models()
    if arch not in known:
        raise ValueError(f"unknown timm model {arch!r}; close names: {', '.join('timm:' + n for n in closest(arch, known))}")
    if weights == "random":
        model = live_heads(timm.create_model(arch, pretrained=False))
    elif weights is None:
        try:
            model = timm.create_model(arch, pretrained=True)
        except (OSError, RuntimeError, ValueError) as e:
            raise WeightsUnavailableError(
                f"could not get timm's pretrained weights for {arch} ({str(e).splitlines()[0]}); download them on a machine that is online "
                "and pass weights='/path/to/the/file', or use weights='random', or fallback='shapes-vit'"
            ) from e
    else:
        path = Path(weights).expanduser()
        if not path.is_file():
            raise WeightsUnavailableError(f"no weights file at {path}; pass the path of {arch}'s .safetensors or .pth file")
        model = timm.create_model(arch, pretrained=True, pretrained_cfg_overlay={"file": str(path)})
    config = resolve_data_config({}, model=model)
    subset = infer_imagenet_subset(model)
    labels = ImageNetInfo(subset).label_descriptions() if subset else None
    options = dict(
        preprocess=torchvision.transforms.Normalize(config["mean"], config["std"]),
        labels=labels if labels is not None and len(labels) == model.num_classes else None,
        input_size=tuple(config["input_size"][1:]),
    )
    return Built(model, name, weights, options)


def build(name: str, weights: str | Path | None = None, fallback: str | None = None) -> Built:
    """The named model with its weights and how to read it (see `Session.load`, which wraps it)."""
    key = name.lower()
    known = names()
    if key not in known and not key.startswith("timm:"):
        raise ValueError(f"unknown model {name!r}; close names: {', '.join(closest(key, known))}; or 'timm:<name>'; or wrap your own module with Session(model)")
    try:
        if key.startswith("timm:"):
            return _timm(name, weights)
        return _shapes(key, weights) if key in _SHAPES else _inceptionv1(weights) if key == "inceptionv1" else _torchvision(key, weights)
    except WeightsUnavailableError as e:
        if fallback is None:
            raise
        warnings.warn(f"{e}\nFalling back to {fallback!r}.", stacklevel=3)
        return build(fallback)
