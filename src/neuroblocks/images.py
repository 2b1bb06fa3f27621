"""Turn whatever a user holds (path, URL, PIL image, array, tensor) into one model input.

Every view starts from an image, so every way of getting it wrong is caught here, once, with a
message that says what to pass instead.
"""

from __future__ import annotations

import io
import threading
import urllib.error
import urllib.request
from pathlib import Path
from typing import Union

import numpy as np
import torch
import torchvision.transforms.functional as TF
from PIL import Image, UnidentifiedImageError

from . import framing
from .framing import Fit
from .errors import ImageError
from .keywords import checked

ImageLike = Union[str, Path, Image.Image, np.ndarray, torch.Tensor]
_URL_TIMEOUT_S = 30
_URL_CACHE_BYTES = 64 * 2**20  # what a session keeps of fetched images: a few photos, not a dataset


#: ITU-R BT.601 luma weights, as Pillow's "L" mode uses them: how colour reaches grayscale models.
LUMA = (0.299, 0.587, 0.114)


def luminance(rgb: torch.Tensor) -> torch.Tensor:
    """(…, 3, H, W) RGB → (…, 1, H, W) luminance."""
    weights = torch.tensor(LUMA, dtype=rgb.dtype, device=rgb.device).view(3, 1, 1)
    return (rgb * weights).sum(-3, keepdim=True)


def _open_pil(data: bytes | Path, where: str) -> Image.Image:
    try:
        image = Image.open(io.BytesIO(data) if isinstance(data, bytes) else data)
        image.load()
    except (UnidentifiedImageError, OSError) as e:
        raise ImageError(f"could not read {where} as an image ({e}); pass a PNG, JPEG or other file Pillow can open") from e
    return image


def _download(url: str) -> bytes:
    try:
        with urllib.request.urlopen(url, timeout=_URL_TIMEOUT_S) as response:
            kind = response.headers.get_content_type()
            if not kind.startswith("image/"):
                raise ImageError(f"{url} answered with {kind}, not an image; pass the address of the image file itself")
            return response.read()
    except urllib.error.HTTPError as e:
        raise ImageError(f"{url} answered HTTP {e.code} ({e.reason}); check the address") from e
    except (urllib.error.URLError, TimeoutError) as e:
        raise ImageError(f"could not fetch {url} ({getattr(e, 'reason', e)}); if you are offline, download the image and pass its path") from e


class UrlCache:
    """Fetched images by address, the most recently used kept up to `max_bytes`: a session fetches
    a URL once, however many views and passes read it."""

    def __init__(self, max_bytes: int = _URL_CACHE_BYTES) -> None:
        self.max_bytes = max_bytes
        self._items: dict[str, bytes] = {}  # insertion order is use order
        self._lock = threading.Lock()

    def get(self, url: str) -> bytes:
        with self._lock:
            data = self._items.pop(url, None)
            if data is not None:
                self._items[url] = data
                return data
        data = _download(url)
        with self._lock:
            self._items[url] = data
            while sum(map(len, self._items.values())) > self.max_bytes and len(self._items) > 1:
                del self._items[next(iter(self._items))]
        return data


def opened(x: ImageLike, urls: UrlCache | None = None) -> Image.Image | np.ndarray | torch.Tensor:
    """A path or URL read into a PIL image (the one decode of the file; a URL through `urls`
    when given); anything else as it is."""
    if not isinstance(x, (str, Path)):
        return x
    text = str(x)
    if text.startswith(("http://", "https://")):
        return _open_pil(urls.get(text) if urls is not None else _download(text), text)
    path = Path(text).expanduser()
    if not path.is_file():
        raise ImageError(f"no image file at {path}; check the path (relative paths start at {Path.cwd()})")
    return _open_pil(path, str(path))


def _bands_accepted(channels: int) -> tuple[int, ...]:
    """Band counts an image may have for a model of `channels` inputs: RGB and grayscale models
    take gray, colour and colour with alpha; any other model takes exactly its own count."""
    return (1, 3, 4) if channels in (1, 3) else (channels,)


def _from_pil(image: Image.Image, channels: int) -> tuple[np.ndarray, bool]:
    if image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info):
        bands = "LA" if image.mode == "LA" else "RGBA"
        return np.asarray(image.convert(bands), dtype=np.float32) / 255.0, True
    if image.mode.startswith("I;16") or image.mode in ("1", "F"):  # convert("RGB") would saturate or truncate
        return _from_array(np.asarray(image), "HWC", channels)
    if image.mode == "I":  # 32-bit integers: how Pillow has held 16-bit files
        values = np.asarray(image)
        if values.min() < 0 or values.max() > 65535:
            raise ImageError(
                f"a 32-bit integer image with values in [{values.min()}, {values.max()}] has no known white; "
                "pass it as a float array scaled to [0, 1]"
            )
        return _from_array(values.astype(np.uint16), "HWC", channels)
    if image.mode == "L":
        return np.asarray(image, dtype=np.float32)[..., None] / 255.0, False
    return np.asarray(image.convert("RGB"), dtype=np.float32) / 255.0, False


