"""`make demo` opens notebooks/demo.ipynb in JupyterLab: run it there, in a real browser."""

import pytest

from neuroblocks import shapes

from .conftest import ARTIFACTS, run_all_cells

pytestmark = pytest.mark.browser


def test_demo_notebook_runs_in_jupyterlab_and_shows_the_prediction(lab, page):
    page.goto(lab.page("lab/tree/demo.ipynb"))
    run_all_cells(page, done_text="classmap")  # the last cell's output
    labels = shapes.scene(0, classes=2).labels
    outputs = page.locator(".jp-OutputArea-output")
    assert page.locator(".jp-RenderedImage img").count() >= 1, "the scene is drawn"
    text = outputs.all_inner_texts()
    assert "objects, left to right: " + ", ".join(labels) in text[0]
    ranked = [line.split("%")[1].strip() for line in text[2].strip().splitlines()]
    assert set(ranked[:2]) == set(labels), f"the demo shows both objects on top: {text[2]}"
    assert not page.locator(".jp-OutputArea-output[data-mime-type='application/vnd.jupyter.stderr']").count()
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "demo-jupyterlab.png"))
