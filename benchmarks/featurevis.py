"""Feature-visualization icons for N channels of GoogLeNet's inception4d (or MobileNetV2's
features.14.conv.0): neuroblocks vs Lucent's `render_vis` (one channel at a time, and batched),
and vs a bare truncated forward+backward.

    make bench-deps        # Lucent 0.1.8 with today's kornia (Lucent pins kornia<=0.4.1)
    .venv/bin/python benchmarks/featurevis.py [--model googlenet|mobilenet_v2] [--channels 8] [--size 128] [--steps 512] [--weights PATH|IMAGENET1K_V1] [--device cuda] [--one-at-a-time 4]
    .venv/bin/python benchmarks/featurevis.py --clamped --model mobilenet_v2 --weights IMAGENET1K_V1 [--photo ../shared/data/dog_cat.jpg] [--montage clamped.png]

Same settings for both: 128 px, 512 Adam steps at lr 0.05, the same parameterisation and
transforms. Lucent upsamples images under 224 px to 224 before the model (its default); that
is part of what is measured. Each method's final images are scored the same way: the channel's
mean activation at the layer, on the image at native size and upsampled to 224 px.

--clamped: icons of a layer that ends in ReLU6 (MobileNetV2's features.18), for its channels
most active on --photo: as they were drawn before (64 px, the clamped output optimised), with
only one change each (the default size for the layer's grid; the objective read before the
clamp), at today's defaults, and by Lucent at the same size. Each row gives every channel's
score at 224 px, its rank among all channels there (1: its own icon drives it most), and the
icon's pixel standard deviation (a flat, grey icon is near 0; uint8 scale).
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch
import torch.nn.functional as F

import neuroblocks as nb
from neuroblocks import featurevis as fv


def lucent():
    """Import Lucent, aliasing the two kornia functions it expects at their old places."""
    import kornia
    import kornia.geometry.transform as kt

    kornia.get_rotation_matrix2d = kt.get_rotation_matrix2d
    kornia.warp_affine = kt.warp_affine
    from lucent.optvis import objectives, param, render

    return objectives, param, render


def score(session: nb.Session, layer: str, images: np.ndarray, channels: list[int], side: int | None) -> float:
    """Mean over images of channel c_i's mean activation on image i (uint8 or float in [0, 1])."""
    x = torch.as_tensor(images, dtype=torch.float32)
    x = (x / 255 if images.dtype == np.uint8 else x).permute(0, 3, 1, 2)
    if side:
        x = F.interpolate(x, size=(side, side), mode="bilinear", align_corners=True)
    with torch.no_grad():
        a = session.forward(x, capture=[layer], stop=True).activations[layer]
    return float(np.mean([a[i, c].mean().item() for i, c in enumerate(channels)]))


def bare_step_ms(session: nb.Session, layer: str, n: int, side: int, repeat: int = 10) -> float:
    """A truncated forward+backward of the model alone, channels-last, per image per step."""
    x = torch.rand(n, 3, side, side).contiguous(memory_format=torch.channels_last).requires_grad_()
    for i in range(repeat + 2):
        if i == 2:
            start = time.perf_counter()
        session.forward(x, capture=[layer], stop=True).activations[layer].mean().backward()
    return (time.perf_counter() - start) / repeat / n * 1000


LAYERS = {"googlenet": "inception4d", "mobilenet_v2": "features.14.conv.0"}


def at_224(session: nb.Session, layer: str, images: np.ndarray, channels: list[int]) -> tuple[np.ndarray, np.ndarray]:
    """Each icon's own channel, upsampled to 224 px: its mean activation, and its rank among all channels."""
    x = F.interpolate(torch.as_tensor(images, dtype=torch.float32).permute(0, 3, 1, 2) / 255, size=(224, 224), mode="bilinear", align_corners=True)
    with torch.no_grad():
        means = session.forward(x, capture=[layer], stop=True).activations[layer].flatten(2).mean(2)
    own = means[torch.arange(len(channels)), channels]
    return own.numpy(), ((means > own[:, None]).sum(1) + 1).numpy()


