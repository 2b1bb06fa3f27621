"""Widgets in a real browser: bytes on the wire per view, and hover-to-update latency of linked
views, with the link in the browser (neuroblocks.link) against the same link through the
kernel (traitlets.link alone: the browser tells the kernel, the kernel tells the other views).

GoogLeNet (randomly initialised: what is measured does not depend on the weights) on the
article's photo at inception4d, the article's mixed4d: 528 channels on a 14×14 grid. Views are
built with icon_steps=0, so the bytes are those before any icon (icons stream in afterwards).

    .venv/bin/python benchmarks/browser.py [--hovers 200]
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

import nbformat
from playwright.sync_api import Error as PlaywrightError
from playwright.sync_api import sync_playwright

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from tests.browser.conftest import CHROMIUM, JupyterServer  # noqa: E402  (the servers the browser tests use)

PHOTO = ROOT.parent / "shared" / "data" / "dog_cat.jpg"
CLASSES = '["Labrador retriever", "tiger cat"]'
VIEWS = {
    "SemanticDictionary": 'nb.SemanticDictionary(s, image, "inception4d", icon_steps=0)',
    "ActivationGrid": 'nb.ActivationGrid(s, image, "inception4d", icon_steps=0)',
    "SpatialAttribution": f'nb.SpatialAttribution(s, image, "inception4d", "inception5a", classes={CLASSES})',
    "ChannelAttribution": 'nb.ChannelAttribution(s, image, "inception4d", target="Labrador retriever", icon_steps=0)',
    "ClassComparison": f'nb.ClassComparison(s, image, "inception4d", classes={CLASSES}, icon_steps=0)',
    "NeuronGroups": f'nb.NeuronGroups(s, image, "inception4d", k=6, classes={CLASSES}, icon_steps=0)',
    "GroupFlow": 'nb.GroupFlow(s, image, ["inception4a", "inception4d", "inception5a"], k=4, icon_steps=0)',
}
SETUP = f"""
import json, torch, traitlets
import neuroblocks as nb
from ipywidgets.widgets.widget import _remove_buffers
torch.manual_seed(0)
s = nb.Session.load("googlenet", weights="random")
image = {str(PHOTO)!r}
views = {{}}
def state_bytes(w):
    state, _, buffers = _remove_buffers(w.get_state())
    return len(json.dumps(state)) + sum(len(b) for b in buffers)
