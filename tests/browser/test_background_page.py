"""A view displayed while it computes, in JupyterLab in Chromium: the cell returns at once, the
view's busy line says what is being computed and how far it is, then the content comes (the class
maps before the legend) and the busy line clears, with no console errors. The model sleeps in
its forward pass, so the computation lasts long enough to watch."""

from __future__ import annotations

import re
import time

import nbformat
import pytest

from .conftest import run_all_cells, view, watch_console

pytestmark = pytest.mark.browser

SOURCE = '''
import time, torch
from torch import nn
import neuroblocks as nb

class Sleepy(nn.Module):
    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.conv1, self.conv2 = nn.Conv2d(3, 8, 3, padding=1), nn.Conv2d(8, 16, 3, stride=2, padding=1)
        self.fc = nn.Linear(16, 50)
        self.delay = 0.0
    def forward(self, x):
        time.sleep(self.delay)
        return self.fc(torch.relu(self.conv2(torch.relu(self.conv1(x)))).mean((2, 3)))

model = Sleepy()
session = nb.Session(model, labels=[f"class {i}" for i in range(50)], input_size=32)
torch.manual_seed(1)
image = torch.rand(3, 32, 32)
session.trace(image)
model.delay = 0.4
started = time.monotonic()
spatial = nb.SpatialAttribution(session, image, "conv1", "conv2", classes=[3, 7], icon_steps=0)
display(spatial)
print(f"displayed after {time.monotonic() - started:.2f} s")
'''


def test_a_view_shows_its_progress_then_its_content(serve, page):
    server, root = serve("lab", "semantic_dictionary.ipynb")
    notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(SOURCE)])
    nbformat.write(notebook, root / "slow.ipynb")
    errors = watch_console(page)
    page.goto(server.page("lab/tree/slow.ipynb"))
    run_all_cells(page, done_text="displayed after", timeout_s=180, errors=errors)
    seconds = float(re.search(r"displayed after ([0-9.]+) s", page.locator(".jp-OutputArea-output").filter(has_text="displayed after").inner_text()).group(1))
    assert seconds < 1.0, "the cell returned before the computation"

    shown = view(page, "Spatial attribution")
    status = shown.locator(".nb-status")
    seen: list[str] = []
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline:
        text = status.inner_text() if status.count() else ""
        if text and (not seen or seen[-1] != text):
            seen.append(text)
        if seen and not text and shown.locator(".nb-legend").count():
            break
        page.wait_for_timeout(50)
    assert any(re.search(r"layer-to-layer flow conv1 → conv2 \d+/256", line) for line in seen), f"the busy line counts the flow's progress: {seen}"
    assert any(line.startswith("legend") for line in seen), seen
    assert status.inner_text() == "", "the busy line clears when everything is there"
    assert shown.locator(".nb-picture").count() == 2, "both layers' class maps are drawn"
    # The finished legend ranks every class: hovering a cell lists the classes it supports most.
    shown.locator(".nb-picture-grid").first.hover()
    assert shown.locator(".nb-legend-row.nb-chosen").count() == 2, "the two chosen classes first"
    assert 3 <= shown.locator(".nb-legend-row.nb-ranked").count() <= 5, "then the top five, less the chosen ones among them"
    assert not shown.locator(".nb-legend").filter(has_text="are coming").count()
    assert not errors, errors
