"""Named models: the bundled shapes models (RGB, grayscale, a second seed) and every torchvision classifier, with their weights.

Pretrained weights come through torchvision's own download and cache, so a file already in
torch's hub cache is used offline. A local file is fed to torchvision's own builder in place of
the download, so every architecture's quirks (GoogLeNet's auxiliary heads and input transform)
stay torchvision's concern.
"""

from __future__ import annotations

import pickle
import threading
import urllib.error
import warnings
from pathlib import Path

import torch
import torchvision
from torchvision import models as tvm
from torchvision.models import _api  # where WeightsEnum fetches its state dicts

from .errors import WeightsUnavailableError, closest
from .session import Session
from .shapes import model as shapes_model
from .shapes import world

_FETCH_LOCK = threading.Lock()  # swapping torchvision's fetch function is process-wide


def names() -> list[str]:
    """Every name `Session.load` accepts."""
    return [*_SHAPES, *tvm.list_models(module=tvm)]


#: The bundled models: name → (input channels, bundled weights).
_SHAPES = {"shapes": (3, shapes_model.WEIGHTS), "shapes-gray": (1, shapes_model.WEIGHTS_GRAY), "shapes-seed1": (3, shapes_model.WEIGHTS_SEED1)}


def _shapes(name: str, weights: str | Path | None, device: str | None) -> Session:
    channels, bundled = _SHAPES[name]
    if weights == "random":
        model = shapes_model.ShapesNet(channels=channels)
    else:
        path = Path(weights) if weights is not None else bundled
        if not path.is_file():
            option = {"shapes-gray": " --channels 1", "shapes-seed1": " --seed 1"}.get(name, "")
            raise WeightsUnavailableError(f"no {name} weights at {path}; retrain them with `python -m neuroblocks.shapes.train{option} --out {path}`")
        model = shapes_model.pretrained(path)
    session = Session(model, labels=world.CLASSES, input_size=world.SIZE, multilabel=True, device=device)
    session.icon_defaults = {"size": 48, "steps": 128}  # 64 px scenes: 48 px icons converge in 128 steps
    return session


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


def _download(name: str, enum: tvm.WeightsEnum) -> torch.nn.Module:
    try:
        return tvm.get_model(name, weights=enum)
    except (urllib.error.URLError, OSError, RuntimeError) as e:
        cached = Path(torch.hub.get_dir(), "checkpoints", Path(enum.url).name)
        raise WeightsUnavailableError(
            f"could not get {name}'s pretrained weights ({e}). Download {enum.url} on a machine that is online, "
            f"then pass weights='/path/to/{cached.name}', or copy the file to {cached}; "
            f"or use weights='random', or fallback='shapes' to continue with the bundled offline model."
        ) from e


def _torchvision(name: str, weights: str | Path | None, device: str | None) -> Session:
    enums = tvm.get_model_weights(name)
    default = enums.DEFAULT
    if weights == "random":
        with warnings.catch_warnings():  # e.g. GoogLeNet's note about its init scheme changing
            warnings.simplefilter("ignore", FutureWarning)
            model = tvm.get_model(name, weights=None)
        chosen = default
    elif weights is None or (isinstance(weights, str) and weights in enums.__members__):
        chosen = enums[weights] if weights is not None else default
        model = _download(name, chosen)
    else:
        chosen = default
        model = _from_local_file(name, default, Path(weights).expanduser())
    recipe = chosen.transforms()
    return Session(
        model,
        preprocess=torchvision.transforms.Normalize(recipe.mean, recipe.std),
        labels=chosen.meta["categories"],
        input_size=recipe.crop_size[0],
        device=device,
    )


def load_session(name: str, weights: str | Path | None = None, fallback: str | None = None, device: str | None = None) -> Session:
    """See `Session.load`."""
    key = name.lower()
    known = names()
    if key not in known:
        raise ValueError(f"unknown model {name!r}; close names: {', '.join(closest(key, known))}; or wrap your own module with Session(model)")
    try:
        return _shapes(key, weights, device) if key in _SHAPES else _torchvision(key, weights, device)
    except WeightsUnavailableError as e:
        if fallback is None:
            raise
        warnings.warn(f"{e}\nFalling back to {fallback!r}.", stacklevel=3)
        return load_session(fallback, device=device)
