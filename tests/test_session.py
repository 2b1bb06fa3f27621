"""The Session over real models: layers, traces, truncated and replaced passes, caching, threads."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
import torch
from torch import nn

import neuroblocks as nb
from neuroblocks import shapes

# Per model: (a block-level layer, inner layers whose output an in-place ReLU or a residual add
# touches afterwards, a convolution at the bottom of the network, expected shapes).
CASES = {
    "shapes_session": ("conv3", ["conv2.1", "conv4.0"], "conv1.0", {"conv3": (64, 16, 16), "classmap": (12, 8, 8)}),
    "googlenet": ("inception4d", ["inception4d.branch2.1", "inception3a.branch1.bn"], "conv1.conv", {"inception4d": (528, 14, 14), "inception3b": (480, 28, 28)}),
    "resnet18": ("layer3", ["layer3.0.conv2", "layer2.1.bn1", "layer3.0.bn2"], "layer1.0.conv1", {"layer3": (256, 14, 14), "layer4": (512, 7, 7)}),
}


def _image(seed: int = 0) -> torch.Tensor:
    return torch.rand(3, 240, 300, generator=torch.Generator().manual_seed(seed))


def _case(request):
    return CASES[request.node.callspec.params["any_session"]]


def _count_calls(module: nn.Module) -> list[int]:
    calls = [0]

    def hook(*_):
        calls[0] += 1

    return calls, module.register_forward_hook(hook)


def _hooks_left(session: nb.Session) -> list[str]:
    return [
        name
        for name, m in session.model.named_modules()
        if m._forward_hooks or m._forward_pre_hooks or "forward" in m.__dict__
    ]


def test_layers_are_listed_with_their_shapes(any_session, request):
    _, _, bottom, expected = _case(request)
    layers = any_session.layers
    assert layers[0].split(".")[0] == "conv1", "the first module to output comes first"
    assert layers.index("conv1") > max((layers.index(n) for n in layers if n.startswith("conv1.")), default=-1), "a block follows its own parts"
    for layer, shape in expected.items():
        assert layer in layers and any_session.layer_shape(layer) == shape
    assert layers.index(bottom) < layers.index(next(iter(expected))), "listed in execution order"


def test_trace_gives_chw_activations_and_unchanged_logits(any_session, request):
    block, inner, _, expected = _case(request)
    image = _image()
    trace = any_session.trace(image, [block, *inner])
    for layer in [block, *inner]:
        assert tuple(trace[layer].shape) == any_session.layer_shape(layer)
    with torch.no_grad():
        direct = any_session.model(any_session.model_input(any_session.image(image)[None]))[0]
    assert torch.equal(trace.logits, direct), "hooks must not change the model's output"
    assert _hooks_left(any_session) == []


def test_truncated_pass_stops_at_the_deepest_layer_with_identical_numbers(any_session, request):
    block, inner, _, _ = _case(request)
    x = any_session.image(_image(1))[None]
    last = dict(any_session.model.named_modules())[any_session.layers[-1]]
    calls, handle = _count_calls(last)
    try:
        with torch.no_grad():
            full = any_session.forward(x, capture=[block, *inner])
            assert calls[0] == 1
            short = any_session.forward(x, capture=[block, *inner], stop=True)
            assert calls[0] == 1, "the pass must not run the classifier when it stops early"
    finally:
        handle.remove()
    assert short.logits is None
    for layer in [block, *inner]:
        assert torch.equal(short.activations[layer], full.activations[layer])


def test_replaced_layer_and_network_above_reproduce_the_full_pass(any_session, request):
    block, inner, bottom, _ = _case(request)
    image = _image(2)
    full = any_session.trace(image, [block, *inner])
    for layer in [block, *inner]:
        a = full[layer][None]
        with torch.no_grad():
            replaced = any_session.forward(any_session.image(image)[None], replace={layer: a})
            assert torch.equal(replaced.logits[0], full.logits)
            above = any_session.above(image, layer)
            calls, handle = _count_calls(dict(any_session.model.named_modules())[bottom])
            try:
                out = above(a).logits[0]
                batch = above(torch.cat([a, a + 1.0, a])).logits
            finally:
                handle.remove()
        assert calls[0] == 0, f"the network below {layer} must not run"
        assert torch.equal(out, full.logits), layer
        assert torch.allclose(batch[2], full.logits, atol=1e-5) and torch.equal(batch[0], batch[2])
        assert not torch.equal(batch[1], batch[0]), "the replacement must take effect"
    assert _hooks_left(any_session) == []


def test_in_place_relu_corrupts_neither_captured_values_nor_their_gradients(resnet18):
    x = resnet18.image(_image(3))[None]
    p = resnet18.forward(x, capture=["bn1", "relu"])
    assert p.activations["bn1"].min() < 0, "bn1 is captured before the in-place ReLU that follows it"
    assert p.activations["relu"].min() >= 0
    with torch.no_grad():
        by_hand = resnet18.model.bn1(resnet18.model.conv1(resnet18.model_input(x)))
    assert torch.equal(p.activations["bn1"], by_hand)
    # Gradient w.r.t. a captured layer equals the gradient through the replaced-layer path.
    target = 7
    g_capture, = torch.autograd.grad(p.logits[0, target], p.activations["bn1"])
    leaf = by_hand.clone().requires_grad_()
    g_replace, = torch.autograd.grad(resnet18.above(_image(3), "bn1")(leaf).logits[0, target], leaf)
    assert torch.allclose(g_capture, g_replace, rtol=1e-4, atol=1e-7)
    assert g_capture.abs().sum() > 0


def test_hooks_and_swaps_are_removed_when_a_pass_fails(googlenet):
    wrong = torch.zeros(1, 3, 5, 5)  # wrong shape for inception4d's consumers
    with pytest.raises(RuntimeError):
        googlenet.forward(googlenet.image(_image())[None], capture=["inception4e"], replace={"inception4d": wrong})
    assert _hooks_left(googlenet) == []


def test_activations_are_cached_per_image_and_layer():
    shapes_session = nb.Session.load("shapes")  # its own: the shared one's cache depends on test order
    shapes_session.layers  # the one-off probe pass of a new session is not a traced pass
    model = shapes_session.model
    calls, handle = _count_calls(model)
    scene = shapes.scene(11, classes=2)
    try:
        first = shapes_session.trace(scene.image, ["conv2", "conv3"])
        assert calls[0] == 1
        again = shapes_session.trace(scene.image, ["conv3"])
        assert calls[0] == 1, "a cached (image, layer) needs no pass"
        assert torch.equal(again["conv3"], first["conv3"])
        again["conv3"].fill_(0)  # results are copies: editing one leaves the cache intact
        assert torch.equal(shapes_session.trace(scene.image, ["conv3"])["conv3"], first["conv3"])
        shapes_session.trace(shapes.scene(12).image, ["conv3"])
        assert calls[0] == 2, "another image needs a pass"
        shapes_session.trace(scene.image, ["conv4"])
        assert calls[0] == 3, "another layer needs a pass"
    finally:
        handle.remove()


def test_changed_weights_miss_the_cache_and_change_the_fingerprint():
    session = nb.Session.load("shapes")
    twin = nb.Session.load("shapes")
    assert session.fingerprint == twin.fingerprint and len(session.fingerprint) == 16
    image = shapes.scene(5).image
    before = session.trace(image, "conv2")["conv2"]
    weight = session.model.conv1[0].weight
    with torch.no_grad():
        weight.mul_(1.5)
    assert session.fingerprint != twin.fingerprint
    assert not torch.equal(session.trace(image, "conv2")["conv2"], before)
    with torch.no_grad():
        weight.div_(1.5)
        weight.copy_(twin.model.conv1[0].weight)
    assert session.fingerprint == twin.fingerprint


def test_concurrent_traces_from_threads_match_sequential_ones():
    session = nb.Session.load("shapes")
    scenes = [shapes.scene(100 + i % 4, classes=2).image for i in range(16)]
    reference = nb.Session.load("shapes")
    expected = [reference.trace(img, ["conv2", "conv4"]) for img in scenes]
    barrier = threading.Barrier(8)

    def work(i):
        if i < 8:
            barrier.wait()
        return session.trace(scenes[i], ["conv2", "conv4"])

    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(work, range(16)))
    for got, want in zip(results, expected):
        assert torch.equal(got.logits, want.logits)
        assert torch.equal(got["conv2"], want["conv2"]) and torch.equal(got["conv4"], want["conv4"])
    assert _hooks_left(session) == []


def test_predict_ranks_both_objects_of_a_two_object_scene(shapes_session):
    scene = shapes.scene(0, classes=2)
    top = shapes_session.predict(scene.image, top=3)
    assert {label for label, _ in top[:2]} == set(scene.labels)
    probs = [p for _, p in top]
    assert probs == sorted(probs, reverse=True)
    assert probs[1] > 0.9 > 0.1 > probs[2], "multi-label: both objects are present, the third class is not"


def test_predict_is_a_softmax_for_single_label_models(googlenet):
    probs = [p for _, p in googlenet.predict(torch.rand(3, 224, 224), top=1000)]
    assert abs(sum(probs) - 1) < 1e-4


def test_class_lookup_forgives_case_spaces_and_underscores(googlenet, shapes_session):
    assert googlenet.class_index("Labrador retriever") == 208
    assert googlenet.class_index("labrador_RETRIEVER") == 208
    assert googlenet.class_index("  tiger   cat ") == 282
    assert googlenet.class_index(282) == 282
    assert googlenet.class_name(208) == "Labrador retriever"
    assert shapes_session.class_index("Striped_Triangle") == shapes.CLASSES.index("striped triangle")


def test_unknown_and_ambiguous_classes_say_what_to_do(googlenet):
    with pytest.raises(nb.UnknownClassError, match="unknown class 'labrador'.*'Labrador retriever'"):
        googlenet.class_index("labrador")
    twins = nb.Session(nn.Sequential(nn.Flatten(), nn.Linear(3, 3)), labels=["Cat", "cat", "dog"], input_size=1)
    with pytest.raises(nb.UnknownClassError, match="'cat' is ambiguous: it labels indices 0, 1; pass the index"):
        twins.class_index("cat")
    with pytest.raises(nb.UnknownClassError, match="out of range.*1000 classes"):
        googlenet.class_name(1000)


def test_unknown_layers_list_close_names(googlenet, resnet18):
    with pytest.raises(nb.UnknownLayerError, match="unknown layer 'inception4z'.*inception4") as info:
        googlenet.trace(_image(), ["inception4z"])
    assert "session.layers" in str(info.value)
    with pytest.raises(nb.UnknownLayerError, match="'layer3.0.relu' cannot be hooked: it runs more than once"):
        resnet18.check_layer("layer3.0.relu")


def test_a_plain_module_gets_numbered_labels_and_keeps_image_size():
    model = nn.Sequential(nn.Conv2d(3, 4, 3), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(4, 3))
    session = nb.Session(model.train())
    assert not session.model.training, "the session puts the model in eval mode"
    assert session.labels == ["class 0", "class 1", "class 2"]
    trace = session.trace(torch.rand(3, 20, 30), ["0"])
    assert trace["0"].shape == (4, 18, 28)
    assert session.class_index("Class_1") == 1
    with pytest.raises(TypeError, match="wraps a torch.nn.Module"):
        nb.Session(lambda x: x)


def test_sessions_run_where_neuroblocks_device_says_unless_told(monkeypatch):
    monkeypatch.setenv("NEUROBLOCKS_DEVICE", "meta")  # a device every machine has, that holds no data
    moved = nb.Session.load("shapes")
    assert moved.device == torch.device("meta") and all(p.is_meta for p in moved.model.parameters())
    assert nb.Session(nn.Conv2d(3, 4, 3)).device == torch.device("meta")
    assert nb.Session.load("shapes", device="cpu").device == torch.device("cpu"), "an explicit device wins"
    monkeypatch.setenv("NEUROBLOCKS_DEVICE", "cuda")
    if torch.cuda.is_available():
        assert nb.Session.load("shapes").device.type == "cuda"
    else:
        with pytest.raises(nb.NeuroblocksError, match="'cuda' was asked for .*NEUROBLOCKS_DEVICE.*no CUDA GPU"):
            nb.Session.load("shapes")
