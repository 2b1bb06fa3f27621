"""Dataset jobs scaled out: network dissection of the shapes CNN's conv3 over N scenes in this
process (the peer: the in-process path every release had) and on a local Ray cluster with 1 and 2
workers; then the per-image costs behind a projection for Broden and ImageNet.

    .venv/bin/python benchmarks/scale.py [--scenes 800] [--device cuda]

Printed: images/s of the whole dissection (both passes) per engine and the ratio to in-process;
the workers' start-up (model built from its recipe) apart from the job; peak resident memory of
each worker after N/4 and after N scenes (streaming: it should not grow); then, for ResNet-50
(random weights) at 224 px, seconds per image of reading a JPEG, of the forward pass, of
dissection's two passes and of dataset examples at layer4, and the merge's cost per shard, from
which Broden (63,305 images) and ImageNet (1.28 M) are projected on N workers.
"""

from __future__ import annotations

import json
import math
import os
import pickle
import time
from pathlib import Path

import in_process

LAYER = "conv3"
PHOTO = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "dog_cat.jpg"
BRODEN, IMAGENET = 63_305, 1_281_167


def in_process_dissection(scenes: int) -> dict:
    import torch

    import neuroblocks as nb
    from neuroblocks import dissection as D

    session = nb.Session.load("shapes")
    start = time.perf_counter()
    result = D.dissect(session, LAYER, D.ShapesConcepts(scenes))
    seconds = time.perf_counter() - start
    return {"seconds": seconds, "peak_mb": in_process.peak_mb(), "thresholds": result.thresholds.tolist(), "rank_bound": result.rank_bound, "threads": torch.get_num_threads()}


