"""Neuron groups of one layer: factorise what the user prioritises, then give every group an
activation-space direction and its attribution to every class."""

from __future__ import annotations

from ..attribution.targets import TargetLike, resolve
from ..images import ImageLike
from ..keywords import checked
from ..session import Session
from .groups import Groups, activation_directions, build_groups
from .methods import factorise
from .sources import Prioritize, as_matrix, source_cube


@checked
def factorize(
    session: Session,
    image: ImageLike,
    layer: str,
    n_groups: int = 6,
    *,
    method: str = "nmf",
    prioritize: Prioritize = "activations",
    target: TargetLike | None = None,
    seed: int = 0,
) -> Groups:
    """Factorise `layer`'s activation cube for `image` into `n_groups` groups.

    prioritize: "activations" (what the network detects), "gradients" (what would change its
    behaviour), "attributions" (what caused it), or a mapping of these to weights. target: the
    class (or pair, or function) gradients and attributions are taken for; default the top class.
    NMF takes signed data (activations before a ReLU, a transformer's residual stream) as its
    positive and negative parts side by side, and says so in `Groups.split_signs` (docs/guides/transformers.md).
    """
    layer = session.check_layer(layer)
    if target is not None:
        resolve(session, target, layer)  # unknown classes fail here, before any work
    a, cube = source_cube(session, image, layer, prioritize, target)
    x, split = as_matrix(cube)
    if method != "nmf" and split:  # PCA and ICA take signed data as it is
        x, split = cube.flatten(1).T, False
    spatial, components, error, converged = factorise(x.double().cpu().numpy(), n_groups, method, seed=seed)
    if prioritize == "activations" and not split:
        directions = components
    else:
        # Signed activations (a layer before its ReLU, a transformer's residual stream) keep
        # signed directions; NMF saw their positive and negative parts as separate columns.
        directions = activation_directions(a.flatten(1).T.double().cpu().numpy(), spatial, nonnegative=method == "nmf" and a.min() >= 0)
    return build_groups(
        session, image, layer, a, spatial, directions, error=error, converged=converged, method=method, prioritize=prioritize, split_signs=split
    )
