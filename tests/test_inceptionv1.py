"""Lucid's InceptionV1 (the article's network) against Lucent's PyTorch port, given one random
state dict in the published file's layout: every mixed layer and the logits agree; and the
weights' loading and its errors, offline."""

from __future__ import annotations

import pytest
import torch
from lucent.modelzoo.inceptionv1.InceptionV1 import InceptionV1 as LucentInceptionV1

import neuroblocks as nb
from neuroblocks import inceptionv1

MIXED = ["mixed3a", "mixed3b", "mixed4a", "mixed4b", "mixed4c", "mixed4d", "mixed4e", "mixed5a", "mixed5b"]


@pytest.fixture(scope="module")
def lucent_file(tmp_path_factory):
    """Lucent's module, randomly initialised, and its state dict saved as inception5h.pth would be."""
    torch.manual_seed(0)
    lucent = LucentInceptionV1(redirected_ReLU=False).eval()
    for p in lucent.parameters():  # a scale at which ReLUs cut both ways all the way up
        p.data.mul_(4.0 if p.dim() > 1 else 1.0)
    path = tmp_path_factory.mktemp("inception") / "inception5h.pth"
    torch.save(lucent.state_dict(), path)
    return lucent, path


def test_every_mixed_layer_and_the_logits_equal_lucents(lucent_file):
    lucent, path = lucent_file
    session = nb.Session.load("inceptionv1", weights=path)
    lucent.to(session.device)
    images = torch.rand(2, 3, 224, 224, generator=torch.Generator().manual_seed(1)).to(session.device)
    theirs = {}
    hooks = [getattr(lucent, name).register_forward_hook(lambda m, i, o, name=name: theirs.__setitem__(name, o)) for name in [*MIXED, "softmax2_pre_activation_matmul"]]
    try:
        with torch.no_grad():
            lucent(inceptionv1.lucid_input(images))
            ours = session.forward(images, capture=MIXED)
    finally:
        for h in hooks:
            h.remove()
    worst = 0.0
    for name in MIXED:
        assert session.layer_shape(name) == tuple(theirs[name].shape[1:])
        error = float((ours.activations[name] - theirs[name]).abs().max() / theirs[name].abs().max())
        assert theirs[name].abs().max() > 0 and error <= 1e-5, (name, error)
        worst = max(worst, error)
    logits = float((ours.logits - theirs["softmax2_pre_activation_matmul"]).abs().max() / theirs["softmax2_pre_activation_matmul"].abs().max())
    assert logits <= 1e-5
    print(f"\nlargest relative difference from Lucent: mixed layers {worst:.1e}, logits {logits:.1e}")


def test_the_articles_layers_and_shapes():
    torch.manual_seed(0)
    session = nb.Session.load("inceptionv1", weights="random")
    assert session.layer_shape("mixed4d") == (528, 14, 14) and session.layer_shape("mixed5b") == (1024, 7, 7)
    assert len(session.labels) == 1008 and session.layers.index("mixed3a") < session.layers.index("mixed5b")
    assert {session.sign(layer) for layer in MIXED} == {"non-negative"}
    assert set(session.suggested_layers()) <= {"conv2d2", "localresponsenorm1", "maxpool1", "mixed3b", "maxpool4", "mixed4e", "maxpool10", "mixed5b"}


def test_weights_errors_say_what_to_do(offline, tmp_path):
    with pytest.raises(nb.WeightsUnavailableError, match="inception5h.pth") as info:
        nb.Session.load("inceptionv1")
    assert "weights='/path/to/inception5h.pth'" in str(info.value) and "fallback=" in str(info.value)
    torch.save({"conv.weight": torch.zeros(1)}, tmp_path / "other.pth")
    with pytest.raises(nb.WeightsUnavailableError, match="does not hold Lucid's InceptionV1"):
        nb.Session.load("inceptionv1", weights=tmp_path / "other.pth")


def test_the_graphs_labels_are_read_from_beside_the_weights(lucent_file, tmp_path):
    _, path = lucent_file
    (tmp_path / "inception5h.pth").write_bytes(path.read_bytes())
    (tmp_path / inceptionv1.LABELS_FILE).write_text("\n".join(["dummy", *(f"label {i}" for i in range(1, 1008))]) + "\n")
    session = nb.Session.load("inceptionv1", weights=tmp_path / "inception5h.pth")
    assert session.labels[0] == "dummy" and session.class_index("label 7") == 7