print("ready")
"""

# Hover each listed cell of the activation grid; time until the dictionary and the spatial
# attribution both show that cell (updated), and until the next frame after that (painted).
HOVER_JS = """
async (cells) => {
  const view = (t) => [...document.querySelectorAll('.nb-view')].find(v => v.querySelector('.nb-title').textContent.startsWith(t));
  const grid = view('Activation grid').querySelector('.nb-picture-grid');
  const list = view('Semantic dictionary').querySelector('.nb-dictionary');
  const spatial = view('Spatial attribution');
  grid.scrollIntoView();
  const updated = [];
  const painted = [];
  for (const [y, x] of cells) {
    const r = grid.getBoundingClientRect();  // the notebook may have moved it since the last hover
    const t0 = performance.now();
    grid.dispatchEvent(new MouseEvent('mousemove', {bubbles: true, clientX: r.left + (x + 0.5) * r.width / 14, clientY: r.top + (y + 0.5) * r.height / 14}));
    const want = `[${y},${x}]`;
    while (!(list.dataset.position === `${y},${x}` && (spatial.querySelector('.nb-legend-title')?.textContent || '').includes(want))) {
      if (performance.now() - t0 > 5000) throw new Error(`no update for ${want}: dictionary at ${list.dataset.position}, legend "${spatial.querySelector('.nb-legend-title')?.textContent}", after ${updated.length} hovers`);
      await new Promise((done) => setTimeout(done, 0));
    }
    updated.push(performance.now() - t0);
    await new Promise(requestAnimationFrame);
    painted.push(performance.now() - t0);
  }
  return {updated, painted};
}
"""

# The browser's own frame interval on this page with nothing changing: the floor of "painted".
IDLE_FRAMES_JS = """
async (n) => {
  const out = [];
  for (let i = 0; i < n; i++) { const t0 = performance.now(); await new Promise(requestAnimationFrame); out.push(performance.now() - t0); }
  return out;
}
"""


def notebook(path: Path) -> None:
    cells = [nbformat.v4.new_code_cell(SETUP)]
    cells += [nbformat.v4.new_code_cell(f"views[{name!r}] = w = {code}\nw") for name, code in VIEWS.items()]
    cells.append(nbformat.v4.new_code_cell('links = nb.link(views["ActivationGrid"], views["SemanticDictionary"], views["SpatialAttribution"])\nprint("linked in the browser")'))
    cells.append(nbformat.v4.new_code_cell(
        'links.unlink()\n'
        'g, d, sp = views["ActivationGrid"], views["SemanticDictionary"], views["SpatialAttribution"]\n'
        'kernel_links = [traitlets.link((g, "position"), (d, "position")), traitlets.link((g, "position"), (sp, "position"))]\n'
        'print("linked in the kernel")'))
    cells.append(nbformat.v4.new_code_cell('print("STATE", json.dumps({k: state_bytes(w) for k, w in views.items()}))'))
    nb = nbformat.v4.new_notebook(cells=cells, metadata={"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}})
    nbformat.write(nb, path)


def run_cell(page, i: int, timeout_s: float = 300) -> None:
    """Run cell i (Shift+Enter in its editor) and wait for its output. A key press that lands
    while JupyterLab is still settling (or under its "Select Kernel" dialog) is repeated."""
    cell = page.locator(".jp-Notebook .jp-CodeCell").nth(i)
    prompt = cell.locator(".jp-InputPrompt")
    deadline = time.monotonic() + timeout_s
    pressed = 0.0
    while time.monotonic() < deadline:
        if page.locator(".jp-Dialog .jp-mod-accept").count():
            page.locator(".jp-Dialog .jp-mod-accept").first.click()
            pressed = 0.0
        text = prompt.inner_text()
        if any(ch.isdigit() for ch in text) and cell.locator(".jp-OutputArea-output").count():
            return
        if "*" not in text and time.monotonic() - pressed > 10:
            try:
                cell.scroll_into_view_if_needed(timeout=5_000)
                cell.locator(".jp-InputArea-editor").click(timeout=5_000)
            except PlaywrightError:  # re-rendered under us: try again on the next round
                continue
            page.keyboard.press("Shift+Enter")
            pressed = time.monotonic()
        time.sleep(0.1)
    raise TimeoutError(f"cell {i} did not finish in {timeout_s} s")


def percentiles(times: list[float]) -> tuple[float, float]:
    ordered = sorted(times)
    return statistics.median(ordered), ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hovers", type=int, default=200)
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="nb-bench-"))
    notebook(work / "bench.ipynb")
    server = JupyterServer("lab", work, env={"NEUROBLOCKS_CACHE": str(work / "cache")})
    received: list[int] = []
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"])
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            page.on("websocket", lambda ws: ws.on("framereceived", lambda f: received.append(len(f if isinstance(f, bytes) else f.encode()))))
            page.goto(server.page("lab/tree/bench.ipynb"))
            page.wait_for_selector(".jp-Notebook .jp-CodeCell", timeout=60_000)
            page.wait_for_selector(".jp-Notebook-ExecutionIndicator[data-status='idle']", timeout=60_000)
            run_cell(page, 0)
            wire = {}
            for i, name in enumerate(VIEWS, start=1):
                before = sum(received)
                run_cell(page, i)
                page.locator(".jp-Notebook .jp-CodeCell").nth(i).locator(".nb-view .nb-title").wait_for(timeout=60_000)
                time.sleep(0.5)  # let trailing status messages arrive
                wire[name] = sum(received) - before
            import random

            rng = random.Random(0)
            cells = [[rng.randrange(14), rng.randrange(14)] for _ in range(args.hovers)]
            run_cell(page, len(VIEWS) + 1)
            in_browser = page.evaluate(HOVER_JS, cells)
            idle = page.evaluate(IDLE_FRAMES_JS, args.hovers)
            run_cell(page, len(VIEWS) + 2)
            through_kernel = page.evaluate(HOVER_JS, cells)
            run_cell(page, len(VIEWS) + 3)
            state = json.loads(page.locator(".jp-OutputArea-output").filter(has_text="STATE").inner_text().split("STATE", 1)[1])
            browser.close()
    finally:
        server.stop()
        shutil.rmtree(work, ignore_errors=True)

    print(f"GoogLeNet inception4d (528 × 14 × 14), dog-and-cat photo, JupyterLab 4 in Chromium {CHROMIUM}")
    print(f"{'view':20s} {'on the wire':>12s} {'view state':>12s}")
    for name in VIEWS:
        print(f"{name:20s} {wire[name] / 1e6:10.3f} MB {state[name] / 1e6:10.3f} MB")
    target = "met" if wire["SemanticDictionary"] <= 1e6 else "MISSED"
    print(f"SemanticDictionary before icons: {wire['SemanticDictionary'] / 1e6:.3f} MB on the wire (target ≤ 1 MB: {target})")
    print(f"hover on the activation grid → dictionary and spatial attribution show the cell, {len(cells)} hovers (ms, p50 / p95):")
    for what in ("updated", "painted"):
        b50, b95 = percentiles(in_browser[what])
        k50, k95 = percentiles(through_kernel[what])
        print(f"  {what}: linked in the browser {b50:5.1f} / {b95:5.1f}   through the kernel {k50:5.1f} / {k95:5.1f}   kernel ÷ browser {k50 / b50:.1f}× / {k95 / b95:.1f}×")
    i50, i95 = percentiles(idle)
    b95 = percentiles(in_browser["painted"])[1]
    print(f"  (the page's idle frame interval: {i50:.1f} / {i95:.1f}; target p95 ≤ 50 ms for browser links, painted: {'met' if b95 <= 50 else 'MISSED'})")


if __name__ == "__main__":
    main()
