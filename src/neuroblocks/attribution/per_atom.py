"""The attribution of each atom kind (neuron, position, channel, group, prefix token), to one target,
to every class at once, and from layer to layer: the functions `neuroblocks.attribution` names."""

from __future__ import annotations

from collections.abc import Sequence

import torch

from .. import precision
from ..errors import AttributionError
from ..images import ImageLike
from ..keywords import checked
from ..units import Units, units_of
from ..session import Session
from . import atoms as _atoms
from . import tokens
from .gradient import above_fn, activations_and_gradient, gradients_on
from .integrated import integrated
from .jacobian import attribution_matrix
from .settings import settings
from .targets import TargetLike, check_order



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
    steps: int | None = None,
    baseline: ImageLike | None = None,
    rule: str | None = None,
) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
    """Attribution of every position, summed over channels: (H, W). With `prefix=True`, also
    each prefix token's, from the same gradient pass: ((H, W), (P,)), P = 0 for a grid layer.

    `steps` integrates the gradient along the path from zero activations (or from `baseline`
    image's activations), so the map sums to the target's change from there (`integrated`
    reports how closely); steadier under noise, and better at deletion, than the plain map
    (docs/explanations/attribution.md)."""
    _atoms.Positions(session.layer_shape(layer), layer)  # refuses layers without positions, before any work
    if steps is None and not prefix:
        _no_baseline(baseline)
        return neuron(session, image, layer, target, relax=relax, smoothing=smoothing, rule=rule).sum(0)
    layout = session.layout(layer)
    if steps is not None:
        path = integrated(session, image, layer, target, steps, baseline=baseline, relax=relax, rule=rule)
        return (path.positions(layout), path.prefix(layout)) if prefix else path.positions(layout)
    product = _product(session, image, layer, target, steps, baseline, relax=relax, smoothing=smoothing, rule=rule)
    return tokens.patches(product, layout).sum(0), tokens.prefix(product, layout).sum(1)


def _no_baseline(baseline: ImageLike | None) -> None:
    if baseline is not None:
        raise AttributionError("baseline= is where the integration path starts: give steps= too (e.g. steps=32)")


def _product(session, image, layer, target, steps, baseline, *, relax, rule, smoothing=False) -> torch.Tensor:
    """Activation × gradient of every neuron, or (with `steps`) delta × integrated gradient,
    a token layer's as one row of every token."""
    if steps is None:
        _no_baseline(baseline)
        a, g = activations_and_gradient(session, image, layer, target, relax=relax, smoothing=smoothing, all_tokens=True, rule=rule)
        return a * g
    return integrated(session, image, layer, target, steps, baseline=baseline, relax=relax, rule=rule).attribution


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
    product = _product(session, image, layer, target, steps, baseline, relax=relax, smoothing=smoothing, rule=rule)
    return product.flatten(1).sum(1) if product.dim() > 1 else product


@checked
@gradients_on
def unit(
    session: Session,
    image: ImageLike,
    units: Units,
    target: TargetLike,
    *,
    spatial: bool = False,
    relax: bool = False,
    steps: int | None = None,
    baseline: ImageLike | None = None,
    rule: str | None = None,
) -> torch.Tensor:
    """Attribution of every unit of a grid layer (its channels, directions, neuron groups or a
    dictionary's latents, `neuroblocks.units`): d(target)/dz · z, the gradient's inner product
    with the unit's part of the activations (code × atom), (K,); with `spatial=True` at each
    position, (K, H, W), whose sum over positions is the former (a token layer's prefix tokens
    count in the sum, not in the maps). `steps` and `baseline` integrate as in `spatial`, for
    units whose codes follow the straight path (channels, directions; not a dictionary's)."""
    if not isinstance(units, Units):
        raise AttributionError(f"units are a `neuroblocks.units.Units` (channels, directions, groups, a dictionary), not {type(units).__name__}")
    layout = session.layout(session.check_layer(units.layer))
    units.check(units.layer, layout.shape)
    if steps is None:
        _no_baseline(baseline)
        a, g = activations_and_gradient(session, image, units.layer, target, relax=relax, all_tokens=True, rule=rule)
        codes = units.codes(a.float()).to(a)
    else:
        if not units.linear:
            raise AttributionError(f"steps= integrates along a straight path in the layer's activations, and the codes of {units.description} do not follow it: leave steps out for these units")
        path = integrated(session, image, units.layer, target, steps, baseline=baseline, relax=relax, rule=rule)
        a, g = tokens.activations(session, image, units.layer), path.gradient
        codes = (units.codes(a.float()) - units.codes((a - path.delta).float())).to(a)
    maps = torch.einsum("chw,kc,khw->khw", g, units.atoms.to(a), codes)
    if not spatial:
        return maps.flatten(1).sum(1)  # a token layer's prefix tokens count, as in `channel`
    _, h, w = layout.shape
    return maps[:, 0, : h * w].reshape(-1, h, w) if layout.tokens else maps


