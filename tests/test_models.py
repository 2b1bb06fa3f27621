"""Session.load: named models and their weights, with no network beyond loopback.

Downloads are made to fail for real by pointing the proxy at a closed loopback port, so these
tests behave the same on a machine that is online.
"""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
import torch
from torchvision import models as tvm

import neuroblocks as nb
from neuroblocks import shapes


@pytest.fixture(scope="module")
def googlenet_file(tmp_path_factory):
    """A randomly initialised GoogLeNet state dict in torchvision's pretrained layout (aux heads)."""
    torch.manual_seed(1)
    state = tvm.googlenet(weights=None, aux_logits=True, init_weights=True).state_dict()
    path = tmp_path_factory.mktemp("weights") / "my-googlenet.pth"
    torch.save(state, path)
    return path, state


def _same_weights(session: nb.Session, state: dict) -> bool:
    mine = session.model.state_dict()
    return all(torch.equal(mine[k], state[k]) for k in mine)


def test_unknown_model_lists_close_names():
    with pytest.raises(ValueError, match="unknown model 'googlenett'; close names: googlenet"):
        nb.Session.load("googlenett")


def test_offline_default_weights_say_how_to_fix_it(offline):
    with pytest.raises(nb.WeightsUnavailableError) as info:
        nb.Session.load("googlenet")
    message = str(info.value)
    assert "https://download.pytorch.org/models/googlenet-1378be20.pth" in message
    assert "weights='/path/to/googlenet-1378be20.pth'" in message
    assert str(offline / "torch" / "hub" / "checkpoints" / "googlenet-1378be20.pth") in message
    assert "fallback='shapes'" in message


def test_offline_weights_name_the_projects_own_copy_and_how_to_use_it(offline, googlenet_file, monkeypatch):
    """`make weights` keeps a copy in the project's .torch/, which torch reads only when TORCH_HOME says so."""
    path, state = googlenet_file
    project = offline / "project"
    copy = project / ".torch" / "hub" / "checkpoints" / "googlenet-1378be20.pth"
    copy.parent.mkdir(parents=True)
    copy.write_bytes(path.read_bytes())
    (project / "notebooks").mkdir()
    monkeypatch.chdir(project / "notebooks")
    with pytest.raises(nb.WeightsUnavailableError) as info:
        nb.Session.load("googlenet", weights="IMAGENET1K_V1")
    message = str(info.value)
    assert f"A copy is at {copy}" in message and f"TORCH_HOME={project / '.torch'}" in message, message
    monkeypatch.setenv("TORCH_HOME", str(project / ".torch"))
    assert _same_weights(nb.Session.load("googlenet", weights="IMAGENET1K_V1"), state), "the advice works"


def test_fallback_warns_and_serves_the_shapes_model(offline):
    with pytest.warns(UserWarning, match="Falling back to 'shapes'"):
        session = nb.Session.load("googlenet", fallback="shapes")
    assert session.labels == list(shapes.CLASSES)


def test_local_weights_file_is_built_with_torchvisions_recipe(offline, googlenet_file):
    path, state = googlenet_file
    with pytest.warns(UserWarning, match="none of torchvision's files for googlenet: built, preprocessed and labelled as GoogLeNet_Weights.IMAGENET1K_V1"):
        session = nb.Session.load("googlenet", weights=path)
    assert _same_weights(session, state)
    assert session.model.transform_input, "the pretrained recipe's input transform is on"
    assert session.labels[208] == "Labrador retriever" and session.input_size == 224


def test_weights_in_torch_hub_cache_are_picked_up_offline(offline, googlenet_file):
    path, state = googlenet_file
    cache = offline / "torch" / "hub" / "checkpoints"
    cache.mkdir(parents=True)
    (cache / "googlenet-1378be20.pth").write_bytes(path.read_bytes())
    assert _same_weights(nb.Session.load("googlenet"), state)


def test_wrong_or_missing_weight_files(offline, tmp_path):
    torch.save(tvm.resnet18(weights=None).state_dict(), tmp_path / "resnet.pth")
    with pytest.raises(nb.WeightsUnavailableError, match="does not hold weights for torchvision's googlenet"), pytest.warns(UserWarning, match="none of torchvision's files"):
        nb.Session.load("googlenet", weights=tmp_path / "resnet.pth")
    with pytest.raises(nb.WeightsUnavailableError, match="no weights file at .*nowhere.pth"):
        nb.Session.load("googlenet", weights=tmp_path / "nowhere.pth")
    with pytest.raises(nb.WeightsUnavailableError, match="no shapes weights at .*nowhere.pt.*neuroblocks.shapes.train"):
        nb.Session.load("shapes", weights=tmp_path / "nowhere.pt")


def test_random_weights_for_any_torchvision_classifier():
    torch.manual_seed(0)
    session = nb.Session.load("vgg11", weights="random")
    assert "features.0" in session.layers and len(session.labels) == 1000
    random_shapes = nb.Session.load("shapes", weights="random")
    assert random_shapes.fingerprint != nb.Session.load("shapes").fingerprint


def test_the_one_liner_works_offline(offline):
    code = "import neuroblocks as nb; s = nb.Session.load('shapes'); print(s.predict(nb.shapes.scene(seed=0).image))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=os.environ.copy(), timeout=120)
    assert out.returncode == 0, out.stderr
    assert f"('{shapes.scene(0).labels[0]}'," in out.stdout
