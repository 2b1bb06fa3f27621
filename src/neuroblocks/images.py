"""Turn whatever a user holds (path, URL, PIL image, array, tensor) into one model input.

Every view starts from an image, so every way of getting it wrong is caught here, once, with a
message that says what to pass instead.
"""

from __future__ import annotations

import io
import urllib.error
import urllib.request
from pathlib import Path
from typing import Literal, Union

import numpy as np
import torch
import torchvision.transforms.functional as TF
from PIL import Image, UnidentifiedImageError

from .errors import ImageError

ImageLike = Union[str, Path, Image.Image, np.ndarray, torch.Tensor]
Fit = Literal["crop", "stretch"]
_URL_TIMEOUT_S = 30


def _open_pil(data: bytes | Path, where: str) -> Image.Image:
    try:
        image = Image.open(io.BytesIO(data) if isinstance(data, bytes) else data)
        image.load()
    except (UnidentifiedImageError, OSError) as e:
        raise ImageError(f"could not read {where} as an image ({e}); pass a PNG, JPEG or other file Pillow can open") from e
    return image


def _fetch(url: str) -> Image.Image:
    try:
        with urllib.request.urlopen(url, timeout=_URL_TIMEOUT_S) as response:
            kind = response.headers.get_content_type()
            if not kind.startswith("image/"):
                raise ImageError(f"{url} answered with {kind}, not an image; pass the address of the image file itself")
            data = response.read()
    except urllib.error.HTTPError as e:
        raise ImageError(f"{url} answered HTTP {e.code} ({e.reason}); check the address") from e
    except (urllib.error.URLError, TimeoutError) as e:
        raise ImageError(f"could not fetch {url} ({getattr(e, 'reason', e)}); if you are offline, download the image and pass its path") from e
    return _open_pil(data, url)


def _flatten_alpha(rgb: np.ndarray, alpha: np.ndarray) -> np.ndarray:
    """Composite over white: transparent areas read as paper, not as black."""
    return rgb * alpha + (1.0 - alpha)


def _from_pil(image: Image.Image) -> np.ndarray:
    if image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info):
        rgba = np.asarray(image.convert("RGBA"), dtype=np.float32) / 255.0
        return _flatten_alpha(rgba[..., :3], rgba[..., 3:])
    if image.mode.startswith("I;16") or image.mode in ("1", "F"):  # convert("RGB") would saturate or truncate
        return _from_array(np.asarray(image), "HWC")
    if image.mode == "I":  # 32-bit integers: how Pillow has held 16-bit files
        values = np.asarray(image)
        if values.min() < 0 or values.max() > 65535:
            raise ImageError(
                f"a 32-bit integer image with values in [{values.min()}, {values.max()}] has no known white; "
                "pass it as a float array scaled to [0, 1]"
            )
        return _from_array(values.astype(np.uint16), "HWC")
    return np.asarray(image.convert("RGB"), dtype=np.float32) / 255.0


