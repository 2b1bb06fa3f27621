"""load_image: every input kind a user holds, and every way of getting one wrong."""

from __future__ import annotations

import functools
import struct
import threading
import zlib
from pathlib import Path
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer

import numpy as np
import pytest
import torch
from PIL import Image

import neuroblocks as nb

RGB = (np.arange(4 * 6 * 3).reshape(4, 6, 3) * 3).astype(np.uint8)
EXPECTED = torch.from_numpy(RGB).permute(2, 0, 1).float() / 255

RAMP16 = (np.arange(4 * 6).reshape(4, 6) * 2849).astype(np.uint16)  # 0 … 65527: most of it above 255
GRAY16 = torch.from_numpy(RAMP16.astype(np.float32) / 65535).expand(3, 4, 6)


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """A real HTTP server on loopback serving a PNG, a JPEG and an HTML page."""
    root = tmp_path_factory.mktemp("www")
    Image.fromarray(RGB).save(root / "pic.png")
    Image.fromarray(RGB).save(root / "pic.jpg")
    Image.fromarray(RAMP16).save(root / "gray16.png")
    (root / "page.html").write_text("<html>not an image</html>")
    handler = functools.partial(SimpleHTTPRequestHandler, directory=str(root))
    handler.log_message = lambda *a: None
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()


def test_path_and_pathlike(tmp_path):
    Image.fromarray(RGB).save(tmp_path / "a.png")
    for source in (tmp_path / "a.png", str(tmp_path / "a.png")):
        assert torch.allclose(nb.load_image(source), EXPECTED)


def test_url(server):
    assert torch.allclose(nb.load_image(f"{server}/pic.png"), EXPECTED)
    assert nb.load_image(f"{server}/pic.jpg").shape == (3, 4, 6)


def test_pil_modes():
    assert torch.allclose(nb.load_image(Image.fromarray(RGB)), EXPECTED)
    gray = nb.load_image(Image.fromarray(RGB[..., 0]))
    assert gray.shape == (3, 4, 6) and torch.equal(gray[0], gray[2])
    rgba = np.dstack([RGB, np.full(RGB.shape[:2], 0, np.uint8)])
    assert torch.allclose(nb.load_image(Image.fromarray(rgba)), torch.ones(3, 4, 6)), "fully transparent reads as white"
    palette = Image.fromarray(RGB).convert("P")
    assert nb.load_image(palette).shape == (3, 4, 6)


def _png16_rgb(path, rgb: np.ndarray) -> None:
    """A 16-bit RGB PNG written by hand (Pillow cannot write one): signature, IHDR, IDAT, IEND."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    h, w, _ = rgb.shape
    rows = b"".join(b"\0" + rgb[y].astype(">u2").tobytes() for y in range(h))
    header = struct.pack(">IIBBBBB", w, h, 16, 2, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b""))


def test_16_bit_files_keep_their_values(tmp_path, server):
    """A 16-bit grayscale PNG (microscopy, depth) once read as all white: Pillow's RGB conversion saturates."""
    Image.fromarray(RAMP16).save(tmp_path / "gray16.png")
    assert Image.open(tmp_path / "gray16.png").mode == "I;16"
    loaded = nb.load_image(tmp_path / "gray16.png")
    assert torch.allclose(loaded, GRAY16) and loaded.mean() < 0.6
    assert torch.allclose(nb.load_image(f"{server}/gray16.png"), GRAY16)
    assert torch.allclose(nb.load_image(Image.fromarray(RAMP16.astype(np.int32))), GRAY16), "mode I, as older Pillows open 16-bit files"
    rgb16 = np.stack([RAMP16, RAMP16[::-1], np.full_like(RAMP16, 40_000)], axis=-1)
    _png16_rgb(tmp_path / "rgb16.png", rgb16)
    expected = torch.from_numpy(rgb16.astype(np.float32) / 65535).permute(2, 0, 1)
    assert torch.allclose(nb.load_image(tmp_path / "rgb16.png"), expected, atol=1 / 255), "16-bit colour, to 8-bit precision"


def _saved(mode: str, folder) -> Path:
    """A small file in `mode`, in a format that keeps the mode."""
    g = np.random.default_rng(0)
    pixels = {
        "1": g.random((4, 6)) > 0.5,
        "L": g.integers(0, 256, (4, 6), np.uint8),
        "LA": g.integers(0, 256, (4, 6, 2), np.uint8),
        "P": RGB,
        "CMYK": g.integers(0, 256, (4, 6, 4), np.uint8),
        "I": (g.random((4, 6)) * 65535).astype(np.int32),
        "I;16": RAMP16,
        "F": g.random((4, 6)).astype(np.float32),
    }[mode]
    image = Image.fromarray(pixels).convert("P") if mode == "P" else Image.fromarray(pixels, mode=None if mode in ("1", "I;16", "I", "F", "L") else mode)
    path = folder / f"{mode.replace(';', '_')}.{'tif' if mode in ('CMYK', 'F', 'I') else 'png'}"
    image.save(path)
    return path


def _expected(image: Image.Image) -> np.ndarray:
    """H×W×3 values in [0, 1] from a file's own pixels, by the rule for its mode."""
    v = np.asarray(image).astype(np.float64)
    if image.mode == "1":
        return np.repeat(v[..., None], 3, -1)
    if image.mode == "L":
        return np.repeat(v[..., None] / 255, 3, -1)
    if image.mode == "LA":
        gray, alpha = v[..., :1] / 255, v[..., 1:] / 255
        return np.repeat(gray * alpha + 1 - alpha, 3, -1)
    if image.mode == "P":
        palette = np.array(image.getpalette()).reshape(-1, 3)
        return palette[v.astype(int)] / 255
    if image.mode == "CMYK":
        return (1 - v[..., :3] / 255) * (1 - v[..., 3:] / 255)
    if image.mode in ("I", "I;16"):
        return np.repeat(v[..., None] / 65535, 3, -1)
    return np.repeat(v[..., None], 3, -1)  # F


