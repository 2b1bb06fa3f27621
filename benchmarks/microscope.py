"""What a microscope costs: a build of the shapes model (every layer) and of a MobileNetV2 layer
subset on this machine, each in its own process (its own peak memory), in units per minute; then
projections from per-step costs measured in the same run.

    .venv/bin/python benchmarks/microscope.py [--units 16] [--mobilenet-units 8] [--device cuda]

--units N builds N units of each shapes layer (its first N channels, as directions: the same
objective cost), 0 for all 240. The MobileNetV2 subset is the first --mobilenet-units channels of
`features.14.conv.0` (real weights from torch's hub cache, `make weights`), with the packaged
crops as data, at the session's budgets (full: 128 px, 512 steps on a CPU).

Projections multiply measured per-image-step costs of a render at each layer and budget by the
steps a unit needs (two full-budget icons and a diversity set of 3 at the quick budget) and add
the measured dataset passes. The GPU projection uses a measured H200 figure (issue 46's earlier
run: 8.6 ms per image per step for GoogLeNet at 128 px, batched), since no GPU is lent here.
"""

from __future__ import annotations

import json
import tempfile
import time

import torch

import neuroblocks as nb
from neuroblocks import dissection as D
from neuroblocks.featurevis import objectives

import in_process

H200_MS_PER_IMAGE_STEP = 8.6  # GoogLeNet, 128 px, batched; measured on an H200 (see the docstring)
GOOGLENET_4D = 528


def build(name: str, units: int, out: str) -> dict:
    """Build a microscope in this process; its time, units and peak memory."""
    if name == "shapes":
        session = nb.Session.load("shapes")
        layers = ["conv1", "conv2", "conv3", "conv4"]
        data = [D.ShapesConcepts(200, start=20_000)[i] for i in range(200)]
        concepts = data
    else:
        session = nb.Session.load("mobilenet_v2", weights="IMAGENET1K_V1")
        layers = ["features.14.conv.0"]
        data, concepts = nb.examples.packaged_crops(), None
    basis = {}
    for layer in layers:
        count = session.layer_shape(layer)[0]
        if units and units < count:
            basis[layer] = nb.units.Directions(layer, torch.eye(count)[:units], noun="channel")
    started = time.perf_counter()
    store = nb.microscope(session, layers, data=data, concepts=concepts, units=basis or None, out=out)
    seconds = time.perf_counter() - started
    built = sum(len(store.finished(layer)) for layer in layers)
    return {"seconds": seconds, "units": built, "peak_mb": in_process.peak_mb(), "full": store.manifest["full"], "quick": store.manifest["quick"]}


def per_step(session: nb.Session, layer: str, size: int, images: int = 8, steps: int = 16) -> float:
    """Seconds per image per step of a batched render of `images` channel icons at `size` px."""
    objs = [objectives.channel(layer, c) for c in range(images)]
    nb.featurevis.render(session, objs, size=size, steps=2)  # warm-up
    started = time.perf_counter()
    nb.featurevis.render(session, objs, size=size, steps=steps)
    return (time.perf_counter() - started) / (images * steps)


def projections(mobilenet: dict) -> dict:
    """MobileNetV2's four suggested layers (every unit) on this CPU, from per-step costs."""
    session = nb.Session.load("mobilenet_v2", weights="IMAGENET1K_V1")
    full, quick = nb.featurevis.full_budget(session), nb.featurevis.settings(session)
    rows, total = [], 0.0
    for layer in session.suggested_layers():
        count = session.layer_shape(layer)[0]
        quick_size = nb.featurevis.sizes.default_size(session, [layer])
        cost = 2 * full.steps * per_step(session, layer, full.size) + 3 * quick.steps * per_step(session, layer, quick_size)
        rows.append({"layer": layer, "units": count, "seconds_per_unit": cost})
        total += cost * count
    passes = mobilenet["seconds"] - mobilenet["units"] * rows[2]["seconds_per_unit"]  # the measured build less its renders
    gpu_unit = (2 * 1024 + 3 * 256 / 4) * H200_MS_PER_IMAGE_STEP / 1000  # the full budget on a GPU; quick icons are a quarter of the pixels
    return {"layers": rows, "cpu_hours": (total + len(rows) * max(passes, 0)) / 3600, "googlenet_4d_gpu_minutes": GOOGLENET_4D * gpu_unit / 60}


def main() -> None:
    p = in_process.parser(__doc__, 2)
    p.add_argument("--units", type=int, default=16)
    p.add_argument("--mobilenet-units", type=int, default=8)
    a = p.parse_args()
    in_process.use_device(a.device)
    if a.child:
        name, units = a.child
        with tempfile.TemporaryDirectory() as out:
            print(json.dumps(build(name, int(units), out)))
        return
    shapes = in_process.run(__file__, "shapes", a.units)
    mobilenet = in_process.run(__file__, "mobilenet_v2", a.mobilenet_units)
    print(f"{'build':34s} {'units':>6s} {'seconds':>8s} {'units/min':>10s} {'peak MB':>8s}  budgets")
    for name, r in (("shapes, every layer", shapes), ("MobileNetV2 features.14.conv.0", mobilenet)):
        print(f"{name:34s} {r['units']:6d} {r['seconds']:8.1f} {60 * r['units'] / r['seconds']:10.2f} {r['peak_mb']:8.0f}  full {r['full']}, quick {r['quick']}")
    found = projections(mobilenet)
    for row in found["layers"]:
        print(f"  {row['layer']:24s} {row['units']:5d} units × {row['seconds_per_unit']:6.1f} s a unit (this CPU, measured per step)")
    print(f"MobileNetV2's four suggested layers, all 2,192 units, this CPU: ≈ {found['cpu_hours']:.1f} h")
    print(f"GoogLeNet inception4d, 528 units, one H200 (from its measured {H200_MS_PER_IMAGE_STEP} ms per image per step): ≈ {found['googlenet_4d_gpu_minutes']:.0f} min")


if __name__ == "__main__":
    main()