def _peak_mb(pid: int) -> float:
    """A process's peak resident memory (VmHWM), MB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no VmHWM for {pid}")


def on_ray(scenes: int, workers: int) -> dict:
    import ray

    import neuroblocks as nb
    from neuroblocks import dissection as D

    session = nb.Session.load("shapes")
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, configure_logging=False)
    engine = nb.scale.RayEngine(workers=workers)
    try:
        start = time.perf_counter()
        D.dataset_examples(session, LAYER, D.ShapesConcepts(32), k=1, engine=engine)  # starts the workers
        started = time.perf_counter() - start
        peaks = []
        for count in (scenes // 4, scenes, 2 * scenes):  # the same workers, ever larger datasets
            start = time.perf_counter()
            result = D.dissect(session, LAYER, D.ShapesConcepts(count), engine=engine)
            seconds = time.perf_counter() - start
            peaks.append([_peak_mb(p) for p in engine.pids])
            if count == scenes:
                measured = (seconds, result.thresholds.tolist(), result.rank_bound)
    finally:
        engine.close()
        ray.shutdown()
    return {"start_s": started, "seconds": measured[0], "thresholds": measured[1], "rank_bound": measured[2], "peaks_mb": peaks}


def per_image_costs() -> dict:
    """Seconds per image of each stage for ResNet-50 (random weights) at 224 px, layer4."""
    import torch
    from PIL import Image

    import neuroblocks as nb
    from neuroblocks.dissection.dataset_examples import _FindExamples
    from neuroblocks.dissection.dissect import _CountOverlaps, _FindTails

    session = nb.Session.load("resnet50", weights="random")
    count, batch = 8, 4
    start = time.perf_counter()
    for _ in range(count):
        with Image.open(PHOTO) as photo:
            image = session.image(photo.convert("RGB"))
    load = (time.perf_counter() - start) / count
    g = torch.Generator().manual_seed(0)
    items = [(image, {f"concept:{k}": torch.rand(224, 224, generator=g) < 0.1 * (k + 1) for k in range(8)}) for _ in range(count)]
    images = torch.stack([image] * batch)
    with torch.no_grad():
        session.forward(images, capture=["layer4"], stop=True)
        start = time.perf_counter()
        for _ in range(count // batch):
            session.forward(images, capture=["layer4"], stop=True)
    forward = (time.perf_counter() - start) / count
    costs = {"load_s": load, "forward_s": forward}
    tails_job = _FindTails("layer4", None, 0.005, 4096, batch)
    start = time.perf_counter()
    tails = tails_job.map(session, items, 0, lambda n: None)
    costs["pass1_s"] = (time.perf_counter() - start) / count
    counts_job = _CountOverlaps("layer4", None, tails.quantile.threshold(), tuple(sorted(tails.pixels)), batch)
    start = time.perf_counter()
    counts = counts_job.map(session, items, 0, lambda n: None)
    costs["pass2_s"] = (time.perf_counter() - start) / count
    start = time.perf_counter()
    best = _FindExamples("layer4", None, 8, 0.5, batch).map(session, items, 0, lambda n: None)
    costs["examples_s"] = (time.perf_counter() - start) / count
    for name, part in (("tails", tails), ("counts", counts), ("examples", best)):
        start = time.perf_counter()
        for _ in range(5):
            part.merge(part)
        costs[f"merge_{name}_s"] = (time.perf_counter() - start) / 5
        costs[f"partial_{name}_mb"] = len(pickle.dumps(part)) / 2**20
    costs["peak_mb"] = in_process.peak_mb()
    return costs


def main() -> None:
    parser = in_process.parser(__doc__, child_args=3)
    parser.add_argument("--scenes", type=int, default=800)
    args = parser.parse_args()
    in_process.use_device(args.device)
    if args.child:
        how, scenes, workers = args.child[0], int(args.child[1]), int(args.child[2])
        found = {"local": lambda: in_process_dissection(scenes), "ray": lambda: on_ray(scenes, workers), "costs": per_image_costs}[how]()
        print(json.dumps(found))
        return
    n = args.scenes
    local = in_process.run(__file__, "local", n, 0)
    rays = {w: in_process.run(__file__, "ray", n, w) for w in (1, 2)}
    device = os.environ.get("NEUROBLOCKS_DEVICE") or "cpu"
    print(f"device {device}, {os.cpu_count()} cores; shapes model, {LAYER} (64 units), dissection (2 passes) of {n} scenes")
    print(f"in-process: {local['threads']} torch threads; each Ray worker: 1 CPU (Ray sets 1 thread)")
    print(f"{'engine':<16s} {'images/s':>9s} {'vs local':>9s} {'job s':>7s} {'start s':>8s}  peak MB per process (after N/4 → N → 2N scenes)")
    rate = n / local["seconds"]
    print(f"{'in-process':<16s} {rate:9.1f} {1:9.2f} {local['seconds']:7.1f} {'-':>8s}  {local['peak_mb']:.0f} (N only)")
    for w, r in rays.items():
        peaks = ", ".join(" → ".join(f"{p:.0f}" for p in worker) for worker in zip(*r["peaks_mb"]))
        print(f"{f'Ray, {w} worker' + ('s' if w > 1 else ''):<16s} {n / r['seconds']:9.1f} {n / r['seconds'] / rate:9.2f} {r['seconds']:7.1f} {r['start_s']:8.1f}  {peaks}")
        diff = max(abs(a - b) for a, b in zip(r["thresholds"], local["thresholds"]))
        print(f"{'':16s} thresholds vs in-process: max |difference| {diff:.2e}; rank bounds {r['rank_bound']} (Ray), {local['rank_bound']} (in-process), of rank {math.ceil(0.005 * n * 64 * 64)}")
    c = in_process.run(__file__, "costs", 0, 0)
    print("\nResNet-50 (random weights), 224 px, layer4 (2048 units), per image on one worker of this machine:")
    for key, what in (("load_s", "read a JPEG"), ("forward_s", "forward to layer4"), ("pass1_s", "dissection pass 1 (forward, upsample, tail)"),
                      ("pass2_s", "dissection pass 2 (forward, upsample, IoU counts)"), ("examples_s", "dataset examples (forward, upsample, top-k, crops)")):
        print(f"  {what:<52s} {c[key] * 1000:9.1f} ms")
    for name in ("tails", "counts", "examples"):
        print(f"  merge of two {name:<8s} partials {c[f'merge_{name}_s'] * 1000:9.1f} ms, {c[f'partial_{name}_mb']:7.1f} MB pickled")
    dissect_s = c["pass1_s"] + c["pass2_s"] + 2 * c["load_s"]
    examples_s = c["examples_s"] + c["load_s"]
    print("\nProjection from these costs (workers like this machine's cores, merges on the driver, start-up not counted):")
    for workers in (1, 8, 64):
        print(f"  {workers:3d} workers: Broden dissection {BRODEN * dissect_s / workers / 3600:8.1f} h, ImageNet dataset examples {IMAGENET * examples_s / workers / 3600:8.1f} h")
    print(f"  the driver merges one shard of tails in {c['merge_tails_s'] * 1000:.0f} ms; at 256 images a shard, Broden's {BRODEN // 256 + 1} shards cost "
          f"{(BRODEN // 256 + 1) * (c['merge_tails_s'] + c['merge_counts_s']):.0f} s of merging in all")
    shares = {"reading JPEGs": 2 * c["load_s"], "forward passes": 2 * c["forward_s"], "upsampling, tails and counts": c["pass1_s"] + c["pass2_s"] - 2 * c["forward_s"]}
    print("  where a dissection's time goes here: " + ", ".join(f"{k} {v / dissect_s:.0%}" for k, v in shares.items()))
    print(f"peak memory of the ResNet-50 measurement: {c['peak_mb']:.0f} MB")


if __name__ == "__main__":
    main()