@pytest.mark.parametrize("mode", ["1", "L", "LA", "P", "CMYK", "I", "I;16", "F"])
def test_every_pil_mode_keeps_the_files_values(mode, tmp_path):
    path = _saved(mode, tmp_path)
    with Image.open(path) as image:
        assert image.mode == mode, f"the file kept mode {mode}"
        expected = torch.from_numpy(_expected(image)).permute(2, 0, 1).float()
    assert torch.allclose(nb.load_image(path), expected, atol=1 / 255 + 1e-6)


def test_unsigned_and_bool_arrays_and_tensors_scale_by_their_type():
    assert torch.allclose(nb.load_image(RAMP16), GRAY16)
    assert torch.allclose(nb.load_image(torch.from_numpy(RAMP16)[None]), GRAY16)
    assert torch.allclose(nb.load_image(RGB.astype(np.uint32) * 16843009), EXPECTED), "uint32: white is 2³² − 1"
    mask = np.eye(4, dtype=bool)
    assert torch.equal(nb.load_image(mask)[1], torch.eye(4)) and torch.equal(nb.load_image(torch.from_numpy(mask))[2], torch.eye(4))


def test_numpy_layouts_and_dtypes():
    assert torch.allclose(nb.load_image(RGB), EXPECTED)
    assert torch.allclose(nb.load_image(RGB.astype(np.float32) / 255), EXPECTED)
    gray = nb.load_image(RGB[..., 1])
    assert torch.allclose(gray[1], EXPECTED[1]) and torch.equal(gray[0], gray[1])
    half = np.dstack([RGB.astype(np.float64) / 255, np.full(RGB.shape[:2], 0.5)])
    assert torch.allclose(nb.load_image(half), EXPECTED * 0.5 + 0.5, atol=1e-6), "half-transparent over white"


def test_tensor_layouts():
    assert torch.allclose(nb.load_image(EXPECTED), EXPECTED)
    assert torch.allclose(nb.load_image(EXPECTED[None]), EXPECTED)
    assert torch.allclose(nb.load_image(torch.from_numpy(RGB).permute(2, 0, 1)), EXPECTED)
    assert nb.load_image(EXPECTED[0]).shape == (3, 4, 6)


def test_resize_crop_keeps_the_centre_and_stretch_keeps_everything():
    wide = np.zeros((10, 30, 3), np.uint8)
    wide[:, :10] = 255  # a white band on the left third
    cropped = nb.load_image(wide, size=10, fit="crop")
    stretched = nb.load_image(wide, size=10, fit="stretch")
    assert cropped.shape == stretched.shape == (3, 10, 10)
    assert cropped.max() == 0, "the centre crop drops the left band"
    assert stretched[:, :, :2].min() > 0.9, "stretching keeps it"
    assert nb.load_image(wide, size=(5, 15)).shape == (3, 5, 15)


def test_the_articles_photo(dog_cat):
    photo = nb.load_image(dog_cat)
    assert photo.shape == (3, 367, 550) and 0 <= photo.min() and photo.max() <= 1
    assert nb.load_image(dog_cat, size=224).shape == (3, 224, 224)


@pytest.mark.parametrize(
    "bad, message",
    [
        (np.full((4, 4, 3), np.nan, np.float32), "NaN or infinite"),
        (np.full((4, 4, 3), np.inf, np.float32), "NaN or infinite"),
        (np.zeros((0, 4, 3), np.uint8), "empty"),
        (np.zeros((4, 4, 5), np.uint8), r"H×W, H×W×3 or H×W×4; got shape \(4, 4, 5\)"),
        (np.zeros((2, 4, 4, 3), np.uint8), "got shape"),
        (torch.zeros(5, 4, 4), r"C×H×W with 1, 3 or 4 channels"),
        (np.full((4, 4, 3), 200.0), r"must lie in \[0, 1\].*divide by 255"),
        (np.zeros((4, 4, 3), np.int64), "int64 image has no known white.*uint16 for 0–65535"),
        (torch.zeros(3, 4, 4, dtype=torch.int32), "int32 image has no known white"),
        (np.zeros((4, 4), np.complex64), "unsigned integers, bool or float, not complex64"),
        (Image.fromarray(np.full((4, 4), 70_000, np.int32)), r"32-bit integer image with values in \[70000, 70000\]"),
        (Image.fromarray(np.full((4, 4), 3.0, np.float32)), r"must lie in \[0, 1\]"),
        ([[0, 1], [1, 0]], "cannot read an image from a list"),
    ],
)
def test_bad_arrays_are_refused_with_the_reason(bad, message):
    with pytest.raises(nb.ImageError, match=message):
        nb.load_image(bad)


def test_bad_files_and_urls(tmp_path, server):
    (tmp_path / "notes.png").write_text("not really a png")
    with pytest.raises(nb.ImageError, match="could not read .*notes.png as an image"):
        nb.load_image(tmp_path / "notes.png")
    with pytest.raises(nb.ImageError, match="no image file at .*missing.jpg"):
        nb.load_image(tmp_path / "missing.jpg")
    with pytest.raises(nb.ImageError, match="answered with text/html, not an image"):
        nb.load_image(f"{server}/page.html")
    with pytest.raises(nb.ImageError, match="answered HTTP 404"):
        nb.load_image(f"{server}/nothing.png")


def test_session_resizes_to_its_input_size(googlenet, dog_cat):
    assert googlenet.image(dog_cat).shape == (3, 224, 224)
    assert googlenet.predict(dog_cat, top=3)[0][0] in googlenet.labels
