"""The activation grid's overview: positions coloured by the first three principal components of
their activation vectors, so positions that the layer sees alike look alike."""

from __future__ import annotations

import numpy as np

from ..errors import NeuroblocksError
from ..images import ImageLike
from ..keywords import checked
from ..session import Session


@checked
def overview_colors(session: Session, image: ImageLike, layer: str) -> np.ndarray:
    """(H, W, 3) float colours in [0, 1]: components 1–3 → R, G, B, each spread over its 1st–99th percentile."""
    from sklearn.decomposition import PCA  # here, not at the top: importing scikit-learn takes 0.5 s that `import neuroblocks` need not pay

    a = session.trace(image, layer, logits=False)[session.check_layer(layer)]
    if a.dim() != 3:
        raise NeuroblocksError(f"layer {layer!r} has no spatial dimensions (shape {tuple(a.shape)})")
    c, h, w = a.shape
    x = a.flatten(1).T.double().cpu().numpy()
    k = min(3, c, h * w)
    scores = PCA(n_components=k, random_state=0).fit_transform(x)
    lo, hi = np.percentile(scores, 1, axis=0), np.percentile(scores, 99, axis=0)
    rgb = np.zeros((h * w, 3))
    rgb[:, :k] = np.clip((scores - lo) / np.maximum(hi - lo, 1e-12), 0, 1)
    return rgb.reshape(h, w, 3)
