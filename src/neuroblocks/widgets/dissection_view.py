"""DissectionView: a layer's units with the concept each matches (network dissection), its IoU, its
icon and the dataset images that excite it most; hovering a unit shows where it fires on them.
Given a random-direction baseline, the view says how the units compare with it (docs/guides/faithfulness.md)."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import torch
import traitlets

from ..dissection import Dissection
from ..dissection import Examples
from ..errors import NeuroblocksError
from ..featurevis import objectives
from ..session import Session
from .base import Part, View
from .payload import array, png
from .traits import Array


def example_strips(examples: Examples, units: list[int]) -> tuple[list[bytes], dict]:
    """Per unit, its dataset examples side by side as one PNG, and the unit's map over each
    (units, k, 64, 64) uint8 scaled by its top score: what the browser overlays on hover."""
    strips = [png(np.concatenate(list(examples.crops[u].numpy()), axis=1)) for u in units]
    return strips, array((examples.maps[units] * 255).round().to(torch.uint8), "uint8")


class DissectionView(View):
    """The `units` best-matching units of `result` (from `neuroblocks.dissection.dissect`), with
    their dataset `examples` (from `dataset_examples` on the same layer) and, optionally, a
    `baseline` dissection of random directions."""

    kind = traitlets.Unicode("dissection").tag(sync=True)
    rows = traitlets.List().tag(sync=True)  # [{unit, label, concept, iou}], best first
    summary = traitlets.Unicode("").tag(sync=True)
    strips = traitlets.List().tag(sync=True)  # per row: PNG of its examples side by side
    maps = Array("uint8", 4, help="(rows, k, 64, 64): the unit's activation over each example")
    cutoffs = Array("float32", 1, help="(rows,): each unit's threshold on that scale")
    inputs = ()

    def __init__(self, session: Session, result: Dissection, examples: Examples, *, units: int = 12, baseline: Dissection | None = None, **options) -> None:
        if examples.layer != result.layer or examples.scores.shape[0] != result.iou.shape[0]:
            raise NeuroblocksError(f"the examples ({examples.layer}, {examples.scores.shape[0]} units) are not of the dissected layer ({result.layer}, {result.iou.shape[0]} units)")
        self.result, self.examples, self.baseline, self.units = result, examples, baseline, units
        super().__init__(session, layer=result.layer, **options)

    def _compute(self) -> Iterator[Part]:
        r, ex = self.result, self.examples
        best, index = r.best
        order = best.argsort(descending=True)[: self.units].tolist()
        labels = r.labels
        rows = [{"unit": u, "label": labels[u] or "", "concept": r.concepts[int(index[u])], "iou": round(float(best[u]), 4)} for u in order]
        strips, maps = example_strips(ex, order)
        cutoffs = (r.thresholds[order] / ex.scores[order, 0].clamp(min=1e-12)).clamp(0, 1)
        counts = {f: len(us) for f, us in r.families().items()}
        summary = f"{r.images} images · units labelled (IoU ≥ {r.min_iou}): " + ", ".join(f"{f} {n}" for f, n in sorted(counts.items()))
        summary += f" · mean best IoU {r.mean_best_iou():.3f}"
        if self.baseline is not None:
            summary += f" (random directions: {self.baseline.mean_best_iou():.3f})"
        values = {"rows": rows, "summary": summary, "strips": strips, "maps": maps, "cutoffs": array(cutoffs)}
        yield values, [(f"{r.layer}:{u}", objectives.channel(r.layer, u)) for u in order]
