"""What a user who ran `pip install neuroblocks-….whl` does first, run by
tests/test_installed_package.py with the interpreter of a fresh environment, from a folder
outside the checkout (`python -I`: neither the checkout nor PYTHONPATH is importable).

Builds every view on the bundled shapes model with its icons, exports them with `nb.to_html`,
asks the bundled grayscale model for a scene's classes, and executes one bundled notebook in a kernel of that environment. Prints one JSON line of what
it found; any failure is a traceback and a non-zero exit.

    python -I use_the_package.py NOTEBOOK.ipynb OUT_DIR
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import nbformat
from nbclient import NotebookClient

import neuroblocks as nb
from neuroblocks import dissection as D
from neuroblocks import shapes


def every_view(session: nb.Session) -> dict[str, nb.widgets.View]:
    image = shapes.scene(3, classes=2).image
    data = D.ShapesConcepts(12)
    result = D.dissect(session, "conv2", data)
    examples = D.dataset_examples(session, "conv2", data, k=2)
    icons = {"icon_steps": 8}
    return {
        "semantic_dictionary": nb.SemanticDictionary(session, image, "conv3", **icons),
        "activation_grid": nb.ActivationGrid(session, image, "conv3", **icons),
        "spatial_attribution": nb.SpatialAttribution(session, image, "conv3", "conv4"),
        "channel_attribution": nb.ChannelAttribution(session, image, "conv3", **icons),
        "class_comparison": nb.ClassComparison(session, image, "conv3", **icons),
        "neuron_groups": nb.NeuronGroups(session, image, "conv4", 3, **icons),
        "group_flow": nb.GroupFlow(session, image, ["conv3", "conv4"], 3, **icons),
        "feature_vis": nb.FeatureVis(session, layer="conv3", channel=2, size=48, steps=16),
        "dissection": nb.DissectionView(session, result, examples, units=4, **icons),
    }


def main(notebook: Path, out: Path) -> None:
    views = every_view(nb.Session.load("shapes"))
    for view in views.values():
        view.wait(timeout=300, icons=True)
    page = nb.to_html(out / "every_view.html", *views.values())

    executed = nbformat.read(notebook, as_version=4)
    NotebookClient(executed, timeout=600, kernel_name="python3", store_widget_state=True, resources={"metadata": {"path": str(out)}}).execute()
    outputs = [o for cell in executed.cells if cell.cell_type == "code" for o in cell.outputs]
    state = executed.metadata["widgets"]["application/vnd.jupyter.widget-state+json"]["state"]

    print(json.dumps({
        "imported_from": str(Path(nb.__file__).resolve().parent),
        "version": nb.__version__,
        "views": {name: {"kind": view.kind, "error": view.error, "icons": len(view.icons), "render": getattr(view, "state", None)} for name, view in views.items()},
        "html_bytes": page.stat().st_size,
        "gray_top2": [label for label, _ in nb.Session.load("shapes-gray").predict(shapes.scene(3, classes=2).image, 2)],
        "notebook_errors": [o.get("ename", o.get("text", "")) for o in outputs if o.output_type == "error" or o.get("name") == "stderr"],
        "notebook_view_kinds": sorted({m["state"].get("kind") for m in state.values() if m["state"].get("kind")}),
    }))


if __name__ == "__main__":
    main(Path(sys.argv[1]), Path(sys.argv[2]))
