"""Layer similarity (linear CKA for every pair of layers of two models over N images): the
minibatch accumulation neuroblocks uses (memory independent of N) against the peer that holds
every activation of every image and computes CKA from full N × N Gram matrices.

Two comparisons: the shapes CNN against its second seed (conv1–conv4), and randomly initialised
GoogLeNet against ResNet-18 (four layers each). Each measurement runs in its own process, so
each peak resident memory is its own.

    .venv/bin/python benchmarks/compare.py [--images 500] [--device cuda]
"""

from __future__ import annotations

import json
import os
import time

import in_process

PAIRS = {
    "shapes": (("shapes", ["conv1", "conv2", "conv3", "conv4"]), ("shapes-seed1", ["conv1", "conv2", "conv3", "conv4"])),
    "googlenet-resnet18": (("googlenet", ["inception3b", "inception4b", "inception4e", "inception5b"]), ("resnet18", ["layer1", "layer2", "layer3", "layer4"])),
}
BATCH = 50


def measure(how: str, pair: str, images: int) -> dict:
    import torch

    import neuroblocks as nb
    from neuroblocks import compare, shapes
    from neuroblocks.compare.cka import gram, hsic

    torch.manual_seed(0)
    (name_a, layers_a), (name_b, layers_b) = PAIRS[pair]
    a = nb.Session.load(name_a, weights=None if name_a.startswith("shapes") else "random")
    b = nb.Session.load(name_b, weights=None if name_b.startswith("shapes") else "random")
    scenes = [shapes.scene(50_000 + i).image for i in range(images)]
    start = time.perf_counter()
    if how == "streaming":
        cka = compare.similarity(a, b, scenes, layers_a, layers_b, batch=BATCH, permutations=0).cka
    else:  # every activation of every image held, then one N × N Gram matrix per layer
        held_a, held_b = {l: [] for l in layers_a}, {l: [] for l in layers_b}
        for acts_a, acts_b in compare.reading.paired(a, b, scenes, layers_a, layers_b, BATCH):
            for l in layers_a:
                held_a[l].append(acts_a[l])
            for l in layers_b:
                held_b[l].append(acts_b[l])
        grams_a = [gram(torch.cat(held_a[l])) for l in layers_a]
        grams_b = [gram(torch.cat(held_b[l])) for l in layers_b]
        cka = torch.tensor([[float(hsic(k, l) / (hsic(k, k) * hsic(l, l)).sqrt()) for l in grams_b] for k in grams_a])
    seconds = time.perf_counter() - start
    return {"cka": cka.tolist(), "seconds": seconds, "peak_mb": in_process.peak_mb()}


def main() -> None:
    parser = in_process.parser(__doc__, child_args=3)
    parser.add_argument("--images", type=int, default=500)
    args = parser.parse_args()
    in_process.use_device(args.device)
    if args.child:
        print(json.dumps(measure(args.child[0], args.child[1], int(args.child[2]))))
        return
    print(f"device {os.environ.get('NEUROBLOCKS_DEVICE') or 'cpu'}; {args.images} images (shapes scenes), batches of {BATCH}")
    print(f"{'models':<20s} {'minibatch (neuroblocks)':>26s} {'all activations held (peer)':>30s}  max |CKA difference|")
    for pair in PAIRS:
        s, h = in_process.run(__file__, "streaming", pair, args.images), in_process.run(__file__, "holding", pair, args.images)
        diff = max(abs(x - y) for rs, rh in zip(s["cka"], h["cka"]) for x, y in zip(rs, rh))
        print(f"{pair:<20s} {s['peak_mb']:11.0f} MB {s['seconds']:8.1f} s {h['peak_mb']:14.0f} MB {h['seconds']:8.1f} s  {diff:.3f}"
              f"   (memory ×{h['peak_mb'] / s['peak_mb']:.2f}, time ×{h['seconds'] / s['seconds']:.2f})")
        print("  minibatch CKA rows (A's layers) × columns (B's):", [[round(v, 3) for v in row] for row in s["cka"]])


if __name__ == "__main__":
    main()
