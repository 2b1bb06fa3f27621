"""No view blocks the kernel: a view checks its arguments at once, computes in the session's work
queue with progress, its content arriving in order of use, the view looked at last first; and
`wait()` gives the same complete state as computing it directly. On a model that sleeps in its
forward, so the background work is long enough to watch."""

from __future__ import annotations

import re
import threading
import time

import numpy as np
import pytest
import torch
from torch import nn

import neuroblocks as nb
from neuroblocks import attribution
from neuroblocks.errors import UnknownClassError, UnknownLayerError
from neuroblocks.widgets.payload import unpack

CLASSES = 50


class Sleepy(nn.Module):
    """A small CNN (conv1 8×32×32, conv2 16×16×16, 50 classes) that sleeps `delay` s in every forward."""

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.conv1, self.conv2 = nn.Conv2d(3, 8, 3, padding=1), nn.Conv2d(8, 16, 3, stride=2, padding=1)
        self.fc = nn.Linear(16, CLASSES)
        self.delay = 0.0

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        time.sleep(self.delay)
        h = torch.relu(self.conv2(torch.relu(self.conv1(x))))
        return self.fc(h.mean((2, 3)))


@pytest.fixture
def sleepy():
    model = Sleepy()
    session = nb.Session(model, labels=[f"class {i}" for i in range(CLASSES)], input_size=32)
    torch.manual_seed(1)
    image = torch.rand(3, 32, 32)
    session.layers  # the probe passes, before the model is slowed down
    session.trace(image)
    model.delay = 0.25
    return session, image


class Arrivals:
    """The order in which traits of views changed, and every busy line shown."""

    def __init__(self) -> None:
        self.order: list[tuple[str, str]] = []
        self.busy: list[str] = []
        self._lock = threading.Lock()

    def watch(self, view: nb.widgets.View, name: str, traits: list[str]) -> None:
        def seen(change) -> None:
            with self._lock:
                if change["name"] == "busy":
                    self.busy.append(change["new"])
                elif change["new"]:
                    self.order.append((name, change["name"]))

        view.observe(seen, names=[*traits, "busy"])


def test_construction_returns_before_the_heavy_pass_and_parts_arrive_in_order_of_use(sleepy):
    session, image = sleepy
    started = time.monotonic()
    view = nb.SpatialAttribution(session, image, "conv1", "conv2", classes=[3, 7], icon_steps=0)
    built = time.monotonic() - started
    arrivals = Arrivals()
    arrivals.watch(view, "spatial", ["lower_maps", "flow", "lower_legend", "legend_note"])
    assert built < 0.25, f"construction took {built:.2f} s: it ran the model (one forward sleeps 0.25 s)"
    assert view.busy and not view.lower_maps, "the view is displayable at once, saying it is computing"
    view.wait(timeout=120)
    done = time.monotonic() - started
    assert done > 1.0, "the heavy passes did run (each sleeps 0.25 s)"
    parts = [trait for _, trait in arrivals.order]
    assert parts.index("lower_maps") < parts.index("flow") < parts.index("lower_legend")
    # The legend came twice: first ranked among the chosen and top predicted classes, then among all.
    assert parts.count("lower_legend") == 2 and view.legend_note == ""
    assert any("all 50 classes" in line for line in arrivals.busy)
    counts = [line for line in arrivals.busy if re.search(r"layer-to-layer flow conv1 → conv2 \d+/256$", line)]
    assert len(counts) >= 2, f"the flow reports its progress, batch by batch: {arrivals.busy}"
    assert view.busy == "" and view.error == ""


def test_wait_gives_the_complete_state_equal_to_the_direct_computation(sleepy):
    session, image = sleepy
    session.model.delay = 0.0
    view = nb.SpatialAttribution(session, image, "conv1", "conv2", classes=[3, 7], icon_steps=0).wait()
    for which, layer in (("lower", "conv1"), ("upper", "conv2")):
        maps = torch.stack([attribution.spatial(session, image, layer, c) for c in (3, 7)])
        np.testing.assert_allclose(unpack(getattr(view, f"{which}_maps")), maps.numpy(), rtol=1e-5, atol=1e-7)
        top = attribution.to_classes(session, image, layer).topk(5, dim=1)
        np.testing.assert_array_equal(unpack(getattr(view, f"{which}_legend")["index"]), top.indices.numpy())
        np.testing.assert_allclose(unpack(getattr(view, f"{which}_legend")["value"]), top.values.numpy(), rtol=1e-4, atol=1e-7)
    flow = attribution.layer_to_layer(session, image, "conv1", "conv2")
    np.testing.assert_allclose(unpack(view.flow), flow.numpy(), rtol=1e-4, atol=1e-7)


def test_export_after_wait_equals_a_view_computed_alone(sleepy, tmp_path):
    """The same page whether the view computed alone, or among others that took turns in the
    queue and with a recompute cancelled half-way."""
    session, image = sleepy
    session.model.delay = 0.0
    alone = nb.SpatialAttribution(session, image, "conv1", "conv2", classes=[3, 7], icon_steps=0).wait()
    session.model.delay = 0.05
    crowded = nb.SpatialAttribution(session, image, "conv1", "conv2", classes=[3, 8], icon_steps=0)
    others = [nb.ChannelAttribution(session, image, "conv2", icon_steps=0), nb.SemanticDictionary(session, image, "conv1", icon_steps=0)]
    time.sleep(0.3)
    crowded.classes = [3, 7]  # the first computation is cancelled; the second one's result is the view's
    nb.work.queue(session).touch(others[0])
    crowded.wait(timeout=120)
    for other in others:
        other.wait(timeout=120)
    pages = [nb.to_html(tmp_path / f"{name}.html", view).read_text() for name, view in (("alone", alone), ("crowded", crowded))]
    ids = re.compile(r"[0-9a-f]{32}")
    assert ids.sub("id", pages[0]) == ids.sub("id", pages[1])


