"""The planted shortcut's edits over several draws of the 24 labelled scenes, not only the
notebook's: how much of what `notebooks/shortcut.ipynb` reports is the method and how much the
draw (docs/guides/shortcut.md).

    .venv/bin/python benchmarks/shortcut.py [--draws 6] [--test 2000]

Each draw is 6 scenes of each class × background group from its own seeds (draw 0 is the
notebook's). Per draw, on independent test scenes, worst group / mean accuracy of:
- refit: the decision threshold refitted on the 24 scenes alone;
- graph edit: `circuits.shared_edit` over the graphs of the misclassified scenes (conv3, conv4),
  the shared units that raised *chosen − true* held at their means, threshold refitted;
- sign-less: every shared unit held so, those that lowered the target too;
- random: as many random conv4 channels as the graph edit holds, held at their means, 5 draws (worst groups);
- direction: no graph; one conv4 direction from the 24 scenes alone, the mean of each
  misclassified scene's pooled code minus its class's correctly classified ones (signed by
  the class chosen), held at its mean over the unlabelled scenes, threshold refitted;
- DFR: last-layer retraining on pooled conv4 (Kirichenko et al. 2022).
Once, as a ceiling for one-direction edits: the warm − cool mean difference of pooled conv4 over
1,000 background-labelled scenes, held the same way.
"""

from __future__ import annotations

import argparse

import torch

import neuroblocks as nb
from neuroblocks import circuits
from neuroblocks.shapes import shortcut
from neuroblocks.units import Directions

LAYER = "conv4"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--draws", type=int, default=6)
    parser.add_argument("--test", type=int, default=2000)
    args = parser.parse_args()
    torch.set_num_threads(2)
    session = nb.Session(shortcut.pretrained(), labels=list(shortcut.CLASSES), input_size=shortcut.SIZE)
    test = shortcut.scenes(args.test, agreement=0.5, start=shortcut.TEST_SEED)
    unlabelled = shortcut.scenes(512).inputs()
    model = lambda x: session.forward(x).logits  # noqa: E731
    codes = lambda x: session.forward(x, capture=[LAYER], stop=True).activations[LAYER]  # noqa: E731
    pooled = lambda x: codes(x).mean((2, 3))  # noqa: E731
    with torch.no_grad():
        held = codes(unlabelled)

    def under(edit):
        def classify(x):
            with edit(session):
                return session.forward(x).logits

        return classify

    def along(direction: torch.Tensor) -> circuits.Edit:
        d = direction / direction.norm()
        return circuits.Edit(LAYER, Directions(LAYER, d[None]), [0], [float(torch.einsum("nchw,c->nhw", held, d).mean())])

    oracle = shortcut.accuracy(shortcut.pretrained(oracle=True), test)
    print(f"model  {shortcut.accuracy(model, test)}\noracle {oracle}; 90% of its worst group: {0.9 * oracle.worst:.1%}")
    backgrounds = shortcut.scenes(1000, agreement=0.5, start=shortcut.EDIT_SEED + 50_000)
    with torch.no_grad():
        v = pooled(backgrounds.inputs())
    tint = v[backgrounds.backgrounds == 0].mean(0) - v[backgrounds.backgrounds == 1].mean(0)
    print(f"ceiling: the tint direction from 1,000 background labels, held at its mean: {shortcut.accuracy(shortcut.recalibrated(under(along(tint)), shortcut.balanced(6)), test)}")
    print(f"{'draw':>4} {'wrong':>5} {'refit':>11} {'graph edit':>16} {'sign-less':>16} {'random (5)':>30} {'direction':>11} {'DFR':>11}")
    found: dict[str, list[float]] = {}
    cell = lambda a: f"{a.worst:5.1%}/{a.mean:4.0%}"  # noqa: E731
    for draw in range(args.draws):
        labelled = shortcut.balanced(6, start=shortcut.EDIT_SEED + 100_000 * draw)
        with torch.no_grad():
            predicted, v = model(labelled.inputs()).argmax(1), pooled(labelled.inputs())
        wrong = torch.nonzero(predicted != labelled.classes).flatten().tolist()
        graphs = [nb.graph(session, labelled.image(i), (int(predicted[i]), int(labelled.classes[i])), layers=["conv3", LAYER]) for i in wrong]
        edit = circuits.shared_edit(session, graphs, LAYER, unlabelled)
        means = circuits.unit_means(session, edit.units, unlabelled)
        shared = circuits.shared_units(graphs, LAYER)
        randoms = [circuits.Edit(LAYER, edit.units, p, means[p].tolist()) for p in (torch.randperm(edit.units.count, generator=torch.Generator().manual_seed(s))[: len(edit.picks)].tolist() for s in range(5))]
        right = lambda k: [j for j in range(len(labelled)) if j not in wrong and int(labelled.classes[j]) == k]  # noqa: E731
        direction = torch.stack([(v[i] - v[right(int(labelled.classes[i]))].mean(0)) * (1 if int(predicted[i]) == 1 else -1) for i in wrong]).mean(0)
        edited = lambda e: shortcut.accuracy(shortcut.recalibrated(under(e), labelled), test)  # noqa: E731
        tried = [edited(r) for r in randoms]
        row = {
            "refit": shortcut.accuracy(shortcut.recalibrated(model, labelled), test),
            "graph edit": edited(edit),
            "sign-less": edited(circuits.Edit(LAYER, edit.units, shared, means[shared].tolist())),
            "random": max(tried, key=lambda a: a.worst),
            "direction": edited(along(direction)),
            "DFR": shortcut.accuracy(shortcut.dfr(pooled, labelled), test),
        }
        random = " ".join(f"{a.worst:.1%}" for a in tried)
        for name, a in row.items():
            found.setdefault(name, []).append(a.worst)
        print(
            f"{draw:>4} {len(wrong):>5} {cell(row['refit'])} {cell(row['graph edit'])} ({len(edit.picks):>2}) {cell(row['sign-less'])} ({len(shared):>2}) "
            f"{random:>30} {cell(row['direction'])} {cell(row['DFR'])}",
            flush=True,
        )
    print("mean worst group over the draws: " + ", ".join(f"{name} {sum(v) / len(v):.1%}" for name, v in found.items()) + " (random: the best of its 5 draws)")


if __name__ == "__main__":
    main()
