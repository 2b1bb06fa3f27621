"""Attribution graphs over units, checked against independent computations: their edges against
`layer_to_layer` and finite differences, their nodes' attributions summing to the layer's,
interventions against ablation and a scaled forward pass, influence against a hand-computed chain,
and a circuit planted by hand, found first in the planted model and not in random copies."""

from __future__ import annotations

import copy
import numpy as np
import pytest
import torch
from torch import nn

import neuroblocks as nb
from neuroblocks import attribution, circuits, shapes
from neuroblocks.circuits import GraphError


@pytest.fixture(scope="module")
def session():
    return nb.Session.load("shapes")


@pytest.fixture(scope="module")
def scene():
    return shapes.scene(3, classes=("striped circle", "dotted square"))


@pytest.fixture(scope="module")
def built(session, scene):
    return nb.graph(session, scene.image, "striped circle", layers=["conv2", "conv3", "conv4"])


def unit_rows(g, layer):
    return [i for i, n in enumerate(g.nodes) if n.layer == layer and n.kind == "unit"]


def test_influence_of_a_hand_computed_graph_and_its_pruning():
    # input → a (edge 2), input → b (edge 1); a → target (3), b → target (−1): |rows| normalised
    # give target ← a 0.75, b 0.25; a ← input 1, b ← input 1. So influence: a 0.75, b 0.25, input 1.
    a = torch.zeros(4, 4, dtype=torch.float64)
    a[1, 0], a[2, 0], a[3, 1], a[3, 2] = 2.0, 1.0, 3.0, -1.0
    assert circuits.influence(a, 3).tolist() == pytest.approx([1.0, 0.75, 0.25, 0.0])
    sources = torch.tensor([True, False, False, False])
    kept, edges = circuits.prune(a, 3, sources, node_share=0.5, edge_share=1.0, always=sources)
    assert kept.tolist() == [True, True, False, True], "b carries too little influence to be kept; a does, the input always"
    assert edges.nonzero().tolist() == [[1, 0], [3, 1]]
    with pytest.raises(ValueError, match="shares in"):
        circuits.prune(a, 3, sources, node_share=0.0, edge_share=0.9)


def test_edges_between_units_are_layer_to_layer_and_edges_into_the_target_are_attribution(session, scene, built):
    g = built
    for lower, higher in [("conv2", "conv3"), ("conv3", "conv4")]:
        lo, hi = unit_rows(g, lower), unit_rows(g, higher)
        reference = attribution.layer_to_layer(session, scene.image, lower, higher, "channels")
        expected = reference[[g.nodes[i].unit for i in hi]][:, [g.nodes[i].unit for i in lo]]
        assert torch.allclose(g.adjacency[hi][:, lo].float(), expected, atol=1e-4 * float(expected.abs().max()))
    top = unit_rows(g, "conv4")
    channel = attribution.channel(session, scene.image, "conv4", "striped circle")
    assert torch.allclose(g.adjacency[g.target_index, top].float(), channel[[g.nodes[i].unit for i in top]], atol=1e-5)


def test_a_layers_nodes_carry_all_of_its_attribution_and_other_units_are_one_node(session, scene, built):
    for layer in built.layers:
        total = float(attribution.channel(session, scene.image, layer, "striped circle").sum())
        carried = sum(n.attribution for n in built.nodes if n.layer == layer)
        assert carried == pytest.approx(total, rel=1e-4, abs=1e-4)
        assert sum(n.kind == "other" for n in built.nodes if n.layer == layer) == (session.layer_shape(layer)[0] > 64)
    assert not [n for n in built.nodes if n.kind == "error"], "channels reconstruct their layer exactly: no error node"


