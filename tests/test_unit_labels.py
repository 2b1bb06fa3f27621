"""The one labelling rule (`unit_labels`) on cases where the answer is known by construction:
dissection first, then exemplars above their base rate, then classes that stand out of the
model's classes; otherwise "no clear label", with the numbers said either way."""

from __future__ import annotations

import torch

from neuroblocks.unit_labels import NO_LABEL, base_rates, label_unit, needed_standout

NAMES = [f"class {i}" for i in range(1000)]


def flat_support(seed: int = 0) -> torch.Tensor:
    return torch.randn(1000, generator=torch.Generator().manual_seed(seed))


def test_a_unit_supporting_every_class_alike_gets_no_label_and_says_why():
    label = label_unit(NAMES, flat_support())
    assert (label.text, label.source, label.classes) == (NO_LABEL, "", ())
    top = int(flat_support().argmax())
    assert f"class support: class {top} " in label.evidence and "a label needs 4" in label.evidence


def test_classes_that_stand_out_name_the_unit_best_first():
    support = flat_support()
    support[7], support[9] = 9.0, 8.0  # two related classes far above the rest
    label = label_unit(NAMES, support)
    assert (label.text, label.source, label.classes) == ("class 7, class 9", "class support", (7, 9))
    support[7] = -9.0  # standing out below is not support
    assert label_unit(NAMES, support).classes == (9,)


def test_with_few_classes_the_bar_is_what_few_classes_allow():
    assert needed_standout(1000) == 4.0 and round(needed_standout(12), 2) == 2.38
    support = torch.tensor([0.0] * 11 + [5.0])
    assert label_unit(NAMES[:12], support).text == "class 11"


def test_exemplars_name_a_unit_only_above_their_base_rate_and_dissection_comes_first():
    support = flat_support()
    crops = [3, 3, 3, 5]
    assert label_unit(NAMES, support, exemplar_classes=crops).text == "class 3"
    common = base_rates([[3, 3, 3, 3], [3, 3, 5, 5], [3, 1, 2, 3]])  # class 3 is 8 of 12 crops overall
    assert round(common[3], 3) == 0.667
    crowded = label_unit(NAMES, support, exemplar_classes=crops, base_rate=common)
    assert crowded.text == NO_LABEL and "class 3 is 67% of all crops looked at, so it names nothing" in crowded.evidence, "a class that fills the dataset names nothing"
    assert "a label needs 100%" in label_unit(NAMES, support, exemplar_classes=crops, base_rate={3: 0.5}).evidence
    dissected = label_unit(NAMES, support, exemplar_classes=crops, concept="texture:dots", iou=0.05)
    assert (dissected.text, dissected.source) == ("texture:dots", "dissection")
    assert dissected.evidence.startswith("dissection: texture:dots, IoU 0.050 (a label needs 0.04); exemplars: 3 of 4")
    weak = label_unit(NAMES, support, concept="texture:dots", iou=0.03)
    assert weak.text == NO_LABEL and label_unit(NAMES, support, concept="texture:dots", iou=0.03, min_iou=0.02).source == "dissection"


def test_a_unit_with_nothing_known_says_so():
    label = label_unit(NAMES)
    assert (label.text, label.evidence) == (NO_LABEL, "nothing known of it yet")
