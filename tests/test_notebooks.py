"""Every bundled notebook runs top to bottom in a real kernel, offline on the shapes model, with
its widget state saved; and the pretrained path: GoogLeNet weights already in torchvision's
cache (here a randomly initialised state dict) are picked up with no network, and the gallery
runs on them."""

from __future__ import annotations

from pathlib import Path

import nbformat
import pytest
import torch
import torchvision
from nbclient import NotebookClient

import neuroblocks as nb
from neuroblocks import examples

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
INTERFACES = ["semantic_dictionary", "activation_grid", "spatial_attribution", "channel_attribution", "neuron_groups", "teaser"]


def execute(path: Path, cwd: Path, replace: dict[str, str] | None = None) -> nbformat.NotebookNode:
    notebook = nbformat.read(path, as_version=4)
    for cell in notebook.cells:
        for old, new in (replace or {}).items():
            cell.source = cell.source.replace(old, new)
    NotebookClient(notebook, timeout=600, kernel_name="python3", store_widget_state=True, resources={"metadata": {"path": str(cwd)}}).execute()
    return notebook


def outputs(notebook) -> list:
    return [o for cell in notebook.cells if cell.cell_type == "code" for o in cell.outputs]


def test_there_is_a_notebook_per_interface_a_gallery_and_one_for_your_own_model():
    names = {p.stem for p in NOTEBOOKS}
    assert set(INTERFACES) | {"gallery", "your_own_model", "dissection"} <= names
    for name in INTERFACES:
        intro = nbformat.read(ROOT / "notebooks" / f"{name}.ipynb", as_version=4).cells[0].source
        assert "Reproduces the article's" in intro and "inception4d" in intro, f"{name} says which figure, layer and classes"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_executes_offline_and_saves_widget_state(path, tmp_path):
    notebook = execute(path, tmp_path)
    shown = outputs(notebook)
    assert not [o for o in shown if o.output_type == "error" or o.get("name") == "stderr"]
    views = [o for o in shown if "application/vnd.jupyter.widget-view+json" in o.get("data", {})]
    assert views, "a notebook that shows no view demonstrates nothing"
    state = notebook.metadata["widgets"]["application/vnd.jupyter.widget-state+json"]["state"]
    kinds = {m["state"].get("kind") for m in state.values() if m["model_name"] == "AnyModel"}
    assert len(kinds - {None}) >= 1, "the views' state is saved in the notebook"
    if "examples.load(PHOTO)" in "".join(cell.source for cell in notebook.cells):
        assert "Offline stand-in" in "".join(o.get("text", "") for o in shown), "the fallback says so"


@pytest.fixture
def googlenet_in_torch_cache(offline):
    """A random GoogLeNet state dict (in the pretrained layout, auxiliary heads included) where
    torchvision looks for its ImageNet weights; with no network, only the cache can serve."""
    weights = torchvision.models.GoogLeNet_Weights.IMAGENET1K_V1
    torch.manual_seed(0)
    model = torchvision.models.googlenet(weights=None, aux_logits=True, init_weights=True)
    target = offline / "torch" / "hub" / "checkpoints" / Path(weights.url).name
    target.parent.mkdir(parents=True)
    torch.save(model.state_dict(), target)
    return target


def test_the_article_setting_is_used_when_the_weights_are_in_the_cache(googlenet_in_torch_cache, dog_cat, tmp_path):
    ex = examples.load(dog_cat)
    assert ex.pretrained and (ex.layer, ex.upper) == ("inception4d", "inception5a")
    assert ex.session.class_index("Labrador retriever") == 208 and ex.session.class_index("tiger cat") == 282
    notebook = execute(ROOT / "notebooks" / "spatial_attribution.ipynb", tmp_path, {"PHOTO = None": f"PHOTO = {str(dog_cat)!r}"})
    shown = outputs(notebook)
    text = "".join(o.get("text", "") for o in shown)
    assert "GoogLeNet with ImageNet weights on your photo" in text
    assert not [o for o in shown if o.output_type == "error"]
    state = notebook.metadata["widgets"]["application/vnd.jupyter.widget-state+json"]["state"]
    views = [m["state"] for m in state.values() if m["state"].get("kind") == "spatial_attribution"]
    assert views and views[0]["layer"] == "inception4d" and views[0]["upper"] == "inception5a" and views[0]["classes"] == [208, 282]


def test_without_weights_the_notebooks_fall_back_and_say_why(offline, dog_cat):
    ex = examples.load(dog_cat)
    assert not ex.pretrained and ex.layer == "conv3"
    assert "GoogLeNet's weights are not available" in ex.note
    assert ex.classes == tuple(nb.shapes.scene(1, classes=2).labels)