def clamped(args, session: nb.Session) -> None:
    """Before and after for a layer that ends in a clamp (see the module docstring)."""
    from neuroblocks.featurevis import clamps, sizes

    layer = args.layer or "features.18"
    means = session.trace(args.photo, [layer])[layer].flatten(1).mean(1)
    channels = means.topk(args.channels).indices.tolist()
    size = sizes.default_size(session, [layer])
    print(f"{layer}: {clamps.note(session, [layer]) or 'no clamp'}; channels most active on {args.photo}: {channels}; default size {size} px, {args.steps} steps")
    objs = [fv.channel(layer, c) for c in channels]
    rows = {
        "before: 64 px, clamped output": dict(size=64, before_clamp=False),
        f"default size ({size} px), clamped output": dict(size=size, before_clamp=False),
        "64 px, before the clamp": dict(size=64),
        f"after: {size} px, before the clamp": dict(size=size),
        f"{size} px before the clamp, at='input'": dict(size=size, at="input"),
    }
    drawn = {}
    print(f"{'icons':40s} {'s':>6s}  score at 224 (rank) per channel{'':20s} pixel std")
    for name, options in rows.items():
        start = time.perf_counter()
        drawn[name] = fv.render(session, objs, steps=args.steps, **options)
        seconds = time.perf_counter() - start
        score, rank = at_224(session, layer, drawn[name], channels)
        cells = "  ".join(f"{v:5.2f} ({r:>4d})" for v, r in zip(score, rank))
        print(f"{name:40s} {seconds:6.1f}  {cells}   {' '.join(f'{d:.0f}' for d in drawn[name].reshape(len(channels), -1).std(1))}")
    try:
        objectives, param, render = lucent()
    except ImportError:
        print("Lucent not installed (make bench-deps): its row is left out")
    else:
        start = time.perf_counter()
        batched = sum(objectives.channel(layer.replace(".", "_"), c, batch=i) for i, c in enumerate(channels))
        theirs = render.render_vis(session.model, batched, param_f=lambda: param.image(size, batch=len(channels)), thresholds=(args.steps,), progress=False, show_image=False)[-1]
        seconds = time.perf_counter() - start
        images = (theirs * 255).round().astype(np.uint8)
        score, rank = at_224(session, layer, images, channels)
        print(f"{f'Lucent render_vis, {size} px (batched)':40s} {seconds:6.1f}  {'  '.join(f'{v:5.2f} ({r:>4d})' for v, r in zip(score, rank))}   {' '.join(f'{d:.0f}' for d in images.reshape(len(channels), -1).std(1))}")
        drawn["Lucent"] = images
    if args.montage:
        from PIL import Image

        rows_px = [np.concatenate([np.asarray(Image.fromarray(icon).resize((128, 128))) for icon in icons], 1) for icons in drawn.values()]
        Image.fromarray(np.concatenate(rows_px, 0)).save(args.montage)
        print(f"montage, one row per line above: {args.montage}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", choices=sorted(LAYERS), default="googlenet")
    parser.add_argument("--layer", default=None, help="default: inception4d, or features.14.conv.0 of mobilenet_v2")
    parser.add_argument("--channels", type=int, default=8)
    parser.add_argument("--size", type=int, default=128)
    parser.add_argument("--steps", type=int, default=512)
    parser.add_argument("--weights", default=None, help="the model's .pth file or torchvision weights name (default: random weights)")
    parser.add_argument("--device", default=None, help="where the sessions run (cuda, mps, …; default: NEUROBLOCKS_DEVICE, else cpu)")
    parser.add_argument("--one-at-a-time", type=int, default=None, help="channels Lucent renders one at a time (default: all; its time per image is the same)")
    parser.add_argument("--clamped", action="store_true", help="before and after for a layer ending in ReLU6 (default features.18; use --model mobilenet_v2)")
    parser.add_argument("--photo", default="../shared/data/dog_cat.jpg", help="with --clamped: the photo whose most active channels are drawn")
    parser.add_argument("--montage", default=None, help="with --clamped: a PNG of every row's icons")
    args = parser.parse_args()
    torch.manual_seed(0)
    session = nb.Session.load(args.model, weights=args.weights or "random", device=args.device)
    if args.clamped:
        return clamped(args, session)
    model, layer, channels, n, steps = session.model, args.layer or LAYERS[args.model], list(range(args.channels)), args.channels, args.steps
    theirs = layer.replace(".", "_")  # Lucent names a submodule by its path joined with "_"
    objectives, param, render = lucent()
    print(f"{args.model} ({args.weights or 'random weights'}), {layer}, {n} channels, {args.size} px, {steps} steps, device {session.device}, torch threads {torch.get_num_threads()}")

    rows = []
    start = time.perf_counter()
    ours = fv.render(session, [fv.channel(layer, c) for c in channels], size=args.size, steps=steps)
    rows.append(("neuroblocks render (batched)", time.perf_counter() - start, ours, channels))

    start = time.perf_counter()
    singles = channels[: args.one_at_a_time]
    one = [render.render_vis(model, f"{theirs}:{c}", param_f=lambda: param.image(args.size), thresholds=(steps,), progress=False, show_image=False)[-1][0] for c in singles]
    rows.append((f"Lucent render_vis, one at a time ({len(singles)})", time.perf_counter() - start, np.stack(one), singles))

    start = time.perf_counter()
    batched_objective = sum(objectives.channel(theirs, c, batch=i) for i, c in enumerate(channels))
    batched = render.render_vis(model, batched_objective, param_f=lambda: param.image(args.size, batch=n), thresholds=(steps,), progress=False, show_image=False)[-1]
    rows.append(("Lucent render_vis, batched", time.perf_counter() - start, batched, channels))

    side = args.size + 2 * 12 - 8 - 4  # the mean size after padding and both jitters
    bare = bare_step_ms(session, layer, n, side)
    ours_ms = rows[0][1] / (n * steps) * 1000
    print(f"{'method':36s} {'total s':>8s} {'ms/img/step':>12s} {'vs ours':>8s} {'score native':>13s} {'score 224':>10s}")
    for name, seconds, images, drawn in rows:
        ms = seconds / (len(drawn) * steps) * 1000
        print(f"{name:36s} {seconds:8.1f} {ms:12.1f} {ms / ours_ms:7.2f}× {score(session, layer, images, drawn, None):13.4g} {score(session, layer, images, drawn, 224):10.4g}")
    print(f"bare truncated forward+backward at {side} px, channels-last: {bare:.1f} ms/img/step; neuroblocks overhead {100 * (ours_ms / bare - 1):+.1f}%")


if __name__ == "__main__":
    main()
