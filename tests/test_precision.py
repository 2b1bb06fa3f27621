"""Attribution's precision policy (`neuroblocks.precision`): its passes, forward and backward, run
with TF32 off by default, whatever the process allows elsewhere, and the process's setting is
back once they end, also when attributions overlap in threads. TF32 itself exists only on
recent GPUs; the settings that govern it are read and set the same way on any machine, so the
policy is checked here by recording them inside the model's own passes."""

from __future__ import annotations

import threading

import pytest
import torch

import neuroblocks as nb
from neuroblocks import precision
from neuroblocks.shapes import world

ALLOW_TF32 = ("tf32", "tf32") if precision.FULL_FLOAT32 == ("ieee", "ieee") else (True, True)


@pytest.fixture
def tf32_allowed():
    """The process allows TF32 for convolutions and matrix products (as a user may set it)."""
    before = precision.tf32_settings()
    precision.set_tf32_settings(ALLOW_TF32)
    yield
    precision.set_tf32_settings(before)


def recording(session: nb.Session, module: str) -> list:
    """The TF32 settings in force at each forward and backward pass through `module`."""
    seen = []

    def forward(_m, _i, out):
        seen.append(("forward", precision.tf32_settings()))
        if out.requires_grad:
            out.register_hook(lambda g: seen.append(("backward", precision.tf32_settings())))

    session.model.get_submodule(module).register_forward_hook(forward)
    return seen


@pytest.mark.parametrize("setting", ["float32", "torch"])
def test_attribution_passes_run_as_the_session_says_and_leave_the_process_as_it_was(tf32_allowed, setting):
    session = nb.attribution.configure(nb.Session(nb.Session.load("shapes").model, labels=world.CLASSES, input_size=world.SIZE), precision=setting)
    seen = recording(session, "conv4")
    image, name = world.scene(3).image, world.scene(3).labels[0]
    session.trace(image, "conv4")  # a forward pass of the session's own: the process's setting
    assert seen[-1] == ("forward", ALLOW_TF32)
    del seen[:]
    nb.attribution.channel(session, image, "conv3", name)
    nb.attribution.to_classes(session, image, "conv3", "channels", mode="reverse")
    nb.attribution.layer_to_layer(session, image, "conv2", "conv4", "channels", only=[0, 1], mode="forward")
    nb.attribution.channel(session, image, "conv3", name, steps=4)
    nb.factorize(session, image, "conv3", 3)
    expected = precision.FULL_FLOAT32 if setting == "float32" else ALLOW_TF32
    assert {kind for kind, _ in seen} == {"forward", "backward"}
    assert {settings for _, settings in seen} == {expected}, f"attribution ran with {set(seen)}"
    assert precision.tf32_settings() == ALLOW_TF32, "the process's setting is back"


def test_overlapping_attributions_in_threads_restore_the_setting_once_all_end(tf32_allowed):
    inside, release = threading.Barrier(3), threading.Event()

    def attribute():
        with precision.applied("float32"):
            inside.wait()
            release.wait(10)

    threads = [threading.Thread(target=attribute) for _ in range(2)]
    for t in threads:
        t.start()
    inside.wait()
    assert precision.tf32_settings() == precision.FULL_FLOAT32
    release.set()
    for t in threads:
        t.join()
    assert precision.tf32_settings() == ALLOW_TF32


def test_a_bfloat16_model_attributes_in_its_own_precision_and_its_views_say_so():
    shapes = nb.Session.load("shapes")
    session = nb.Session(nb.Session.load("shapes").model.to(torch.bfloat16), labels=world.CLASSES, input_size=world.SIZE, multilabel=True)
    scene = world.scene(3)
    name = scene.labels[0]
    half, full = nb.attribution.channel(session, scene.image, "conv3", name), nb.attribution.channel(shapes, scene.image, "conv3", name)
    assert half.dtype == torch.bfloat16
    assert torch.corrcoef(torch.stack([half.float(), full]))[0, 1] > 0.95, "the same attribution, to bfloat16's precision"
    view = nb.ChannelAttribution(session, scene.image, "conv3", name, icon_steps=0).wait()
    assert view.error == "" and "computes in bfloat16, and so does attribution" in view.picture["note"]
    view.close()


def test_a_precision_that_is_not_one_says_which_there_are():
    with pytest.raises(nb.AttributionError, match="'float32'.*'torch'"):
        nb.attribution.configure(nb.Session(torch.nn.Conv2d(3, 4, 3)), precision="tf32")
