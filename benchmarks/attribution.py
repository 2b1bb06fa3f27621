"""Attribution of every position to every class at GoogLeNet's inception4d: neuroblocks vs a
per-class loop with Captum, measured in the same run.

    .venv/bin/python benchmarks/attribution.py [--classes 1000] [--weights PATH] [--device cpu]

Each method runs in its own process, so its peak memory (resident set size) is its own. Prints
both times, the ratio, peak memory above the loaded model, and how far the two results differ.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import resource
import time
from pathlib import Path

import numpy as np
import torch

PHOTO = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "dog_cat.jpg"


def _session(weights: str | None, device: str):
    import neuroblocks as nb

    torch.manual_seed(0)
    return nb.Session.load("googlenet", weights=weights or "random", device=device)


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def ours(layer: str, n_classes: int, weights: str | None, device: str, out: mp.Queue) -> None:
    from neuroblocks import attribution

    session = _session(weights, device)
    session.trace(PHOTO, layer)  # load and cache, as a widget would already have
    before = _peak_mb()
    start = time.perf_counter()
    matrix = attribution.to_classes(session, PHOTO, layer, atoms="positions")[:, :n_classes]
    elapsed = time.perf_counter() - start
    out.put((elapsed, _peak_mb() - before, matrix.cpu().numpy()))


def captum_loop(layer: str, n_classes: int, weights: str | None, device: str, out: mp.Queue) -> None:
    from captum.attr import LayerGradientXActivation

    session = _session(weights, device)
    x = session.image(PHOTO)[None]
    method = LayerGradientXActivation(lambda z: session.model(session.preprocess(z)), dict(session.model.named_modules())[layer])
    before = _peak_mb()
    start = time.perf_counter()
    columns = [method.attribute(x, target=c)[0].sum(0).flatten().detach() for c in range(n_classes)]
    elapsed = time.perf_counter() - start
    out.put((elapsed, _peak_mb() - before, torch.stack(columns, 1).cpu().numpy()))


def measure(fn, *args):
    queue = mp.get_context("spawn").Queue()
    process = mp.get_context("spawn").Process(target=fn, args=(*args, queue))
    process.start()
    result = queue.get()
    process.join()
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--layer", default="inception4d")
    parser.add_argument("--classes", type=int, default=1000, help="classes in the Captum loop (ours always does all)")
    parser.add_argument("--weights", default=None, help="a GoogLeNet .pth file (default: random weights)")
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()
    print(f"GoogLeNet ({args.weights or 'random weights'}), {args.layer}, {PHOTO.name}, device {args.device}, torch threads {torch.get_num_threads()}")
    t_ours, mem_ours, m_ours = measure(ours, args.layer, args.classes, args.weights, args.device)
    t_loop, mem_loop, m_loop = measure(captum_loop, args.layer, args.classes, args.weights, args.device)
    scale = 1000 / args.classes
    print(f"neuroblocks to_classes (all 1000 classes): {t_ours:8.2f} s   peak memory +{mem_ours:7.0f} MB")
    print(f"Captum per-class loop ({args.classes} classes):   {t_loop:8.2f} s   peak memory +{mem_loop:7.0f} MB" + (f"   (≈{t_loop * scale:.1f} s for 1000)" if scale != 1 else ""))
    print(f"speed-up: {t_loop * scale / t_ours:.1f}×")
    err = float(np.linalg.norm(m_ours - m_loop) / np.linalg.norm(m_loop))
    print(f"matrix {tuple(m_ours.shape)}: relative difference ‖ours − Captum‖ / ‖Captum‖ = {err:.2e}")


if __name__ == "__main__":
    main()
