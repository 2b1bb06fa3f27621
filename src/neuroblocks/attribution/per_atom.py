"""The attribution of each atom kind (neuron, position, channel, group, prefix token), to one target,
to every class at once, and from layer to layer: the functions `neuroblocks.attribution` names."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import torch

from .. import precision
from ..errors import AttributionError
from ..images import ImageLike
from ..keywords import checked
from ..session import Session
from . import atoms as _atoms
from . import tokens
from .gradient import above_fn, activations_and_gradient, gradients_on
from .integrated import integrated_gradient
from .jacobian import attribution_matrix
from .targets import TargetLike, check_order

if TYPE_CHECKING:
    from ..dictionary import Dictionary


@checked
@gradients_on
def neuron(
    session: Session, image: ImageLike, layer: str, target: TargetLike, *, relax: bool = False, smoothing: bool = False, rule: str | None = None
) -> torch.Tensor:
    """Attribution of every neuron: activation × gradient, shaped like the layer (C, H, W)."""
    a, g = activations_and_gradient(session, image, layer, target, relax=relax, smoothing=smoothing, rule=rule)
    return a * g


@checked
@gradients_on
def prefix_tokens(session: Session, image: ImageLike, layer: str, target: TargetLike, *, relax: bool = False, rule: str | None = None) -> torch.Tensor:
    """Attribution of every neuron of a token layer's prefix tokens, (P, C): `.sum(1)` gives each
    token's, to show beside `spatial`'s patch grid. (0, C) for a layer without prefix tokens."""
    a, g = activations_and_gradient(session, image, layer, target, relax=relax, all_tokens=True, rule=rule)
    return tokens.prefix(a * g, session.layout(layer))


@checked
@gradients_on
def spatial(
    session: Session,
    image: ImageLike,
    layer: str,
    target: TargetLike,
    *,
    relax: bool = False,
    smoothing: bool = False,
    prefix: bool = False,
    rule: str | None = None,
) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
    """Attribution of every position, summed over channels: (H, W). With `prefix=True`, also
    each prefix token's, from the same gradient pass: ((H, W), (P,)), P = 0 for a grid layer."""
    _atoms.Positions(session.layer_shape(layer), layer)  # refuses layers without positions, before any work
    if not prefix:
        return neuron(session, image, layer, target, relax=relax, smoothing=smoothing, rule=rule).sum(0)
    a, g = activations_and_gradient(session, image, layer, target, relax=relax, smoothing=smoothing, all_tokens=True, rule=rule)
    layout = session.layout(layer)
    return tokens.patches(a * g, layout).sum(0), tokens.prefix(a * g, layout).sum(1)


@checked
@gradients_on
def channel(
    session: Session,
    image: ImageLike,
    layer: str,
    target: TargetLike,
    *,
    relax: bool = False,
    smoothing: bool = False,
    steps: int | None = None,
    baseline: ImageLike | None = None,
    rule: str | None = None,
) -> torch.Tensor:
    """Attribution of every channel, summed over positions (a token layer's prefix tokens too): (C,).

    `steps` integrates the gradient along the path from zero activations (or from `baseline`
    image's activations) instead of taking it at the activations.
    """
    if steps is None:
        a, g = activations_and_gradient(session, image, layer, target, relax=relax, smoothing=smoothing, all_tokens=True, rule=rule)
    else:
        a, g = integrated_gradient(session, image, layer, target, steps, baseline=baseline, relax=relax, rule=rule)
    return (a * g).flatten(1).sum(1) if a.dim() > 1 else a * g


@checked
@gradients_on
def group(
    session: Session,
    image: ImageLike,
    layer: str,
    target: TargetLike,
    spatial_factors: torch.Tensor,
    channel_factors: torch.Tensor,
    *,
    relax: bool = False,
    rule: str | None = None,
) -> torch.Tensor:
    """Attribution of each group (spatial factor (k, H, W) × channel direction (k, C)): (k,)."""
    _, g = activations_and_gradient(session, image, layer, target, relax=relax, rule=rule)
    return _atoms.groups(spatial_factors.to(g), channel_factors.to(g)).reduce(None, g[None])[0]


@checked
@gradients_on
def latent(
    session: Session, image: ImageLike, dictionary: Dictionary, target: TargetLike, *, spatial: bool = False, relax: bool = False, rule: str | None = None
) -> torch.Tensor:
    """Attribution of every latent of a trained dictionary of a grid layer: d(target)/dz · z, the
    gradient's inner product with the latent's part of the activations (code × atom), (M,);
    with `spatial=True` at each position, (M, H, W), whose sum over positions is the former."""
    a, g = activations_and_gradient(session, image, dictionary.layer, target, relax=relax, rule=rule)
    if a.dim() != 3:
        raise AttributionError(f"a dictionary's latents are atoms of a grid layer; {dictionary.layer!r} gives {tuple(a.shape)}")
    codes = dictionary.codes(a.float()).to(a)
    maps = torch.einsum("chw,mc,mhw->mhw", g, dictionary.atoms.to(a), codes)
    return maps if spatial else maps.flatten(1).sum(1)


def _position_norms(h: torch.Tensor) -> torch.Tensor:
    return h.norm(dim=1).flatten(1)


def _channel_sums(h: torch.Tensor) -> torch.Tensor:
    return h.flatten(2).sum(2)


def _directions(directions: torch.Tensor, a: torch.Tensor, layer: str) -> _atoms.Directions:
    if directions.dim() != 2 or a.dim() != 3 or directions.shape[1] != a.shape[0]:
        raise AttributionError(
            f"directions are (K, C) vectors in the channel space of a layer with positions; got {tuple(directions.shape)} for {layer!r} of shape {tuple(a.shape)}"
        )
    return _atoms.projections(a, directions)


