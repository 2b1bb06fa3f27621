"""One rule for what a unit is called, in every view: a label only where evidence supports it,
with the evidence in numbers beside it, else "no clear label".

Naming a unit after the class it supports most names one on every unit, most of them near
random: on a photo of a tabby cat, a trained MobileNetV2's four neuron groups at
`features.14.conv.0` each support some thousand classes about equally, and their single best
ones were "vizsla", "accordion", "croquet ball" and "washbasin", each under 1% of its positive
support and fewer than 3 standard deviations above its support for the average class. The
evidence, strongest first:

1. dissection: a concept whose masks the unit matches with IoU ≥ 0.04 (the threshold of Bau et
   al., "Network Dissection", CVPR 2017);
2. exemplars: the model puts at least 60% of the unit's top dataset crops in one class, and at
   least twice that class's share of all the crops looked at (a dataset of cats would otherwise
   label every unit "cat");
3. class support: the unit's attribution to a class stands out from its attribution to all the
   model's classes by ≥ 4 standard deviations (the largest of 1,000 normal draws is about 3.2);
   with few classes, where none can stand that far out ((n − 1)/√n at most), by three quarters
   of the most it could. Every class that does is named, best first. These are the only classes
   a view lists as a unit's "top" ones.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

import torch

NO_LABEL = "no clear label"
MIN_IOU = 0.04
MIN_AGREEMENT = 0.6
STANDOUT = 4.0
NAMED = 3  # classes named at most in a class-support label


@dataclass(frozen=True)
class UnitLabel:
    """text: what a view writes (a label, or "no clear label"); source: "dissection",
    "exemplars", "class support" or ""; evidence: the numbers behind it, each saying what it is;
    classes: the class indices the unit supports strongly (rule 3), best first."""

    text: str
    source: str
    evidence: str
    classes: tuple[int, ...] = ()

    def as_dict(self) -> dict:
        return {"text": self.text, "source": self.source, "evidence": self.evidence, "classes": list(self.classes)}


def needed_standout(classes: int) -> float:
    """How far a class must stand out of `classes` classes' support for a label."""
    return min(STANDOUT, 0.75 * (classes - 1) / classes**0.5)


def standout(support: torch.Tensor) -> torch.Tensor:
    """How far each class's support stands above the unit's support for the average class, in
    standard deviations (classes,)."""
    support = support.float()
    return (support - support.mean()) / support.std().clamp(min=1e-12)


def label_unit(
    names: Sequence[str],
    support: torch.Tensor | None = None,
    *,
    concept: str | None = None,
    iou: float | None = None,
    exemplar_classes: Sequence[int] = (),
    base_rate: dict[int, float] | None = None,
    min_iou: float = MIN_IOU,
) -> UnitLabel:
    """The label of one unit from what is known of it: `support` (classes,) its attribution to
    each class; `concept` and `iou` its best dissection match; `exemplar_classes` the model's
    class for each of its top dataset crops, and `base_rate` each class's share of all crops
    looked at (default: none, so only the 60% agreement counts); `min_iou` a dissection's own threshold."""
    said: list[str] = []
    strong: tuple[int, ...] = ()
    best = None
    if support is not None and support.numel() > 1:
        z, needed = standout(support), needed_standout(support.numel())
        order = support.float().argsort(descending=True)
        strong = tuple(int(c) for c in order[:NAMED] if z[c] >= needed and support[c] > 0)
        top = int(order[0])
        said.append(f"class support: {names[top]} {float(support[top]):+.2f}, {float(z[top]):.1f} s.d. above its average class (a label needs {needed:.2g})")
        if strong:
            best = best or UnitLabel(", ".join(names[c] for c in strong), "class support", "", strong)
    if exemplar_classes:
        counts = Counter(int(c) for c in exemplar_classes)
        c, n = counts.most_common(1)[0]
        share = n / len(exemplar_classes)
        floor = max(MIN_AGREEMENT, 2 * (base_rate or {}).get(c, 0.0))
        bar = f"a label needs {floor:.0%}" if floor <= 1 else f"{names[c]} is {(base_rate or {})[c]:.0%} of all crops looked at, so it names nothing"
        said.insert(0, f"exemplars: {n} of {len(exemplar_classes)} top crops are {names[c]} to the model ({bar})")
        if share >= floor:
            best = UnitLabel(names[c], "exemplars", "", strong)
    if concept is not None and iou is not None:
        said.insert(0, f"dissection: {concept}, IoU {iou:.3f} (a label needs {min_iou:g})")
        if iou >= min_iou:
            best = UnitLabel(concept, "dissection", "", strong)
    evidence = "; ".join(said) if said else "nothing known of it yet"
    if best is None:
        return UnitLabel(NO_LABEL, "", evidence, strong)
    return UnitLabel(best.text, best.source, evidence, strong)


def base_rates(classes_per_unit: Sequence[Sequence[int]]) -> dict[int, float]:
    """Each class's share of all the crops looked at, from every unit's exemplar classes."""
    counts = Counter(int(c) for unit in classes_per_unit for c in unit)
    total = max(1, sum(counts.values()))
    return {c: n / total for c, n in counts.items()}
