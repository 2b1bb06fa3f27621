"""Network dissection's thresholds: streaming (neuroblocks) against the exact computation that
keeps every upsampled activation (the peer), on N and 10·N scenes of the shapes world at conv3.

Each measurement runs in its own process, so each peak resident memory is its own. The
streaming thresholds equal the exact ones while the tail fits the buffer (the small dataset);
the peak memory of streaming stays flat as the dataset grows, the exact one grows with it.

    .venv/bin/python benchmarks/dissection.py [--images 60] [--device cuda]
"""

from __future__ import annotations

import json
import math
import os
import time

import in_process

LAYER = "conv3"


def measure(how: str, images: int) -> dict:
    import torch
    import torch.nn.functional as F

    import neuroblocks as nb
    from neuroblocks import dissection as D

    session = nb.Session.load("shapes")
    data = torch.utils.data.DataLoader(D.ShapesConcepts(images), batch_size=30)
    start = time.perf_counter()
    if how == "streaming":
        thresholds = D.dissect(session, LAYER, data).thresholds
    else:  # keep every upsampled value of every unit, then take the quantile
        kept = []
        with torch.no_grad():
            for batch, _ in data:
                a = session.forward(batch, capture=[LAYER], stop=True).activations[LAYER]
                kept.append(F.interpolate(a, size=batch.shape[2:], mode="bilinear", align_corners=False).transpose(0, 1).flatten(1))
        values = torch.cat(kept, 1)
        thresholds = values.topk(math.ceil(0.005 * values.shape[1]), dim=1).values[:, -1]
    seconds = time.perf_counter() - start
    return {"thresholds": thresholds.tolist(), "seconds": seconds, "peak_mb": in_process.peak_mb()}


def main() -> None:
    parser = in_process.parser(__doc__, child_args=2)
    parser.add_argument("--images", type=int, default=60)
    args = parser.parse_args()
    in_process.use_device(args.device)
    if args.child:
        print(json.dumps(measure(args.child[0], int(args.child[1]))))
        return
    small, large = args.images, 10 * args.images
    results = {(how, n): in_process.run(__file__, how, n) for n in (small, large) for how in ("streaming", "exact")}
    print(f"device {os.environ.get('NEUROBLOCKS_DEVICE') or 'cpu'}")
    print(f"shapes model, {LAYER} (64 units), thresholds at the top 0.5% of upsampled 64×64 maps")
    print(f"{'images':>7s} {'streaming':>22s} {'exact (peer)':>22s}  max |difference|")
    for n in (small, large):
        s, e = results[("streaming", n)], results[("exact", n)]
        diff = max(abs(a - b) for a, b in zip(s["thresholds"], e["thresholds"]))
        print(f"{n:7d} {s['peak_mb']:8.0f} MB {s['seconds']:7.1f} s  {e['peak_mb']:8.0f} MB {e['seconds']:7.1f} s  {diff:.2e}")
    growth_s = results[("streaming", large)]["peak_mb"] / results[("streaming", small)]["peak_mb"]
    growth_e = results[("exact", large)]["peak_mb"] / results[("exact", small)]["peak_mb"]
    print(f"peak memory at 10× the images: streaming ×{growth_s:.2f}, exact ×{growth_e:.2f}")


if __name__ == "__main__":
    main()
