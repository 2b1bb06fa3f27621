"""How much of the input one position of a layer sees, measured: the side of the square around a
position that holds 90% of the gradient of its activations with respect to the input, averaged
over noise images. A deep layer's theoretical receptive field spans the whole input, but its
effective one is much smaller (Luo et al., "Understanding the Effective Receptive Field in Deep
Convolutional Neural Networks", NeurIPS 2016): exemplar crops cut to it show what the unit saw."""

from __future__ import annotations

import torch

from ..keywords import checked
from ..session import Session

MASS = 0.9


@checked
def receptive_fraction(session: Session, layer: str, images: int = 4, seed: int = 0) -> float:
    """The side of `layer`'s effective receptive field as a fraction of the input's shorter side
    (0 to 1), measured once per session and layer."""
    known = session.state("receptive fields", lambda s: {})
    if layer not in known:
        known[layer] = _measure(session, session.check_layer(layer), images, seed)
    return known[layer]


def _measure(session: Session, layer: str, images: int, seed: int) -> float:
    h, w = session.probe_side()
    g = torch.Generator().manual_seed(seed)
    x = torch.rand(images, session.channels, h, w, generator=g).to(session.device).requires_grad_(True)
    with torch.enable_grad():
        a = session.forward(x, capture=[layer], stop=True).activations[layer].float()
        if a.dim() != 4:
            return 1.0  # a layer without positions sees everything
        cy, cx = a.shape[2] // 2, a.shape[3] // 2
        (grad,) = torch.autograd.grad(a[:, :, cy, cx].abs().sum(), x)
    mass = grad.abs().sum((0, 1))
    ys, xs = torch.meshgrid(torch.arange(h, device=mass.device), torch.arange(w, device=mass.device), indexing="ij")
    centre_y = (mass * ys).sum() / mass.sum().clamp(min=1e-12)
    centre_x = (mass * xs).sum() / mass.sum().clamp(min=1e-12)
    reach = torch.maximum((ys - centre_y).abs(), (xs - centre_x).abs()).flatten()  # square rings around the centre
    order = reach.argsort()
    held = mass.flatten()[order].cumsum(0) / mass.sum().clamp(min=1e-12)
    radius = float(reach[order][int((held < MASS).sum().clamp(max=len(held) - 1))])
    return min(1.0, (2 * radius + 1) / min(h, w))
