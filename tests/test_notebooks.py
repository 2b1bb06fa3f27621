"""Every bundled notebook runs top to bottom in a real kernel, offline, with its widget state
saved: the article's interfaces on MobileNetV2 with its real ImageNet weights (from the project's
torch hub cache, filled by `make weights`) and a photo scikit-image ships, or the article's photo;
Lucid's InceptionV1 when its weights are in the cache (here a random state dict in the published
layout); the shapes model when no weights can be had, saying why."""

from __future__ import annotations

from pathlib import Path

import nbformat
import pytest
import torch

import neuroblocks as nb
from neuroblocks import examples

from conftest import notebook_pages

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
INTERFACES = ["semantic_dictionary", "activation_grid", "spatial_attribution", "channel_attribution", "neuron_groups", "teaser"]


def execute(path: Path, cwd: Path, replace: dict[str, str]) -> nbformat.NotebookNode:
    """A bundled notebook with edits (another photo, another network), run as the docs build runs it."""
    return notebook_pages.execute(path, cwd / "views", fast=True, replace=replace, cwd=cwd)


def outputs(notebook) -> list:
    return [o for cell in notebook.cells if cell.cell_type == "code" for o in cell.outputs]


def test_there_is_a_notebook_per_interface_a_gallery_and_one_for_your_own_model():
    names = {p.stem for p in NOTEBOOKS}
    assert set(INTERFACES) | {"gallery", "your_own_model", "dissection"} <= names
    for name in INTERFACES:
        intro = nbformat.read(ROOT / "notebooks" / f"{name}.ipynb", as_version=4).cells[0].source
        assert "Reproduces the article's" in intro and "mixed4d" in intro, f"{name} says which figure, layer and classes"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_executes_offline_and_saves_widget_state(path, notebook_runs):
    notebook = notebook_runs(path.stem)
    shown = outputs(notebook)
    assert not [o for o in shown if o.output_type == "error" or o.get("name") == "stderr"]
    views = [o for o in shown if "application/vnd.jupyter.widget-view+json" in o.get("data", {})]
    assert views, "a notebook that shows no view demonstrates nothing"
    assert notebook_pages.view_errors(notebook) == [], "every view ends without an error"
    state = notebook.metadata["widgets"]["application/vnd.jupyter.widget-state+json"]["state"]
    kinds = {m["state"].get("kind") for m in state.values() if m["model_name"] == "AnyModel"}
    assert len(kinds - {None}) >= 1, "the views' state is saved in the notebook"
    if "examples.load(PHOTO)" in "".join(cell.source for cell in notebook.cells):
        assert "MobileNetV2 with torchvision's ImageNet weights on scikit-image's photo" in "".join(o.get("text", "") for o in shown), "real weights, a real photo, offline"


@pytest.fixture
def inceptionv1_in_torch_cache(offline, mobilenet_file):
    """A random InceptionV1 state dict in the published file's layout, with a label file of our
    own beside it (the article's two classes at 209 and 283), where the notebooks look for
    them; MobileNetV2's real weights in the same cache. With no network, only the cache serves."""
    from lucent.modelzoo.inceptionv1.InceptionV1 import InceptionV1

    hub = offline / "torch" / "hub" / "checkpoints"
    hub.mkdir(parents=True)
    torch.manual_seed(0)
    torch.save(InceptionV1(redirected_ReLU=False).state_dict(), hub / "inception5h.pth")
    labels = ["dummy", *(f"label {i}" for i in range(1, 1008))]
    labels[209], labels[283] = "Labrador retriever", "tiger cat"
    (hub / "imagenet_comp_graph_label_strings.txt").write_text("\n".join(labels) + "\n")
    (hub / mobilenet_file.name).write_bytes(mobilenet_file.read_bytes())
    return hub


def _spatial_views(notebook) -> list[dict]:
    state = notebook.metadata["widgets"]["application/vnd.jupyter.widget-state+json"]["state"]
    return [m["state"] for m in state.values() if m["state"].get("kind") == "spatial_attribution"]


def test_the_articles_network_is_used_when_its_weights_are_in_the_cache(inceptionv1_in_torch_cache, dog_cat, tmp_path):
    ex = examples.load(dog_cat)
    assert ex.pretrained and (ex.layer, ex.upper, ex.lower) == ("mixed4d", "mixed5a", "mixed4a")
    assert ex.classes == ("Labrador retriever", "tiger cat")
    notebook = execute(ROOT / "notebooks" / "spatial_attribution.ipynb", tmp_path, {"PHOTO = None": f"PHOTO = {str(dog_cat)!r}"})
    shown = outputs(notebook)
    assert "Lucid's InceptionV1, the article's network, on your photo" in "".join(o.get("text", "") for o in shown)
    assert not [o for o in shown if o.output_type == "error"]
    views = _spatial_views(notebook)
    assert views and (views[0]["layer"], views[0]["upper"], views[0]["classes"]) == ("mixed4d", "mixed5a", [209, 283])


def test_the_notebooks_run_on_real_weights_and_the_articles_photo(dog_cat, tmp_path):
    notebook = execute(ROOT / "notebooks" / "spatial_attribution.ipynb", tmp_path, {"PHOTO = None": f"PHOTO = {str(dog_cat)!r}"})
    shown = outputs(notebook)
    assert "MobileNetV2 with torchvision's ImageNet weights on your photo" in "".join(o.get("text", "") for o in shown)
    views = _spatial_views(notebook)
    assert views and (views[0]["layer"], views[0]["upper"], views[0]["classes"]) == ("features.14.conv.0", "features.18", [208, 282])


def test_without_weights_the_notebooks_fall_back_and_say_why(offline, dog_cat):
    ex = examples.load(dog_cat)
    assert not ex.pretrained and ex.layer == "conv3"
    assert "MobileNetV2's weights are not available" in ex.note
    assert ex.classes == tuple(nb.shapes.scene(1, classes=2).labels)
