"""The docs site's notebook pages: each bundled notebook executed offline in a real kernel, its
views exported as one live page (`nb.to_html`: no kernel, no CDN), and the notebook written as
a Markdown page that embeds that export where its first view was shown.

    python docs/notebook_pages.py [--out docs/generated] [--fast] [NAME ...]

`make docs` runs it before `mkdocs build`; the test suite calls `execute` and `write_page`
itself (tests/conftest.py), so each notebook runs once for both its own test and the site's.
`--fast` is the suite's setting: the views' computations are awaited but not their icons (the
icons a page holds are those in by then), and the gallery's live render takes 32 steps, not 1024.
A view that ends with an error fails the build: the site never shows an error box."""

from __future__ import annotations

import argparse
import copy
import json
import sys
import tempfile
from pathlib import Path

import nbformat
from nbclient import NotebookClient
from nbconvert import MarkdownExporter

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = ROOT / "notebooks"
VIEW_MIME = "application/vnd.jupyter.widget-view+json"

#: Edits made in fast mode: the gallery's feature visualization renders 1024 steps (three
#: minutes of a 2-core CPU) for a reader's eyes, and the datasets of the atlas, the model
#: comparison and the shortcut are sized for steady numbers on the docs site; the suite needs
#: only every cell and view to end well, which fewer scenes show as well.
SHORTER = {
    "gallery.ipynb": {"steps=1024": "steps=32"},
    "activation_atlas.ipynb": {"ShapesConcepts(2000)": "ShapesConcepts(800)", "ShapesConcepts(1500)": "ShapesConcepts(600)"},
    "compare_models.ipynb": {"range(512)": "range(256)"},
    "shortcut.ipynb": {"scenes(2000,": "scenes(500,"},
}

#: Run after a notebook's own cells: waits for every view it built, exports what the notebook
#: shows (the views, rows and columns its cells ended with, kept by IPython in `Out`) to one page,
#: and prints the errors any view shows, as a person would see them in the view. ipywidgets' own
#: registry finds the views (a gc scan would take references to tuples other threads are still
#: building, which CPython then fails to resize).
EXPORT = """
import json, ipywidgets, neuroblocks
from ipywidgets.widgets.widget import _instances
_views = [w for w in list(_instances.values()) if isinstance(w, neuroblocks.widgets.base.View)]
for _view in _views:
    _view.wait({timeout}, icons={icons})
def _has_view(w):
    return isinstance(w, neuroblocks.widgets.base.View) or (isinstance(w, ipywidgets.Box) and any(map(_has_view, w.children)))
_shown = list({{id(w): w for w in Out.values() if _has_view(w)}}.values())
if _shown:
    neuroblocks.to_html({page!r}, *_shown, title={title!r})
print("view errors:", json.dumps([f"{{type(v).__name__}} {{v.layer}}: {{v.error}}" for v in _views if v.error]), len(_views))
"""


def title(notebook: nbformat.NotebookNode) -> str:
    first = next((c.source for c in notebook.cells if c.cell_type == "markdown"), "")
    return next((line.lstrip("# ").strip() for line in first.splitlines() if line.startswith("# ")), "neuroblocks")


def execute(path: Path, views: Path, fast: bool, replace: dict[str, str] | None = None, cwd: Path | None = None) -> nbformat.NotebookNode:
    """Run `path` to its end in a fresh kernel, with its widget state saved and its views
    exported to `views/<name>.html`; `replace`: text edits made to its cells first."""
    notebook = nbformat.read(path, as_version=4)
    edits = {**(SHORTER.get(path.name, {}) if fast else {}), **(replace or {})}
    for cell in notebook.cells:
        for old, new in edits.items():
            cell.source = cell.source.replace(old, new)
    views.mkdir(parents=True, exist_ok=True)
    page = views / f"{path.stem}.html"
    notebook.cells.append(nbformat.v4.new_code_cell(EXPORT.format(icons=not fast, timeout=600 if fast else 3600, page=str(page), title=title(notebook))))
    with tempfile.TemporaryDirectory() as scratch:
        where = str(cwd or scratch)
        NotebookClient(notebook, timeout=900 if fast else 3600, kernel_name="python3", store_widget_state=True, resources={"metadata": {"path": where}}).execute()
    return notebook


def view_errors(notebook: nbformat.NotebookNode) -> list[str]:
    """The errors the views of an executed notebook show once their computations are done."""
    line = next(o["text"] for o in notebook.cells[-1].outputs if o.get("name") == "stdout" and "view errors:" in o.get("text", ""))
    errors, count = line.split("view errors:", 1)[1].rsplit(" ", 1)
    if int(count) == 0:
        return ["the notebook built no view"]
    return json.loads(errors)


def _embed(name: str) -> dict:
    frame = f'<iframe class="nb-live" src="../views/{name}.html" title="live views of {name}.ipynb"></iframe>'
    return nbformat.v4.new_output("display_data", data={"text/markdown": frame})


def _pointer() -> dict:
    return nbformat.v4.new_output("display_data", data={"text/markdown": "*(this view is among the live views above)*"})


def write_page(notebook: nbformat.NotebookNode, name: str, out: Path) -> Path:
    """`out/notebooks/<name>.md` from an executed notebook: its cells and outputs, the export
    cell left out, the first view replaced by the live page of them all and the others by a
    pointer to it; images its cells drew are written beside the page."""
    shown = copy.deepcopy(notebook)
    shown.cells = shown.cells[:-1]
    shown.metadata.pop("widgets", None)
    embedded = False
    for cell in shown.cells:
        if cell.cell_type != "code":
            continue
        outputs = []
        for output in cell.outputs:
            if VIEW_MIME in output.get("data", {}):
                outputs.append(_pointer() if embedded else _embed(name))
                embedded = True
            elif output.output_type != "error" and output.get("name") != "stderr":
                outputs.append(output)
        cell.outputs = outputs
    body, resources = MarkdownExporter().from_notebook_node(shown, resources={"output_files_dir": f"{name}_files"})
    folder = out / "notebooks"
    folder.mkdir(parents=True, exist_ok=True)
    for file, data in resources.get("outputs", {}).items():
        (folder / file).parent.mkdir(parents=True, exist_ok=True)
        (folder / file).write_bytes(data)
    source = f"`notebooks/{name}.ipynb`, executed offline when this site was built"
    page = folder / f"{name}.md"
    page.write_text(f"<!-- generated by docs/notebook_pages.py from notebooks/{name}.ipynb -->\n{body}\n---\n*{source}.*\n", encoding="utf-8")
    return page


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("names", nargs="*", help="notebooks to build (stems); all when none")
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "generated")
    parser.add_argument("--fast", action="store_true", help="the test suite's setting: icons not awaited, shorter renders")
    args = parser.parse_args(argv)
    paths = [NOTEBOOKS / f"{n}.ipynb" for n in args.names] or sorted(NOTEBOOKS.glob("*.ipynb"))
    failed = []
    for path in paths:
        notebook = execute(path, args.out / "views", args.fast)
        errors = view_errors(notebook)
        if errors:
            failed.append(f"{path.name}: {errors}")
        write_page(notebook, path.stem, args.out)
        print(f"{path.name}: {'views with errors ' + str(errors) if errors else 'page and live views written'}", flush=True)
    if failed:
        print("views ended with errors:\n" + "\n".join(failed), file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
