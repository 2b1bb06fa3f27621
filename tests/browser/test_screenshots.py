"""Every bundled notebook as a newcomer sees it: Run All in JupyterLab in a 1000 px wide Chromium
window with the file browser open, waited on until every icon has arrived, then one picture of
the whole notebook, saved for a person to look at (`make screenshots` keeps them in
docs/screenshots/notebooks/). A view showing its error box, a linked row that wrapped its views
apart, or content wider than the output area fails the notebook.

It takes about a minute a notebook on two cores (the icons are rendered, not merely awaited), so
`make test` leaves it out; the same failures are caught there without the pictures: the
notebook test fails on any view error, the layout test on wrapped rows."""

from __future__ import annotations

from pathlib import Path

import pytest
from PIL import Image

from .conftest import ROOT

pytestmark = [pytest.mark.browser, pytest.mark.screenshots]

NOTEBOOKS = sorted(p.name for p in (ROOT / "notebooks").glob("*.ipynb"))
WIDTH = 1000

#: The state of the page a person would notice, read in one pass over the notebook's outputs.
PAGE_STATE = """() => {
  const views = [...document.querySelectorAll('.jp-Notebook .nb-view')];
  const waiting = views.filter(v => v.querySelector('.nb-icon[data-stage="placeholder"], .nb-icon[data-stage="preview"]')
                                 || (v.dataset.pending !== undefined && v.dataset.pending !== '0')
                                 || v.querySelector('.nb-status').textContent.includes('icons ')).length;
  const errors = [...document.querySelectorAll('.jp-Notebook .nb-error')].filter(e => e.offsetParent).map(e => e.innerText);
  const wrapped = [...document.querySelectorAll('.jp-Notebook .widget-hbox')].filter(row => {
    const tops = [...row.children].map(c => Math.round(c.getBoundingClientRect().top));
    return new Set(tops).size > 1; }).length;
  const area = document.querySelector('.jp-Notebook .jp-OutputArea-output');
  const scroller = document.querySelector('.jp-NotebookPanel .jp-WindowedPanel-outer') || document.querySelector('.jp-Notebook');
  return {views: views.length, waiting, errors, wrapped, outputWidth: area ? area.clientWidth : 0,
          height: scroller.scrollHeight};
}"""


@pytest.mark.parametrize("notebook", NOTEBOOKS)
def test_notebook_as_a_newcomer_sees_it(notebook, open_notebook, page, pytestconfig):
    folder: Path = pytestconfig.getoption("screenshots") / "notebooks"
    folder.mkdir(parents=True, exist_ok=True)
    page.set_viewport_size({"width": WIDTH, "height": 1000})
    # One icon cache for all the notebooks, kept between runs as a user's own (in the ignored
    # test-artifacts/): most notebooks read the same layer of the same photo.
    cache = ROOT / "test-artifacts" / "screenshots-icon-cache"
    server, _, errors = open_notebook(notebook, None, timeout_s=600, cache=cache)
    assert page.locator(".jp-FileBrowser:visible").count(), "the file browser is open beside the notebook"
    page.wait_for_function(f"({PAGE_STATE})().waiting === 0", timeout=900_000, polling=2_000)
    state = page.evaluate(PAGE_STATE)
    # The whole notebook in one picture: a window as tall as its content, so nothing scrolls.
    page.set_viewport_size({"width": WIDTH, "height": min(state["height"] + 200, 20_000)})
    page.evaluate("() => (document.querySelector('.jp-NotebookPanel .jp-WindowedPanel-outer') || document.querySelector('.jp-Notebook')).scrollTop = 0")
    page.wait_for_timeout(1_500)
    picture = folder / notebook.replace(".ipynb", ".png")
    page.screenshot(path=str(picture))
    # 256 colours: a third of the bytes (pictures kept in the repository), text and icons still legible
    Image.open(picture).convert("RGB").quantize(256, method=Image.Quantize.FASTOCTREE, dither=Image.Dither.NONE).save(picture, optimize=True)
    print(f"{notebook}: {state['views']} views, output area {state['outputWidth']} px, {state['height']} px tall")
    assert state["views"] > 0 and state["errors"] == [] and state["wrapped"] == 0, state
    assert errors == [], errors

