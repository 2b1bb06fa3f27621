"""Models whose modules or whose forward return structures rather than one tensor (docs/guides/transformers.md, as
Hugging Face models and attention blocks do): a layer is its structure's tensor, replacing it
keeps the rest of the structure, and the logits come from the output's `logits` (or a function
given to the Session). Checked against the gradient taken by hand on the same model."""

from __future__ import annotations

from collections import namedtuple

import pytest
import torch
from torch import nn

import neuroblocks as nb
from neuroblocks import attribution as attr

Pair = namedtuple("Pair", ["features", "gate"])


class Block(nn.Module):
    """A conv block returning (features, a gate the next block reads), as a named tuple."""

    def __init__(self, c_in: int, c_out: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(c_in, c_out, 3, padding=1)

    def forward(self, x):
        y = torch.relu(self.conv(x))
        return Pair(y, torch.sigmoid(y.mean((2, 3), keepdim=True)))


class Net(nn.Module):
    """Blocks with structured outputs, and a forward that returns a dict with the logits second."""

    def __init__(self) -> None:
        super().__init__()
        self.block1, self.block2 = Block(3, 8), Block(8, 16)
        self.head = nn.Linear(16, 5)

    def forward(self, x):
        features, gate = self.block1(x)
        out = self.block2(features * gate)
        return {"pooled": out.features.mean((2, 3)), "logits": self.head(out.features.mean((2, 3)) * out.gate.flatten(1))}


@pytest.fixture(scope="module")
def session():
    torch.manual_seed(0)
    return nb.Session(Net().eval(), input_size=16)


def test_a_structured_layer_is_its_tensor_and_the_logits_come_from_the_output(session):
    assert {"block1", "block2"} <= set(session.layers) and session.layer_shape("block1") == (8, 16, 16)
    image = torch.rand(3, 16, 16, generator=torch.Generator().manual_seed(1))
    x = session.image(image)[None]
    with torch.no_grad():
        torch.testing.assert_close(session.trace(image).logits, session.model(x)["logits"][0])
        torch.testing.assert_close(session.trace(image, "block1")["block1"], torch.relu(session.model.block1.conv(x))[0])
    assert len(session.predict(image, top=5)) == 5


def layer_gradient_x_activation(session, image, target: int) -> torch.Tensor:
    """The reference, by hand: block1's features made a leaf by a hook (its gate left as the
    module computed it), activation × the gradient of the target logit."""
    kept = {}

    def hook(module, inputs, output):
        kept["features"] = output.features.detach().requires_grad_()
        return Pair(kept["features"], output.gate)

    handle = session.model.block1.register_forward_hook(hook)
    try:
        logit = session.model(session.image(image)[None])["logits"][0, target]
    finally:
        handle.remove()
    (gradient,) = torch.autograd.grad(logit, kept["features"])
    return (kept["features"] * gradient)[0].detach()


def test_attribution_through_a_structured_layer_equals_the_gradient_by_hand(session):
    image = torch.rand(3, 16, 16, generator=torch.Generator().manual_seed(2))
    for target in (0, 3):
        torch.testing.assert_close(attr.neuron(session, image, "block1", target), layer_gradient_x_activation(session, image, target), rtol=1e-5, atol=1e-9)
    every = attr.to_classes(session, image, "block1", "channels")  # forward mode through the replaced layer
    reference = torch.stack([layer_gradient_x_activation(session, image, c).sum((1, 2)) for c in range(5)], 1)
    torch.testing.assert_close(every, reference, rtol=1e-4, atol=1e-9)


def test_ablating_a_structured_layer_keeps_the_rest_of_its_structure(session):
    image = torch.rand(3, 16, 16, generator=torch.Generator().manual_seed(3))
    before = session.trace(image).logits
    with nb.ablate(session, "block2", list(range(16))) as ablation:
        changed = session.trace(image).logits
        assert ablation.change(image).abs().max() > 0
    bias = session.model.head.bias.detach()
    torch.testing.assert_close(changed, bias)  # every feature off: only the head's bias is left
    torch.testing.assert_close(session.trace(image).logits, before)


def test_a_model_whose_output_holds_no_logits_says_what_to_pass():
    class Boxed(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv2d(3, 4, 3)

        def forward(self, x):
            return object()

    with pytest.raises(nb.NeuroblocksError, match=r"logits=fn"):
        nb.Session(Boxed(), input_size=8).layers

    class Reversed(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv2d(3, 4, 3)

        def forward(self, x):
            y = self.conv(x).mean((2, 3))
            return y[:, :1], y  # (an auxiliary output, the logits)

    session = nb.Session(Reversed(), input_size=8, logits=lambda out: out[1])
    assert len(session.labels) == 4 and session.trace(torch.rand(3, 8, 8)).logits.shape == (4,)
