"""Matrix factorization with scikit-learn: NMF, PCA or FastICA, deterministic.

Every method returns spatial factors (positions × k), components (k × columns) and the relative
reconstruction error ‖X − fit‖ / ‖X‖ of the matrix it was given.
"""

from __future__ import annotations

import warnings

import numpy as np

from ..errors import NeuroblocksError

METHODS = ("nmf", "pca", "ica")


def factorise(x: np.ndarray, k: int, method: str, *, seed: int = 0, max_iter: int = 1000) -> tuple[np.ndarray, np.ndarray, float, bool]:
    """(spatial (n × k), components (k × d), relative error, converged) for X (n × d)."""
    from sklearn.decomposition import NMF, PCA, FastICA  # here, not at the top: importing scikit-learn takes 0.5 s that `import neuroblocks` need not pay
    from sklearn.exceptions import ConvergenceWarning

    n, d = x.shape
    if not 1 <= k <= min(n, d):
        raise NeuroblocksError(f"cannot make {k} groups from {n} positions × {d} channels: ask for 1 to {min(n, d)}")
    scale = float(np.abs(x).max()) or 1.0
    x = x / scale  # solver tolerances assume values near 1; randomly initialised nets give 1e-9
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ConvergenceWarning)
        if method == "nmf":
            model = NMF(n_components=k, init="nndsvda", random_state=seed, max_iter=max_iter)
            spatial = model.fit_transform(x)
            fit = spatial @ model.components_
        elif method == "pca":
            model = PCA(n_components=k, random_state=seed)
            spatial = model.fit_transform(x)
            fit = spatial @ model.components_ + model.mean_
        elif method == "ica":
            model = FastICA(n_components=k, random_state=seed, max_iter=max_iter, whiten="unit-variance")
            spatial = model.fit_transform(x)
            fit = model.inverse_transform(spatial)
        else:
            raise NeuroblocksError(f"method is one of {', '.join(METHODS)}, not {method!r}")
    converged = not any(issubclass(w.category, ConvergenceWarning) for w in caught)
    error = float(np.linalg.norm(x - fit) / max(np.linalg.norm(x), 1e-30))
    components = model.mixing_.T if method == "ica" else model.components_
    return spatial * scale, components, error, converged