def _from_array(a: np.ndarray, layout: str) -> np.ndarray:
    """H×W, H×W×{1,3,4} arrays (or C×H×W tensors, by `layout`) → float H×W×3 in [0, 1]."""
    if a.size == 0:
        raise ImageError(f"the image is empty (shape {tuple(a.shape)})")
    if layout == "CHW":
        if a.ndim == 4 and a.shape[0] == 1:
            a = a[0]
        if a.ndim == 3:
            if a.shape[0] not in (1, 3, 4):
                raise ImageError(f"an image tensor is C×H×W with 1, 3 or 4 channels; got shape {tuple(a.shape)}")
            a = np.moveaxis(a, 0, -1)
    if a.ndim == 2:
        a = a[..., None]
    if a.ndim != 3 or a.shape[-1] not in (1, 3, 4):
        hint = "C×H×W (or 1×C×H×W)" if layout == "CHW" else "H×W, H×W×3 or H×W×4"
        raise ImageError(f"an image is {hint}; got shape {tuple(a.shape)}")
    if a.dtype == np.bool_:
        a = a.astype(np.float32)
    elif np.issubdtype(a.dtype, np.unsignedinteger):  # uint8 0–255, uint16 0–65535, …: white is the type's maximum
        a = a.astype(np.float32) / float(np.iinfo(a.dtype).max)
    elif np.issubdtype(a.dtype, np.floating):
        a = a.astype(np.float32)
        if not np.isfinite(a).all():
            raise ImageError("the image holds NaN or infinite values; clean or regenerate it")
        lo, hi = float(a.min()), float(a.max())
        if lo < -1e-3 or hi > 1 + 1e-3:
            raise ImageError(f"float images must lie in [0, 1], this one spans [{lo:.3g}, {hi:.3g}]; for 0–255 values pass uint8 or divide by 255")
        a = np.clip(a, 0.0, 1.0)
    elif np.issubdtype(a.dtype, np.signedinteger):
        raise ImageError(
            f"a {a.dtype} image has no known white (0–255? 0–65535?); cast it to uint8 for 0–255 values, "
            "uint16 for 0–65535, or to float scaled to [0, 1]"
        )
    else:
        raise ImageError(f"image values must be unsigned integers, bool or float, not {a.dtype}")
    if a.shape[-1] == 4:
        a = _flatten_alpha(a[..., :3], a[..., 3:])
    return np.repeat(a, 3, axis=-1) if a.shape[-1] == 1 else a


def _to_hwc(x: ImageLike) -> np.ndarray:
    if isinstance(x, (str, Path)):
        text = str(x)
        if text.startswith(("http://", "https://")):
            return _from_pil(_fetch(text))
        path = Path(text).expanduser()
        if not path.is_file():
            raise ImageError(f"no image file at {path}; check the path (relative paths start at {Path.cwd()})")
        return _from_pil(_open_pil(path, str(path)))
    if isinstance(x, Image.Image):
        return _from_pil(x)
    if isinstance(x, torch.Tensor):
        return _from_array(x.detach().cpu().numpy(), "CHW")
    if isinstance(x, np.ndarray):
        return _from_array(x, "HWC")
    raise ImageError(f"cannot read an image from a {type(x).__name__}; pass a path, a URL, a PIL image, an H×W×3 array or a 3×H×W tensor")


def _resize(image: torch.Tensor, size: tuple[int, int], fit: Fit) -> torch.Tensor:
    h, w = image.shape[-2:]
    if (h, w) == size:
        return image
    if fit == "stretch":
        return TF.resize(image, list(size), antialias=True)
    if fit != "crop":
        raise ValueError(f"fit is 'crop' or 'stretch', not {fit!r}")
    scale = max(size[0] / h, size[1] / w)
    covering = [max(size[0], round(h * scale)), max(size[1], round(w * scale))]
    return TF.center_crop(TF.resize(image, covering, antialias=True), list(size))


def load_image(x: ImageLike, size: int | tuple[int, int] | None = None, fit: Fit = "crop") -> torch.Tensor:
    """Any image input → float32 tensor (3, H, W) in [0, 1].

    `size` (side or (height, width)) resizes: `fit="crop"` scales the image to cover it and crops
    the centre, `fit="stretch"` scales each axis to fit exactly. Grayscale is repeated to RGB and
    transparency is composited over white. Unsigned integers (8- and 16-bit files and arrays) are
    scaled by their type's maximum, bool and 1-bit images read as 0 and 1, floats must lie in [0, 1].
    """
    hwc = _to_hwc(x)
    if hwc.shape[0] == 0 or hwc.shape[1] == 0:
        raise ImageError(f"the image is empty (shape {hwc.shape})")
    image = torch.from_numpy(np.ascontiguousarray(hwc)).permute(2, 0, 1).contiguous()
    if size is not None:
        target = (size, size) if isinstance(size, int) else (int(size[0]), int(size[1]))
        image = _resize(image, target, fit).clamp(0.0, 1.0)
    return image
