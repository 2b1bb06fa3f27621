"""What a view shows beside each unit it lists: its natural exemplars (`dissection.exemplars`)
and its label by the one rule every view uses (`unit_labels`), keyed as the view keys its icons."""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import torch

from ..dissection.exemplars import exemplar_labels, exemplars, known, shaded
from ..session import Session
from ..unit_labels import label_unit
from ..units import Units
from .payload import png


def exemplar_values(session: Session, units: Units, indices: Sequence[int], keys: Sequence[str], names: Sequence[str] | None = None) -> dict:
    """{"exemplars": {key: {png, title}}} for the listed units (`names`: what each title calls
    them, default "<noun> <u>"), or {} when the session knows no dataset."""
    found = exemplars(session, units)
    if found is None:
        return {}
    strips = {}
    for i, (u, key) in enumerate(zip(indices, keys)):
        scores = ", ".join(f"{float(v):.2f}" for v in found.scores[u])
        name = names[i] if names is not None else f"{units.noun} {u}"
        strips[key] = {
            "png": png(shaded(found.crops[u], found.maps[u])),
            "title": f"{name}: its top {found.scores.shape[1]} dataset crops, cut to its receptive field, darker where it fires less (peak activations {scores})",
        }
    return {"exemplars": strips}


def meaning(
    session: Session, units: Units, indices: Sequence[int], keys: Sequence[str], *, support: torch.Tensor | None = None, labels: bool = False,
    names: Sequence[str] | None = None,
) -> Iterator[dict | str]:
    """The listed units' exemplars and, with `labels`, their labels (`support`: (len(indices),
    classes) their attribution to every class; `names`: what titles call them): step labels and
    trait values for `_compute`."""
    values: dict = {}
    if known(session):
        yield f"dataset exemplars of {len(indices)} {units.noun}s of {units.layer}"
        values = exemplar_values(session, units, indices, keys, names)
    if labels:
        found = exemplars(session, units) if values else None
        if found is not None:
            named = exemplar_labels(session, found, list(indices), support)
        else:
            named = [label_unit(session.labels, None if support is None else support[i]) for i in range(len(indices))]
        values["unit_labels"] = {key: label.as_dict() for key, label in zip(keys, named)}
    if values:
        yield values