def _position_norms(h: torch.Tensor) -> torch.Tensor:
    return h.norm(dim=1).flatten(1)


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
    units: object = "positions",
    *,
    units_above: Units | None = None,
    only: Sequence[int] | None = None,
    relax: bool = False,
    mode: str = "auto",
    batch: int | None = None,
    rule: str | None = None,
) -> torch.Tensor:
    """(higher units, lower units): row i is what fed higher unit i, column j what lower unit j feeds.

    `units` are the lower layer's: "positions", "channels", or any units of `lower`
    (`neuroblocks.units`: directions, groups, a dictionary's latents). With "positions" a higher
    position is measured by the L2 norm of its activation vector (docs/explanations/attribution.md);
    otherwise the higher units are `units_above` (default: `higher`'s channels), each measured
    by its code summed over positions. `only` keeps just those lower units (columns), in that
    order. A token layer's positions are its patches, row-major, then its prefix tokens.
    """
    lower, higher, image = session.check_layer(lower), session.check_layer(higher), session.read(image)
    check_order(session, lower, higher)
    below = session.above(image, lower)  # first: its pass caches the lower activations
    a, above = tokens.activations(session, image, lower), tokens.activations(session, image, higher)
    lower_atoms = _some(_atoms.of_units(units, a, lower), a, only)
    if units == "positions" and units_above is None:
        measure, n_higher = _position_norms, _atoms.Positions(tuple(above.shape), higher).count
    else:
        measured = units_of(higher, tuple(above.shape), units_above)
        measure, n_higher = measured.summed, measured.count
    f = above_fn(below, relax, lambda p: measure(tokens.of_pass(p.activations, p.prefixes, higher)), (higher,), rule)
    key = (id(session.model), lower, higher, _units_key(units), _units_key(units_above), relax, rule or settings(session).rule)
    with precision.applied(settings(session).precision):
        return attribution_matrix(f, a, lower_atoms, n_higher, mode=mode, batch=batch, budget=settings(session).memory_budget, key=key, lock=session.lock)


def _units_key(units: object) -> object:
    """What names a `units=` keyword in the cache of measured batch sizes."""
    return units.icon_key if isinstance(units, Units) else units if isinstance(units, str) or units is None else "directions"


@checked
@gradients_on
def to_classes(
    session: Session,
    image: ImageLike,
    layer: str,
    units: object = "positions",
    *,
    only: Sequence[int] | None = None,
    classes: Sequence[int] | None = None,
    relax: bool = False,
    mode: str = "auto",
    batch: int | None = None,
    rule: str | None = None,
) -> torch.Tensor:
    """(atoms, classes): each atom's attribution to every logit, from one batched JVP per atom
    or one VJP per class, whichever is fewer; only the network above the layer runs. `units`
    are "positions", "channels", or any units of the layer (`neuroblocks.units`: directions
    (K, C) in channel space, each the activations' projection on one; neuron groups; a trained
    dictionary's latents), each unit's part being its code map times its atom, so its
    attribution is d(logit)/dz · z. `only` keeps just those atoms (rows), `classes` just those logits (columns), in the order given: a view's legend
    first ranks the classes the model predicts. A token layer's positions are its patches,
    row-major, then its prefix tokens. `batch`: tangents per pass (default: as many as fit the
    session's `memory_budget`, `configure`)."""
    image = session.read(image)
    above = session.above(image, layer)  # first: its pass caches the activations read next
    a = tokens.activations(session, image, layer)
    kind = _some(_atoms.of_units(units, a, layer), a, only)
    picks = None if classes is None else torch.as_tensor([session.class_index(c) for c in classes], dtype=torch.long)
    f = above_fn(above, relax, lambda p: p.logits if picks is None else p.logits[:, picks.to(p.logits.device)], (), rule)
    n = len(session.labels) if picks is None else len(picks)
    key = (id(session.model), layer, "logits", relax, rule or settings(session).rule)
    with precision.applied(settings(session).precision):
        return attribution_matrix(f, a, kind, n, mode=mode, batch=batch, budget=settings(session).memory_budget, key=key, lock=session.lock).T
