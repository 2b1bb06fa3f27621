"""Attribution of every position to every class: neuroblocks vs a per-class loop with Captum,
measured in the same run, at GoogLeNet's inception4d (14×14 positions), MobileNetV2's
features.14.conv.0 (14×14) or, with `--model vit_b_16`, at ViT-B/16's encoder_layer_6 (197
tokens: 196 patches and the class token).

    .venv/bin/python benchmarks/attribution.py [--model googlenet|mobilenet_v2|vit_b_16] [--classes 1000] [--weights PATH|IMAGENET1K_V1] [--device cpu]

Each method runs in its own process, so its peak memory (resident set size) is its own. Prints
both times, the ratio, peak memory above the loaded model, how far the two results differ, and
which mode neuroblocks used (forward mode through attention, or the reverse-mode fallback).
neuroblocks runs twice: with the plain gradient (`rule="gradient"`, the quantity Captum
computes, compared with it) and with its default conservative rule (LayerNorm scales and
softmax weights held constant: what that costs).
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
LAYERS = {"googlenet": "inception4d", "mobilenet_v2": "features.14.conv.0", "vit_b_16": "encoder.layers.encoder_layer_6"}


def _session(model: str, weights: str | None, device: str):
    import neuroblocks as nb

    torch.manual_seed(0)
    return nb.Session.load(model, weights=weights or "random", device=device)


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def ours(model: str, layer: str, n_classes: int, weights: str | None, device: str, rule: str, out: mp.Queue) -> None:
    import warnings

    from neuroblocks import attribution

    session = _session(model, weights, device)
    session.trace(PHOTO, layer)  # load and cache, as a widget would already have
    before = _peak_mb()
    start = time.perf_counter()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        matrix = attribution.to_classes(session, PHOTO, layer, units="positions", rule=rule)[:, :n_classes]
    elapsed = time.perf_counter() - start
    fell_back = any("forward-mode AD does not pass" in str(w.message) for w in caught)
    out.put((elapsed, _peak_mb() - before, matrix.cpu().numpy(), "reverse (fallback)" if fell_back else "auto"))


def _per_atom(session, layer: str, attribution: torch.Tensor) -> torch.Tensor:
    """Captum's (layer output) attribution summed to one value per position, in neuroblocks' atom
    order: a grid row-major; a token layer's patches row-major, then its prefix tokens."""
    layout = session.layout(layer)
    if layout.tokens:
        per_token = attribution.sum(-1)
        return torch.cat([per_token[layout.prefix :], per_token[: layout.prefix]])
    return layout.to_canonical(attribution[None])[0].sum(0).flatten()


def captum_loop(model: str, layer: str, n_classes: int, weights: str | None, device: str, out: mp.Queue) -> None:
    from captum.attr import LayerGradientXActivation

    session = _session(model, weights, device)
    x = session.image(PHOTO)[None]
    method = LayerGradientXActivation(lambda z: session.model(session.preprocess(z)), dict(session.model.named_modules())[layer])
    before = _peak_mb()
    start = time.perf_counter()
    columns = [_per_atom(session, layer, method.attribute(x, target=c)[0].detach()) for c in range(n_classes)]
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
    parser.add_argument("--model", choices=sorted(LAYERS), default="googlenet")
    parser.add_argument("--layer", default=None, help="default: inception4d, features.14.conv.0 of mobilenet_v2, or encoder_layer_6 of vit_b_16")
    parser.add_argument("--classes", type=int, default=1000, help="classes in the Captum loop (ours always does all)")
    parser.add_argument("--weights", default=None, help="the model's .pth file or torchvision weights name (default: random weights)")
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()
    layer = args.layer or LAYERS[args.model]
    print(f"{args.model} ({args.weights or 'random weights'}), {layer}, {PHOTO.name}, device {args.device}, torch threads {torch.get_num_threads()}")
    t_ours, mem_ours, m_ours, mode = measure(ours, args.model, layer, args.classes, args.weights, args.device, "gradient")
    t_held, mem_held, _, _ = measure(ours, args.model, layer, args.classes, args.weights, args.device, "conservative")
    t_loop, mem_loop, m_loop = measure(captum_loop, args.model, layer, args.classes, args.weights, args.device)
    scale = 1000 / args.classes
    print(f"neuroblocks to_classes (all 1000 classes, mode {mode}): {t_ours:8.2f} s   peak memory +{mem_ours:7.0f} MB")
    print(f"  the same, conservative rule (the default):        {t_held:8.2f} s   peak memory +{mem_held:7.0f} MB   ({t_held / t_ours:.2f}× the plain gradient's time)")
    print(f"Captum per-class loop ({args.classes} classes):   {t_loop:8.2f} s   peak memory +{mem_loop:7.0f} MB" + (f"   (≈{t_loop * scale:.1f} s for 1000)" if scale != 1 else ""))
    print(f"speed-up: {t_loop * scale / t_ours:.1f}×")
    err = float(np.linalg.norm(m_ours - m_loop) / np.linalg.norm(m_loop))
    print(f"matrix {tuple(m_ours.shape)}: relative difference ‖ours − Captum‖ / ‖Captum‖ = {err:.2e}")


if __name__ == "__main__":
    main()