def _some(kind, a: torch.Tensor, only: Sequence[int] | None):
    """All atoms of a kind, or just the listed ones (as given tangents: one forward pass each)."""
    if only is None:
        return kind
    picks = torch.as_tensor(list(only), dtype=torch.long, device=a.device)
    if len(picks) and (picks.min() < 0 or picks.max() >= kind.count):
        raise AttributionError(f"atoms {list(only)} are outside 0..{kind.count - 1}")
    return _atoms.Directions(kind.tangents(a, picks))


@checked
@gradients_on
def layer_to_layer(
    session: Session,
    image: ImageLike,
    lower: str,
    higher: str,
    atoms: str = "positions",
    *,
    only: Sequence[int] | None = None,
    latents: object = None,
    relax: bool = False,
    mode: str = "auto",
    batch: int | None = None,
    rule: str | None = None,
) -> torch.Tensor:
    """(higher atoms, lower atoms): row i is what fed higher atom i, column j what lower atom j feeds.

    A higher position is measured by the L2 norm of its activation vector, a higher channel by
    its summed activation (docs/explanations/attribution.md), and with `latents=` (a trained dictionary of `higher`) the
    higher atoms are its latents, each measured by its code summed over positions. `atoms` may
    also be a trained dictionary of `lower`: its latents are then the lower atoms (what each
    latent's part of the activations feeds), and the higher atoms channels. `only` keeps
    just those lower atoms (columns), in that order.
    A token layer's positions are its patches, row-major, then its prefix tokens.
    """
    lower, higher, image = session.check_layer(lower), session.check_layer(higher), session.read(image)
    check_order(session, lower, higher)
    from_latents = hasattr(atoms, "atom_kind")
    if from_latents and atoms.layer != lower:
        raise AttributionError(f"atoms= takes a dictionary of the lower layer {lower!r}, not of {atoms.layer!r}")
    named = "channels" if from_latents else atoms
    measure = {"positions": _position_norms, "channels": _channel_sums}.get(named)
    if measure is None:
        raise AttributionError(f"atoms are 'positions', 'channels' or a dictionary of {lower!r}, not {atoms!r}")
    a, above = tokens.activations(session, image, lower), tokens.activations(session, image, higher)
    n_higher = _atoms.of_kind(named, tuple(above.shape), higher).count
    if latents is not None:
        if getattr(latents, "layer", None) != higher:
            raise AttributionError(f"latents= takes a dictionary of the higher layer {higher!r}, not of {getattr(latents, 'layer', latents)!r}")
        measure, n_higher = latents.summed_codes, latents.latents
    lower_atoms = _some(_kind(atoms, a, lower), a, only)
    f = above_fn(session.above(image, lower), relax, lambda p: measure(tokens.of_pass(p.activations, p.prefixes, higher)), (higher,), rule)
    key = (id(session.model), lower, higher, getattr(atoms, "key", atoms), getattr(latents, "key", None), relax, rule or session.attribution_rule)
    with precision.applied(session.attribution_precision):
        return attribution_matrix(f, a, lower_atoms, n_higher, mode=mode, batch=batch, budget=session.memory_budget, key=key, lock=session.lock)


def _kind(atoms: object, a: torch.Tensor, layer: str):
    """Atoms named ("positions", "channels"), directions (K, C), or a trained dictionary's latents."""
    if isinstance(atoms, torch.Tensor):
        return _directions(atoms, a, layer)
    if hasattr(atoms, "atom_kind"):
        if a.dim() != 3:
            raise AttributionError(f"a dictionary's latents are atoms of a grid layer; {layer!r} gives {tuple(a.shape)}")
        return atoms.atom_kind(a)
    return _atoms.of_kind(atoms, tuple(a.shape), layer)


@checked
@gradients_on
def to_classes(
    session: Session,
    image: ImageLike,
    layer: str,
    atoms: object = "positions",
    *,
    only: Sequence[int] | None = None,
    classes: Sequence[int] | None = None,
    relax: bool = False,
    mode: str = "auto",
    batch: int | None = None,
    rule: str | None = None,
) -> torch.Tensor:
    """(atoms, classes): each atom's attribution to every logit, from one batched JVP per atom
    or one VJP per class, whichever is fewer; only the network above the layer runs. `atoms`
    are "positions", "channels", directions (K, C) in channel space (each atom the
    activations' projection on one, e.g. a neuron group's direction), or a trained dictionary
    (each latent's code map times its atom: d(logit)/dz · z). `only` keeps just those
    atoms (rows), `classes` just those logits (columns), in the order given: a view's legend
    first ranks the classes the model predicts. A token layer's positions are its patches,
    row-major, then its prefix tokens. `batch`: tangents per pass (default: as many as fit the
    session's `memory_budget`)."""
    image = session.read(image)
    a = tokens.activations(session, image, layer)
    kind = _some(_kind(atoms, a, layer), a, only)
    picks = None if classes is None else torch.as_tensor([session.class_index(c) for c in classes], dtype=torch.long)
    f = above_fn(session.above(image, layer), relax, lambda p: p.logits if picks is None else p.logits[:, picks.to(p.logits.device)], (), rule)
    n = len(session.labels) if picks is None else len(picks)
    key = (id(session.model), layer, "logits", relax, rule or session.attribution_rule)
    with precision.applied(session.attribution_precision):
        return attribution_matrix(f, a, kind, n, mode=mode, batch=batch, budget=session.memory_budget, key=key, lock=session.lock).T