def test_input_edges_are_gradient_times_input_as_finite_differences_give_them(session, scene):
    g = nb.graph(session, scene.image, "striped circle", layers=["conv1", "conv2"], checks=0)
    first = unit_rows(g, "conv1")
    x = session.model_input(session.read(scene.image).pixels[None])
    picks = [g.nodes[i].unit for i in first]

    conv1 = copy.deepcopy(session.model.conv1).double()  # straight from the module, no hook of the library; in float64

    def summed(scale: float) -> torch.Tensor:
        with torch.no_grad():
            return conv1(x.double() * scale)[:, picks].sum((0, 2, 3))

    eps = 1e-6
    fd = (summed(1 + eps) - summed(1 - eps)) / (2 * eps)  # d/dt of each unit's summed code at x·(1 + t): Σ x·∂/∂x
    assert torch.allclose(g.adjacency[first, 0], fd, rtol=1e-4, atol=1e-3)


def test_switching_a_node_off_is_ablation_and_scaling_it_is_the_scaled_forward_pass(session, scene, built):
    g = built
    node = g.kept_nodes("unit")[0]
    n = g.nodes[node]
    predicted, actual = g.intervene(node, 0.0)
    with nb.ablate(session, n.layer, [n.unit]) as off:
        change = off.change(scene.image)
    assert actual == pytest.approx(float(change[session.class_index("striped circle")]), abs=1e-5)
    assert predicted == pytest.approx(-n.attribution)

    module = dict(session.model.named_modules())[n.layer]
    hook = module.register_forward_hook(lambda m, i, out: out * torch.tensor([2.0 if c == n.unit else 1.0 for c in range(out.shape[1])])[None, :, None, None])
    x = session.model_input(session.read(scene.image).pixels[None])
    with torch.no_grad():
        doubled = session.model(x)[0]
    hook.remove()
    with torch.no_grad():
        plain = session.model(x)[0]
    c = session.class_index("striped circle")
    assert g.intervene(node, 2.0)[1] == pytest.approx(float(doubled[c] - plain[c]), abs=1e-5)
    with pytest.raises(GraphError, match="only unit nodes"):
        g.intervene(0)
    with pytest.raises(GraphError, match="there is no node"):
        g.intervene(len(g.nodes))


def test_the_graph_predicts_what_switching_its_top_units_off_does(session):
    correlations = []
    for seed in range(3):
        s = shapes.scene(seed, classes=2)
        g = nb.graph(session, s.image, s.labels[0], layers=["conv2", "conv3", "conv4"], checks=10)
        correlations.append(g.faithfulness.correlation)
        assert len(g.faithfulness.nodes) == 10 and "rank correlation" in g.faithfulness.verdict
    assert np.mean(correlations) >= 0.6, correlations
    assert g.error_share == 0 and 0 < g.other_share < 0.5, "channels leave no error; units left out carry some influence"
    assert all(0.4 < v <= 1 for v in g.explained.values()), g.explained


def test_units_of_a_basis_give_an_error_node_and_their_edges_are_layer_to_layer(session, scene):
    directions = nb.units.Directions("conv3", torch.randn(12, 64, generator=torch.Generator().manual_seed(0)))
    g = nb.graph(session, scene.image, "striped circle", layers=["conv3", "conv4"], units=[directions], checks=0)
    assert [n.kind for n in g.nodes if n.layer == "conv3"][-1] == "error", "12 directions do not span 64 channels"
    lo, hi = unit_rows(g, "conv3"), unit_rows(g, "conv4")
    reference = attribution.layer_to_layer(session, scene.image, "conv3", "conv4", directions)
    expected = reference[[g.nodes[i].unit for i in hi]][:, [g.nodes[i].unit for i in lo]]
    assert torch.allclose(g.adjacency[hi][:, lo].float(), expected, atol=1e-4 * float(expected.abs().max()))
    total = float(attribution.channel(session, scene.image, "conv3", "striped circle").sum())
    assert sum(n.attribution for n in g.nodes if n.layer == "conv3") == pytest.approx(total, rel=1e-4)


