"""The faithfulness readout an attribution view shows beside its maps: deletion curves
(`neuroblocks.faithfulness`) as one small plot and one number per curve, computed in the view's
background work after the maps."""

from __future__ import annotations

import torch

from ..faithfulness import Deletion
from .payload import array


def readout(found: list[Deletion], labels: list[str]) -> dict:
    """The `faithfulness` trait of a view: per curve its label, the probability it starts from,
    the map's curve and the random orders' mean, the area between them, whether it beats the
    random orders' spread, and whether the start left anything to judge."""
    return {
        "what": found[0].what,
        "fractions": array(found[0].fractions),
        "curves": array(torch.stack([d.curve for d in found])),
        "random": array(torch.stack([d.random.mean(0) for d in found])),
        "starts": [round(d.start, 4) for d in found],
        "areas": [round(d.area, 4) for d in found],
        "spreads": [round(d.spread, 4) for d in found],
        "beats": [d.beats_random for d in found],
        "judged": [d.judged for d in found],
        "labels": labels,
    }
