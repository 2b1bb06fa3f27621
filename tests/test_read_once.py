"""An input is read once per computation: a path decoded once, a URL fetched once per session,
however many blocks a computation or a view calls on it. Decodes are counted at Pillow's
`Image.open` (the real function still runs), fetches at a real HTTP server on loopback."""

from __future__ import annotations

import functools
import threading
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer

import numpy as np
import PIL.Image
import pytest
import torch

import neuroblocks as nb
from neuroblocks.shapes import world


@pytest.fixture(scope="module")
def photo_dir(tmp_path_factory):
    root = tmp_path_factory.mktemp("photos")
    PIL.Image.fromarray(world.scene(3, classes=("striped circle", "solid square")).image).save(root / "scene.png")
    return root


@pytest.fixture
def decodes(monkeypatch):
    """How many times Pillow opens an image from here on."""
    opened = []
    real = PIL.Image.open

    def counted(*args, **kwargs):
        opened.append(args[0])
        return real(*args, **kwargs)

    monkeypatch.setattr(PIL.Image, "open", counted)
    return opened


@pytest.fixture(scope="module")
def server(photo_dir):
    """A real HTTP server on loopback that counts the requests for each path."""
    asked: list[str] = []

    class Counting(SimpleHTTPRequestHandler):
        def do_GET(self):
            asked.append(self.path)
            super().do_GET()

        def log_message(self, *args):
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Counting, directory=str(photo_dir)))
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}", asked
    httpd.shutdown()


def test_spatial_attribution_decodes_a_path_once(shapes_session, photo_dir, decodes):
    path = str(photo_dir / "scene.png")
    by_path = nb.attribution.spatial(shapes_session, path, "conv3", "striped circle")
    assert len(decodes) == 1, f"decoded {len(decodes)} times"
    pixels = nb.load_image(PIL.Image.open(path), size=shapes_session.input_size)
    assert torch.equal(by_path, nb.attribution.spatial(shapes_session, pixels, "conv3", "striped circle")), "the same map as from the pixels"


def test_a_views_build_decodes_its_image_once(shapes_session, photo_dir, decodes):
    path = str(photo_dir / "scene.png")
    view = nb.SpatialAttribution(shapes_session, path, "conv2", "conv3").wait()
    assert view.error == "" and view.classes and len(decodes) == 1, f"decoded {len(decodes)} times"
    view.layer = "conv1"  # a recompute on the same image reads nothing again
    view.wait()
    assert view.error == "" and len(decodes) == 1
    view.close()


def test_a_url_is_fetched_once_per_session(shapes_session, server, decodes):
    address, asked = server
    url = f"{address}/scene.png"
    session = nb.Session.load("shapes")
    before = len(asked)
    views = [nb.SemanticDictionary(session, url, "conv3", icon_steps=0), nb.SpatialAttribution(session, url, "conv2", "conv3", icon_steps=0)]
    for view in views:
        view.wait()
        assert view.error == ""
    nb.attribution.channel(session, url, "conv3", "striped circle")
    session.predict(url)
    assert asked[before:] == ["/scene.png"], f"fetched {len(asked) - before} times"
    assert np.array_equal(session.image(url).numpy(), shapes_session.image(url).numpy()), "the same pixels as another session's fetch"
    assert asked[before:] == ["/scene.png"] * 2, "another session fetches for itself"
    for view in views:
        view.close()


def test_a_reading_made_for_other_settings_is_read_again_from_its_source(shapes_session, shapes_gray, photo_dir):
    colour = shapes_session.read(str(photo_dir / "scene.png"))
    assert shapes_session.read(colour) is colour, "the same settings: the same object"
    gray = shapes_gray.image(colour)
    assert gray.shape[0] == 1 and torch.allclose(gray, shapes_gray.image(str(photo_dir / "scene.png")))
