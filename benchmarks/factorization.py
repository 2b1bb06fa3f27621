"""Neuron-group factorization time at the article's size and a larger one.

    .venv/bin/python benchmarks/factorization.py [--groups 6] [--repeat 3]

14×14×528: GoogLeNet's inception4d; 28×28×512: VGG16's conv4_3 (features.22), both on the
dog-and-cat photo with random weights. For each method it prints the median time of the
scikit-learn solve alone and of the whole `factorize` call (which adds each group's
attribution to all 1000 classes), next to the time of one forward pass of the model as a
yardstick.
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

import torch

import neuroblocks as nb
from neuroblocks.factorization.methods import factorise
from neuroblocks.factorization.sources import as_matrix

PHOTO = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "dog_cat.jpg"
CASES = [("googlenet", "inception4d"), ("vgg16", "features.22")]


def median_time(fn, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--groups", type=int, default=6)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--device", default=None, help="where the sessions run (cuda, mps, …; default: NEUROBLOCKS_DEVICE, else cpu)")
    args = parser.parse_args()
    print(f"k = {args.groups}, median of {args.repeat}, device {args.device or nb.session.default_device()}, torch threads {torch.get_num_threads()}")
    for model, layer in CASES:
        torch.manual_seed(0)
        session = nb.Session.load(model, weights="random", device=args.device)
        a = session.trace(PHOTO, layer)[layer]
        forward = median_time(lambda: session.forward(session.image(PHOTO)[None]), args.repeat)
        x = as_matrix(a)[0].double().numpy()
        print(f"{model} {layer}: {a.shape[1]}×{a.shape[2]}×{a.shape[0]}   (one forward pass {forward * 1000:.0f} ms)")
        for method in ("nmf", "pca", "ica"):
            solve = median_time(lambda: factorise(x, args.groups, method), args.repeat)
            whole = median_time(lambda: nb.factorize(session, PHOTO, layer, args.groups, method=method), args.repeat)
            print(f"  {method}: solve {solve * 1000:7.0f} ms   factorize() with attribution to all classes {whole * 1000:7.0f} ms")


if __name__ == "__main__":
    main()