def test_the_view_looked_at_last_goes_first(sleepy):
    session, image = sleepy
    arrivals = Arrivals()
    first = nb.SpatialAttribution(session, image, "conv1", "conv2", classes=[3, 7], icon_steps=0)
    arrivals.watch(first, "first", ["lower_maps", "flow", "lower_legend"])
    time.sleep(0.1)  # its first step is under way
    second = nb.ChannelAttribution(session, image, "conv2", icon_steps=0)
    arrivals.watch(second, "second", ["values", "channel_classes"])
    second.wait(timeout=120)
    assert arrivals.order[0] == ("first", "lower_maps"), "a step under way finishes"
    assert ("first", "flow") not in arrivals.order, "the newer view's parts all came before the older view's next"
    first._message(first, {"action": "look"}, [])  # the pointer enters the first view again
    third = nb.SemanticDictionary(session, image, "conv1", icon_steps=0)
    nb.work.queue(session).touch(first)
    first.wait(timeout=120)
    assert not third.acts, "the view looked at goes before a newer one"
    third.wait(timeout=120)
    assert third.acts


def test_errors_raise_at_construction_without_waiting_for_the_model(sleepy):
    session, image = sleepy
    session.model.delay = 5.0
    started = time.monotonic()
    with pytest.raises(UnknownClassError):
        nb.SpatialAttribution(session, image, "conv1", "conv2", classes=[3, "no such class"])
    with pytest.raises(UnknownLayerError, match="conv1"):
        nb.SpatialAttribution(session, image, "conv_1", "conv2", classes=[3, 7])
    with pytest.raises(nb.NeuroblocksError, match="no positions"):
        nb.ChannelAttribution(session, image, "fc", target=3)
    with pytest.raises(nb.AttributionError, match="cannot be the higher layer"):
        nb.SpatialAttribution(session, image, "conv2", "conv1", classes=[3, 7])
    assert time.monotonic() - started < 2.0, "no forward pass was needed to refuse them"


def test_an_error_in_the_background_shows_in_the_view_and_the_queue_goes_on(sleepy):
    session, image = sleepy
    session.model.delay = 0.0
    view = nb.ChannelAttribution(session, image, "conv1", target=3, icon_steps=0)
    broken = nb.NeuronGroups(session, image, "conv2", 40, icon_steps=0)  # more groups than conv2's 16 channels
    broken.wait(timeout=60)
    view.wait(timeout=60)
    assert broken.error and not broken.busy
    assert view.error == "" and view.values and view.channel_classes


def test_recompute_cancels_the_step_under_way(sleepy):
    session, image = sleepy
    view = nb.SpatialAttribution(session, image, "conv1", "conv2", classes=[3, 7], icon_steps=0)
    _until(lambda: "flow" in view.busy)
    view.classes = [1, 2]
    started = time.monotonic()
    view.wait(timeout=120)
    assert view.classes == [1, 2] and view.error == ""
    session.model.delay = 0.0
    np.testing.assert_allclose(unpack(view.lower_maps)[0], attribution.spatial(session, image, "conv1", 1).numpy(), rtol=1e-5, atol=1e-7)
    assert nb.work.queue(session).pending() == 0
    assert time.monotonic() - started < 60


def test_an_items_memory_is_measured_and_the_batch_follows_the_budget(sleepy):
    session, image = sleepy
    session.model.delay = 0.0
    from neuroblocks.attribution import budget

    a = torch.rand(4, 5, 6)
    weight = torch.rand(4, 5, 6, requires_grad=True)
    # A few copies of an item's largest tensor (x repeated 10 times); what a pass allocates once
    # whatever its size (a copy of the weight, 100 times x's size) is not counted per item.
    repeat = lambda n: a.expand(n, *a.shape).repeat(1, 10, 1, 1).sum() + weight.detach().repeat(100, 1, 1).sum()  # noqa: E731
    assert budget.item_bytes(repeat) == budget.COPIES * 10 * a.nbytes
    # Reverse mode: that, plus what backward keeps (exp keeps its output); the weights are not counted.
    kept = lambda n: (torch.exp(a.expand(n, *a.shape).clone().requires_grad_()) * weight).sum()  # noqa: E731
    assert budget.item_bytes(kept) == budget.COPIES * a.nbytes + a.nbytes
    assert budget.batch_for(repeat, 100, 3 * budget.item_bytes(repeat)) == 3
    assert budget.batch_for(repeat, 2, 10**12) == 2 and budget.batch_for(repeat, 100, 10**12) == budget.MOST

    full = attribution.to_classes(session, image, "conv1", mode="forward")
    nb.attribution.configure(session, memory_budget=1)  # one tangent per pass
    np.testing.assert_allclose(attribution.to_classes(session, image, "conv1", mode="forward"), full, rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(attribution.to_classes(session, image, "conv1", mode="reverse"), full, rtol=1e-4, atol=1e-6)
    some = attribution.to_classes(session, image, "conv1", classes=[7, 3])
    np.testing.assert_allclose(some, full[:, [7, 3]], rtol=1e-4, atol=1e-6)


def _until(condition, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)