def _channel_axis(a: np.ndarray, layout: str, channels: int) -> np.ndarray:
    """A 3-D array as H×W×bands. Images for RGB and grayscale models follow their type's
    convention (numpy H×W×C, tensors C×H×W); multi-channel data comes both ways, so for those
    models the other end is read as the channels when only it holds the model's count."""
    accepted = _bands_accepted(channels)
    first, last = a.shape[0] in accepted, a.shape[-1] in accepted
    if channels in (1, 3):
        if layout == "CHW" and first:
            return np.moveaxis(a, 0, -1)
        if layout == "HWC" and last:
            return a
        hint = "tensor is C×H×W with 1, 3 or 4 channels" if layout == "CHW" else "is H×W, H×W×3 or H×W×4"
        raise ImageError(f"an image {hint}; got shape {tuple(a.shape)}")
    if (layout == "CHW" and first) or (first and not last):
        return np.moveaxis(a, 0, -1)
    if last:
        return a
    raise _mismatch(channels, a.shape[0] if layout == "CHW" else a.shape[-1], f" (shape {tuple(a.shape)})")


def _values(a: np.ndarray) -> np.ndarray:
    """Values as float32 in [0, 1]: unsigned integers by their type's maximum, bool as 0/1,
    floats as they are if they lie in [0, 1]."""
    if a.dtype == np.bool_:
        return a.astype(np.float32)
    if np.issubdtype(a.dtype, np.unsignedinteger):  # uint8 0–255, uint16 0–65535, …: white is the type's maximum
        return a.astype(np.float32) / float(np.iinfo(a.dtype).max)
    if np.issubdtype(a.dtype, np.floating):
        a = a.astype(np.float32)
        if not np.isfinite(a).all():
            raise ImageError("the image holds NaN or infinite values; clean or regenerate it")
        lo, hi = float(a.min()), float(a.max())
        if lo < -1e-3 or hi > 1 + 1e-3:
            raise ImageError(f"float images must lie in [0, 1], this one spans [{lo:.3g}, {hi:.3g}]; for 0–255 values pass uint8 or divide by 255")
        return np.clip(a, 0.0, 1.0)
    if np.issubdtype(a.dtype, np.signedinteger):
        raise ImageError(
            f"a {a.dtype} image has no known white (0–255? 0–65535?); cast it to uint8 for 0–255 values, "
            "uint16 for 0–65535, or to float scaled to [0, 1]"
        )
    raise ImageError(f"image values must be unsigned integers, bool or float, not {a.dtype}")


def _from_array(a: np.ndarray, layout: str, channels: int) -> tuple[np.ndarray, bool]:
    """An array (`layout` "HWC" for numpy, "CHW" for tensors; a leading batch of 1 is dropped)
    → (float H×W×bands in [0, 1], whether the last band is alpha)."""
    if a.size == 0:
        raise ImageError(f"the image is empty (shape {tuple(a.shape)})")
    if a.ndim == 4 and a.shape[0] == 1:
        a = a[0]
    if a.ndim == 2:
        a = a[..., None]
    elif a.ndim == 3:
        a = _channel_axis(a, layout, channels)
    else:
        hint = "C×H×W (or 1×C×H×W)" if layout == "CHW" else "H×W, H×W×3 or H×W×4"
        raise ImageError(f"an image is {hint}; got shape {tuple(a.shape)}")
    return _values(a), channels in (1, 3) and a.shape[-1] == 4


def _to_bands(x: Image.Image | np.ndarray | torch.Tensor, channels: int) -> tuple[np.ndarray, bool]:
    if isinstance(x, Image.Image):
        return _from_pil(x, channels)
    if isinstance(x, torch.Tensor):
        return _from_array(x.detach().cpu().numpy(), "CHW", channels)
    if isinstance(x, np.ndarray):
        return _from_array(x, "HWC", channels)
    raise ImageError(f"cannot read an image from a {type(x).__name__}; pass a path, a URL, a PIL image, an H×W×3 array or a 3×H×W tensor")


def _to_channels(image: torch.Tensor, alpha: bool, channels: int) -> torch.Tensor:
    """(bands, H, W) → (channels, H, W): alpha composited over white (transparent areas read as
    paper, not black), gray repeated for colour models, luminance for grayscale models; any
    other mismatch is refused."""
    if alpha:
        colour, opacity = image[:-1], image[-1:]
        image = colour * opacity + (1.0 - opacity)
    bands = image.shape[0]
    if bands == channels:
        return image
    if channels == 3 and bands == 1:
        return image.expand(3, -1, -1)
    if channels == 1 and bands == 3:
        return luminance(image)
    raise _mismatch(channels, bands)


def _mismatch(channels: int, bands: int, shape: str = "") -> ImageError:
    what = f"this model takes {channels} input channel{'s' if channels > 1 else ''}, but the image has {bands}{shape}"
    if channels in (1, 3):
        return ImageError(f"{what}; pass a grayscale or RGB image")
    return ImageError(
        f"{what}: pass its {channels} channels as an H×W×{channels} array or a {channels}×H×W tensor "
        "(for instance RGB and the other bands stacked), scaled to [0, 1]"
    )


