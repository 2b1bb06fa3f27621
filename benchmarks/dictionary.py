"""Sparse dictionaries: neuroblocks' TopK dictionary against overcomplete's TopKSAE (the peer),
trained on the same activations with the same size, k, epochs, batch and learning rate.

The activations are MobileNetV2's (torchvision's ImageNet weights, `make weights`) at the
session's suggested layer, on the colour photos scikit-image ships, each as random 224-pixel
crops with flips: a small set, and a dictionary trained on it describes that set. Training and
held-out crops differ (other seeds). Each method trains in its own process (its own peak memory)
and is measured the same way: FVU, mean L0 and alive share on the held-out vectors, and fidelity
(top-1 agreement, KL) with the layer replaced by its reconstruction on the held-out crops.

    .venv/bin/python benchmarks/dictionary.py [--crops 24] [--expansion 8] [--k 16] [--epochs 5] [--device cuda]
"""

from __future__ import annotations

import json
import os
import tempfile
import time

import torch

import in_process

def measure(method: str, settings: dict, vectors_file: str) -> dict:
    import neuroblocks as nb
    from neuroblocks.dictionary import Dictionary, Settings, measure as quality
    from neuroblocks.dictionary.sae import SparseAutoencoder
    from neuroblocks.dictionary.train import fit

    saved = torch.load(vectors_file, weights_only=False)
    session = nb.Session.load("mobilenet_v2", weights="IMAGENET1K_V1")
    layer, x = saved["layer"], saved["train"].to(session.device)
    s = Settings(**settings)
    start = time.perf_counter()
    if method == "neuroblocks":
        d = fit(x, layer, s)
    else:
        from overcomplete.sae import TopKSAE, train_sae
        from overcomplete.sae.losses import top_k_auxiliary_loss

        scale = (x.shape[1] / x.pow(2).sum(1).mean()).sqrt().item()  # the same input scaling as ours
        latents = s.expansion * x.shape[1]
        peer = TopKSAE(x.shape[1], latents, top_k=s.k, device=str(session.device))
        loader = torch.utils.data.DataLoader(x * scale, batch_size=s.batch, shuffle=True, generator=torch.Generator().manual_seed(s.seed))
        train_sae(peer, loader, top_k_auxiliary_loss, torch.optim.Adam(peer.parameters(), lr=s.rate(latents)), nb_epochs=s.epochs, monitoring=0, device=str(session.device))
        peer.eval()
        d = Dictionary(layer, PeerAsAutoencoder(peer, latents), scale, s, "overcomplete", len(x), len(x))
    seconds = time.perf_counter() - start
    q = quality(session, d, saved["held"])
    return {"seconds": seconds, "peak_mb": in_process.peak_mb(), "fvu": q.fvu, "l0": q.l0, "alive": q.alive, "agreement": q.agreement, "kl": q.kl, "vectors": q.vectors}


class PeerAsAutoencoder(torch.nn.Module):
    """The peer's model behind the interface `Dictionary` reads (encode, decode, decoder, latents)."""

    def __init__(self, peer, latents: int) -> None:
        super().__init__()
        self.peer, self.latents = peer, latents
        self.decoder = torch.nn.Parameter(peer.get_dictionary().detach(), requires_grad=False)

    def encode(self, x):
        return self.peer.encode(x)[1]

    def decode(self, z):
        return self.peer.decode(z)


def main() -> None:
    parser = in_process.parser(__doc__, child_args=3)
    parser.add_argument("--crops", type=int, default=24, help="random crops per photo, for training (and a third as many held out)")
    parser.add_argument("--expansion", type=int, default=8)
    parser.add_argument("--k", type=int, default=16)
    parser.add_argument("--epochs", type=int, default=5)
    args = parser.parse_args()
    in_process.use_device(args.device)
    if args.child:
        print(json.dumps(measure(args.child[0], json.loads(args.child[1]), args.child[2])))
        return
    import neuroblocks as nb
    from neuroblocks import examples
    from neuroblocks.dictionary import Settings
    from neuroblocks.dictionary.vectors import CollectVectors

    session = nb.Session.load("mobilenet_v2", weights="IMAGENET1K_V1")
    layer = session.suggested_layers(3)[1]
    train = CollectVectors(layer, 10**9, 0, 32).map(session, examples.packaged_crops(args.crops, seed=0), 0, lambda n: None).ordered()
    held = examples.packaged_crops(max(1, args.crops // 3), seed=1)
    c = train.shape[1]
    settings = {"expansion": args.expansion, "k": args.k, "epochs": args.epochs, "batch": 256, "seed": 0}  # lr: Gao et al.'s, for both
    print(f"device {os.environ.get('NEUROBLOCKS_DEVICE') or 'cpu'}; MobileNetV2 {layer} ({c} channels); {len(train):,} training vectors "
          f"from {len(examples.PACKAGED_PHOTOS)} photos × {args.crops} crops; held out: {len(held)} crops; {Settings(**settings)}, "
          f"learning rate {Settings(**settings).rate(args.expansion * c):.2e} for both")
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "vectors.pt")
        torch.save({"layer": layer, "train": train, "held": held}, path)
        results = {m: in_process.run(__file__, m, json.dumps(settings), path) for m in ("neuroblocks", "overcomplete")}
    print(f"{'':13s} {'FVU':>6s} {'L0':>5s} {'alive':>6s} {'top-1 kept':>10s} {'KL':>7s} {'train s':>8s} {'peak MB':>8s}")
    for m, r in results.items():
        print(f"{m:13s} {r['fvu']:6.3f} {r['l0']:5.1f} {100 * r['alive']:5.0f}% {100 * r['agreement']:9.0f}% {r['kl']:7.4f} {r['seconds']:8.1f} {r['peak_mb']:8.0f}")
    ours, peer = results["neuroblocks"], results["overcomplete"]
    print(f"ratios (overcomplete / neuroblocks): FVU {peer['fvu'] / ours['fvu']:.2f}, training time {peer['seconds'] / ours['seconds']:.2f}, "
          f"alive {peer['alive'] / max(ours['alive'], 1e-9):.2f}")


if __name__ == "__main__":
    main()
