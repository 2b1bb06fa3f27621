"""The planted shortcut (`shapes.shortcut`), found with graphs and edited out, against the oracle,
DFR and random edits, each given the same 24 labelled scenes (docs/guides/shortcut.md). The numbers
asserted are the ones the guide reports; they do not reach the issue's bar of 90% of the oracle's
worst group, and the guide says so."""

from __future__ import annotations

import statistics

import pytest
import torch

import neuroblocks as nb
from neuroblocks import circuits
from neuroblocks.shapes import shortcut


@pytest.fixture(scope="module")
def world():
    session = nb.Session(shortcut.pretrained(), labels=list(shortcut.CLASSES), input_size=shortcut.SIZE)
    return session, shortcut.balanced(6), shortcut.scenes(2000, agreement=0.5, start=shortcut.TEST_SEED), shortcut.scenes(512).inputs()


def logits_under(session, edit):
    def classify(x):
        with edit(session):
            return session.forward(x).logits
    return classify


def test_scenes_are_drawn_as_asked_and_balanced_sets_hold_every_group():
    train = shortcut.scenes(400)
    agree = float((train.classes == train.backgrounds).float().mean())
    assert 0.9 < agree < 0.99, agree
    labelled = shortcut.balanced(6)
    assert len(labelled) == 24 and torch.bincount(labelled.groups).tolist() == [6, 6, 6, 6]
    with pytest.raises(ValueError, match="probability"):
        shortcut.scenes(3, agreement=1.5)


def test_the_shortcut_is_found_with_graphs_and_edited_out_against_oracle_dfr_and_random(world):
    session, labelled, test, unlabelled = world
    model = shortcut.accuracy(lambda x: session.forward(x).logits, test)
    oracle = shortcut.accuracy(shortcut.pretrained(oracle=True), test)
    assert model.worst < 0.05 and model.mean > 0.7, f"the tint misleads the model on one group: {model}"
    assert oracle.worst > 0.85, oracle

    with torch.no_grad():
        predicted = session.forward(labelled.inputs()).logits.argmax(1)
    wrong = torch.nonzero(predicted != labelled.classes).flatten().tolist()
    assert len(wrong) >= 3, "some of the labelled scenes are misclassified"
    graphs = [nb.graph(session, labelled.image(i), (int(predicted[i]), int(labelled.classes[i])), layers=["conv3", "conv4"]) for i in wrong]
    assert min(g.faithfulness.correlation for g in graphs) > 0.7, [g.faithfulness.correlation for g in graphs]

    edit = circuits.shared_edit(session, graphs, "conv4", unlabelled)
    raised, shared = set(edit.picks), circuits.shared_units(graphs, "conv4")
    assert raised < set(shared) and set(circuits.shared_units(graphs, "conv4", raised=False)) == set(shared) - raised
    on_test = lambda e: shortcut.accuracy(shortcut.recalibrated(logits_under(session, e), labelled), test)  # noqa: E731
    edited = on_test(edit)
    threshold_only = shortcut.accuracy(shortcut.recalibrated(lambda x: session.forward(x).logits, labelled), test)
    means = circuits.unit_means(session, edit.units, unlabelled)
    signless = on_test(circuits.Edit("conv4", edit.units, shared, means[shared].tolist()))
    random = []
    for seed in range(5):
        picks = torch.randperm(edit.units.count, generator=torch.Generator().manual_seed(seed))[: len(edit.picks)].tolist()
        shuffled = circuits.Edit("conv4", edit.units, picks, means[picks].tolist())
        random.append(on_test(shuffled).worst)
    dfr = shortcut.accuracy(shortcut.dfr(lambda x: session.forward(x, capture=["conv4"], stop=True).activations["conv4"].mean((2, 3)), labelled), test)
    print(f"\nmodel {model}; oracle {oracle}; threshold refit {threshold_only}; graph edit ({len(edit.picks)} units) {edited}; all {len(shared)} shared units held {signless}; "
          f"random edits worst {[round(r, 3) for r in random]}; DFR {dfr}")
    assert edited.worst > max(random) + 0.1 and edited.worst > threshold_only.worst + 0.1, "the graphs' units matter, not the refit threshold nor any units"
    assert edited.worst > signless.worst + 0.1, "holding the units that carried the right class's evidence too costs the worst group"
    assert edited.worst > 10 * model.worst
    assert dfr.worst > edited.worst, "DFR, retraining the head on the same 24 scenes, does better: the guide says so"
