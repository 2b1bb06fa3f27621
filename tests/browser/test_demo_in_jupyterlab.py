"""`make demo` opens notebooks/demo.ipynb in JupyterLab: run it there, in a real browser."""

import pytest

from neuroblocks import shapes

from .conftest import ARTIFACTS

pytestmark = pytest.mark.browser


def test_demo_notebook_runs_in_jupyterlab_and_shows_the_prediction(lab, page):
    page.goto(lab.page("lab/tree/demo.ipynb"))
    page.wait_for_selector(".jp-Notebook .jp-Cell", timeout=60_000)
    page.wait_for_selector(".jp-Notebook-ExecutionIndicator[data-status='idle']", timeout=60_000)
    page.click(".lm-MenuBar-itemLabel:text-is('Run')")
    page.click(".lm-Menu-itemLabel:text-is('Run All Cells')")
    labels = shapes.scene(0, classes=2).labels
    outputs = page.locator(".jp-OutputArea-output")
    outputs.filter(has_text="classmap").first.wait_for(timeout=60_000)  # the last cell's output
    assert page.locator(".jp-RenderedImage img").count() >= 1, "the scene is drawn"
    text = outputs.all_inner_texts()
    assert "objects, left to right: " + ", ".join(labels) in text[0]
    ranked = [line.split("%")[1].strip() for line in text[2].strip().splitlines()]
    assert set(ranked[:2]) == set(labels), f"the demo shows both objects on top: {text[2]}"
    assert not page.locator(".jp-OutputArea-output[data-mime-type='application/vnd.jupyter.stderr']").count()
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "demo-jupyterlab.png"))