def _resize(image: torch.Tensor | Image.Image, size: tuple[int, int], fit: Fit, resize: int | None = None, interpolation: str = "bilinear") -> torch.Tensor | Image.Image:
    """`image` (a tensor, or a PIL image resized by Pillow as torchvision's presets do) at `size`;
    see `framing.scaled` for the sizes."""
    h, w = TF.get_dimensions(image)[1:]
    if (h, w) == size and not resize:
        return image
    if fit not in ("crop", "stretch"):
        raise ValueError(f"fit is 'crop' or 'stretch', not {fit!r}")
    scaled = framing.scaled((h, w), size, fit, resize)
    image = TF.resize(image, list(scaled), TF.InterpolationMode(interpolation), antialias=True) if scaled != (h, w) else image
    return TF.center_crop(image, list(size)) if scaled != size else image


def _eight_bit(x: Image.Image | np.ndarray | torch.Tensor) -> Image.Image | None:
    """A PIL image of 8-bit gray or colour without alpha, as the PIL image to resize:
    torchvision's eval presets resize photos with Pillow, so doing the same gives their exact
    input. Anything else (alpha, 16-bit, arrays, tensors) is resized as a float tensor."""
    if not isinstance(x, Image.Image) or "transparency" in x.info:
        return None
    if x.mode in ("RGB", "L"):
        return x
    return x.convert("RGB") if x.mode in ("P", "CMYK", "YCbCr", "LAB", "HSV") else None


def _plain_tensor(x: torch.Tensor, channels: int) -> torch.Tensor | None:
    """A float C×H×W (or 1×C×H×W) tensor with the model's channel count, checked and kept on
    its device; None for any other tensor, which takes the general path."""
    if x.dim() == 4 and x.shape[0] == 1:
        x = x[0]
    if not (x.is_floating_point() and x.dim() == 3 and x.shape[0] == channels and x.shape[1] > 0 and x.shape[2] > 0):
        return None
    x = x.detach().float()
    if not torch.isfinite(x).all():
        raise ImageError("the image holds NaN or infinite values; clean or regenerate it")
    lo, hi = float(x.min()), float(x.max())
    if lo < -1e-3 or hi > 1 + 1e-3:
        raise ImageError(f"float images must lie in [0, 1], this one spans [{lo:.3g}, {hi:.3g}]; for 0–255 values pass uint8 or divide by 255")
    return x.clamp(0.0, 1.0)


@checked
def load_image(
    x: ImageLike,
    size: int | tuple[int, int] | None = None,
    fit: Fit = "crop",
    channels: int = 3,
    resize: int | None = None,
    interpolation: str = "bilinear",
    urls: UrlCache | None = None,
) -> torch.Tensor:
    """Any image input → float32 tensor (channels, H, W) in [0, 1].

    `size` (side or (height, width)) resizes: `fit="crop"` scales the image to cover it and crops
    the centre, `fit="stretch"` scales each axis to fit exactly. `resize` (with "crop") scales the
    short side to that many pixels first, as torchvision's eval presets do (256 before a 224 crop);
    8-bit photos are then resized by Pillow, as those presets do; `interpolation` is "bilinear" or
    "bicubic". For `channels` 3 (RGB) grayscale is
    repeated; for 1 colour becomes luminance (BT.601, as Pillow's "L"); for both transparency is
    composited over white. Other counts take arrays or tensors with exactly that many channels,
    every band kept as data. Unsigned integers (8- and 16-bit files and arrays) are scaled by their
    type's maximum, bool and 1-bit images read as 0 and 1, floats must lie in [0, 1]. A float
    tensor with the model's channel count stays on its device. `urls`: where fetched images are
    kept (a session's), so an address is fetched once.
    """
    if not isinstance(channels, int) or channels < 1:
        raise ValueError(f"channels is a positive number of input channels, not {channels!r}")
    target = None if size is None else (size, size) if isinstance(size, int) else (int(size[0]), int(size[1]))
    x = opened(x, urls)
    photo = _eight_bit(x) if target is not None else None
    if photo is not None:
        if 0 in photo.size:
            raise ImageError(f"the image is empty (size {photo.size})")
        x, target = _resize(photo, target, fit, resize, interpolation), None
    image = _plain_tensor(x, channels) if isinstance(x, torch.Tensor) else None
    if image is None:
        bands, alpha = _to_bands(x, channels)
        if bands.shape[0] == 0 or bands.shape[1] == 0:
            raise ImageError(f"the image is empty (shape {bands.shape})")
        image = _to_channels(torch.from_numpy(np.ascontiguousarray(bands)).permute(2, 0, 1), alpha, channels).contiguous()
    if target is not None:
        image = _resize(image, target, fit, resize, interpolation).clamp(0.0, 1.0)
    return image
