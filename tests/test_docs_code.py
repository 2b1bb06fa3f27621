"""The code a newcomer copies first runs as written, in a fresh Python process outside the
checkout: the README's ten lines and the your-own-model guide, end to end."""

from __future__ import annotations

import ast
import os
import re
import subprocess
import sys
from pathlib import Path

from PIL import Image

from conftest import MOBILENET, ROOT


def python_blocks(path: Path) -> list[str]:
    return re.findall(r"```python\n(.*?)```", path.read_text(), re.S)


def run(code: str, cwd: Path, timeout: float) -> str:
    """`code` in a fresh interpreter in `cwd`, with TORCH_HOME where `make` points it."""
    env = {**os.environ, "TORCH_HOME": str(MOBILENET.parents[2])}
    done = subprocess.run([sys.executable, "-c", code], cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout


def test_the_readmes_ten_lines_run_as_written(tmp_path, mobilenet_file):
    code = python_blocks(ROOT / "README.md")[0]
    said = re.search(r"session\.suggested_layers\(\)\s*# (\[.*?\])", code)
    assert said, "the README shows what suggested_layers() gives"
    check = f"""
print(repr(session.suggested_layers()))
for v in (grid, dictionary, spatial):
    v.wait(timeout=600)
    assert not v.error, (type(v).__name__, v.error)
print(len(nb.to_html("ten-lines.html", nb.row(grid, dictionary), spatial).read_bytes()))
"""
    out = run(code + check, tmp_path, timeout=900).split("\n")
    assert ast.literal_eval(out[0]) == ast.literal_eval(said.group(1)), "the README's comment is what the call returns"
    assert int(out[1]) > 100_000 and (tmp_path / "ten-lines.html").is_file()


def test_the_your_own_model_guide_runs_end_to_end(tmp_path):
    code = "\n".join(python_blocks(ROOT / "docs" / "guides" / "your-own-model.md"))
    out = run(code + "\nprint(layer, upper, nb.featurevis.sizes.default_size(session, [layer]))\n", tmp_path, timeout=900)
    layer, upper, side = out.split("\n")[-2].split()
    assert (layer, upper) == ("layer3", "layer4"), out
    page = (tmp_path / "my_model.html").read_text()
    assert all(f'"kind": "{kind}"' in page for kind in ("activation_grid", "semantic_dictionary", "spatial_attribution"))
    with Image.open(tmp_path / "my_model_icons.png") as sheet:
        assert sheet.size == (4 * int(side), int(side)), sheet.size
