"""How long a view keeps the kernel, and when its content comes: every single-image view on
GoogLeNet, ResNet-50, VGG16 and ViT-B/16 (random weights, the article's photo), at a middle and
a late layer.

    .venv/bin/python benchmarks/views.py [--models vgg16 resnet50 ...] [--views SpatialAttribution ...] [--device cpu]

For each view: the time the constructor holds the kernel (construct), until its first content
is in the view (first: the picture and the first part, e.g. SpatialAttribution's class maps),
until everything is there (complete: `wait()`), and the peak memory above the loaded model and
its cached pass (resident set size sampled every 10 ms). Each view runs in a fresh process, so
its memory is its own (memory a view frees stays with the process and would hide the next one's). Icons are off (icon_steps=0): feature visualization is
long work of its own, measured in benchmarks/featurevis.py. Run on the code before the views
went to the background (which computed everything in the constructor), the same script prints
that code's figures: construct = first = complete there.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import threading
import time
from collections.abc import Callable
from pathlib import Path

import psutil
import torch

import neuroblocks as nb

PHOTO = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "dog_cat.jpg"
#: (middle layer, late layer) of each model
LAYERS = {
    "googlenet": ("inception4d", "inception5a"),
    "resnet50": ("layer3", "layer4"),
    "vgg16": ("features.22", "features.29"),
    "vit_b_16": ("encoder.layers.encoder_layer_6", "encoder.layers.encoder_layer_10"),
}


def views(middle: str, late: str) -> list[tuple[str, str, Callable[[nb.Session], nb.widgets.View]]]:
    """(view, layer(s), constructor taking the session) for every single-image view at the two layers."""
    off = {"icon_steps": 0}
    made = []
    for layer in (middle, late):
        made += [
            ("SemanticDictionary", layer, lambda s, layer=layer: nb.SemanticDictionary(s, PHOTO, layer, **off)),
            ("ActivationGrid", layer, lambda s, layer=layer: nb.ActivationGrid(s, PHOTO, layer, **off)),
            ("ChannelAttribution", layer, lambda s, layer=layer: nb.ChannelAttribution(s, PHOTO, layer, **off)),
            ("NeuronGroups", layer, lambda s, layer=layer: nb.NeuronGroups(s, PHOTO, layer, **off)),
        ]
    made += [
        ("SpatialAttribution", f"{middle} → {late}", lambda s: nb.SpatialAttribution(s, PHOTO, middle, late, **off)),
        ("GroupFlow", f"{middle} → {late}", lambda s: nb.GroupFlow(s, PHOTO, [middle, late], **off)),
    ]
    return made


class PeakMemory:
    """Resident set size sampled every 10 ms; `peak` is the most seen since `start`."""

    def __init__(self) -> None:
        self.process, self.peak, self._stop = psutil.Process(), 0, threading.Event()

    def __enter__(self) -> PeakMemory:
        self.base = self.peak = self.process.memory_info().rss
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()
        return self

    def _sample(self) -> None:
        while not self._stop.wait(0.01):
            self.peak = max(self.peak, self.process.memory_info().rss)

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, self.process.memory_info().rss)


def measure(make) -> dict:
    arrived: list[float] = []
    with PeakMemory() as memory:
        start = time.perf_counter()
        view = make()
        construct = time.perf_counter() - start
        if view.picture:
            arrived.append(construct)
        else:
            view.observe(lambda change: arrived.append(time.perf_counter() - start), names="picture")
        view.wait(timeout=1800)
        complete = time.perf_counter() - start
    view.close()
    return {"construct": construct, "first": arrived[0] if arrived else float("nan"), "complete": complete, "peak_mb": (memory.peak - memory.base) / 2**20, "error": view.error}


def _session(name: str, device: str) -> nb.Session:
    torch.manual_seed(0)
    session = nb.Session.load(name, weights="random", device=device)
    session.trace(PHOTO, list(LAYERS[name]))  # the photo's pass, as any first view makes it
    return session


def one(name: str, index: int, device: str, out: mp.Queue) -> None:
    """Measure the `index`-th view of `name` in this (fresh) process."""
    session = _session(name, device)
    view, layers, make = views(*LAYERS[name])[index]
    result = measure(lambda: make(session))
    out.put({**result, "view": view, "layers": layers, "base_mb": psutil.Process().memory_info().rss / 2**20})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", default=list(LAYERS), choices=list(LAYERS))
    parser.add_argument("--views", nargs="+", default=None, help="view names to run (default: all)")
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()
    print(f"neuroblocks from {Path(nb.__file__).parent}; torch threads {torch.get_num_threads()}; device {args.device}")
    print(f"{'model':<10} {'view':<19} {'layer(s)':<42} {'construct s':>11} {'first s':>8} {'complete s':>10} {'peak MB':>8}")
    context = mp.get_context("spawn")
    for name in args.models:
        for index, (view, _, _) in enumerate(views(*LAYERS[name])):
            if args.views and view not in args.views:
                continue
            out = context.Queue()
            worker = context.Process(target=one, args=(name, index, args.device, out))
            worker.start()
            r = out.get()
            worker.join()
            note = f"  ERROR {r['error'][:80]}" if r["error"] else ""
            print(f"{name:<10} {r['view']:<19} {r['layers']:<42} {r['construct']:>11.2f} {r['first']:>8.2f} {r['complete']:>10.2f} {r['peak_mb']:>8.0f}{note}", flush=True)
        print(f"{name:<10} (resident with the model loaded and the photo's pass cached: {r['base_mb']:.0f} MB)", flush=True)


if __name__ == "__main__":
    main()