def test_graphs_refuse_what_they_cannot_be_built_for(session, scene):
    with pytest.raises(TypeError, match="node_shares"):
        nb.graph(session, scene.image, node_shares=0.5)
    with pytest.raises(nb.AttributionError, match="function of the logits"):
        nb.graph(session, scene.image, lambda logits: logits[:, 0])
    with pytest.raises(GraphError, match="add 'conv2' to layers="):
        nb.graph(session, scene.image, layers=["conv3", "conv4"], units=nb.units.Directions("conv2", torch.randn(3, 32)))
    with pytest.raises(nb.AttributionError, match="swap them"):
        nb.graph(session, scene.image, layers=["conv4", "conv3"])
    with pytest.raises(GraphError, match="per_layer"):
        nb.graph(session, scene.image, per_layer=0)


class Planted(nn.Module):
    """A circuit set by hand: `detect` has a red detector (0) and a brightness detector (1) among
    distractors, `conj` a unit (0) that fires only where both do, and class 0 reads only it."""

    def __init__(self, planted: bool = True, seed: int = 0) -> None:
        super().__init__()
        torch.manual_seed(seed)
        self.detect = nn.Sequential(nn.Conv2d(3, 8, 1), nn.ReLU())
        self.conj = nn.Sequential(nn.Conv2d(8, 6, 1), nn.ReLU())
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.head = nn.Linear(6, 3)
        if planted:
            with torch.no_grad():
                d, c = self.detect[0], self.conj[0]
                d.weight.mul_(0.2)
                d.bias.mul_(0.2)
                d.weight[0, :, 0, 0], d.bias[0] = torch.tensor([1.0, -0.5, -0.5]), -0.1  # red
                d.weight[1, :, 0, 0], d.bias[1] = torch.tensor([1 / 3, 1 / 3, 1 / 3]), -0.6  # bright
                c.weight.mul_(0.2)
                c.weight[0].zero_()
                c.weight[0, :2, 0, 0], c.bias[0] = torch.tensor([2.0, 2.0]), -0.5  # red AND bright
                c.weight[:, :2].mul_(torch.tensor([1.0] + [0.0] * 5)[:, None, None, None])  # only unit 0 reads them
                self.head.weight.zero_()
                self.head.bias.zero_()
                self.head.weight[0, 0] = 4.0
                self.head.weight[1:, 1:] = 0.3 * torch.randn(2, 5)

    def forward(self, x):
        return self.head(self.pool(self.conj(self.detect(x))).flatten(1))


def planted_image() -> np.ndarray:
    image = np.full((32, 32, 3), 0.5, dtype=np.float32)
    image[8:24, 8:24] = [1.0, 0.7, 0.7]  # a bright red square on grey: red and bright both 0.2 there, both 0 on the grey
    return image


def found_path(model: nn.Module) -> tuple[list[int], list[int]]:
    """The most influential unit of `conj` and the two of `detect`, from the graph of class 0."""
    session = nb.Session(model, labels=["bright red", "b", "c"])
    g = nb.graph(session, planted_image(), 0, layers=["detect", "conj"], checks=0)
    top = lambda layer, n: [g.nodes[i].unit for i in g.kept_nodes("unit") if g.nodes[i].layer == layer][:n]  # noqa: E731
    return top("conj", 1), sorted(top("detect", 2))


def test_a_planted_circuit_is_found_and_ranked_first_and_not_in_random_copies():
    assert found_path(Planted()) == ([0], [0, 1]), "red and bright feed their conjunction, which alone feeds the class"
    session = nb.Session(Planted(), labels=["bright red", "b", "c"])
    g = nb.graph(session, planted_image(), 0, layers=["detect", "conj"], checks=0)
    path = [i for i in g.kept_nodes("unit") if (g.nodes[i].layer, g.nodes[i].unit) in {("detect", 0), ("detect", 1), ("conj", 0)}]
    assert path == g.kept_nodes("unit")[:3], "the planted path's units are the three most influential"
    assert g.explained["conj"] == pytest.approx(1.0, abs=1e-6)
    for seed in range(3):
        assert found_path(Planted(planted=False, seed=seed)) != ([0], [0, 1]), f"random copy {seed} shows the planted path"
