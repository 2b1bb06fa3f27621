"""The package's import graph, read with `ast` (imports inside functions and under TYPE_CHECKING
included): no cycle, and no module imports one on a higher floor than its own. The floors are
written down once, in the "Floors" table of docs/development/layout.md; a module missing from it fails here."""

from __future__ import annotations

import ast
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SRC = ROOT / "src" / "neuroblocks"


def modules() -> dict[str, Path]:
    """Dotted module name → file, for every module of the package."""
    found = {}
    for f in SRC.rglob("*.py"):
        parts = list(f.relative_to(SRC.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        found[".".join(parts)] = f
    return found


def imports(name: str, path: Path, known: dict[str, Path]) -> set[str]:
    """The package's modules `name` imports, its own parent packages left out (a submodule is
    imported through them, they are not its dependencies)."""
    package = name.split(".") if path.name == "__init__.py" else name.split(".")[:-1]
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = package[: len(package) - (node.level - 1)] if node.level else []
            prefix = ".".join(base + ([node.module] if node.module else [])) if node.level else node.module or ""
            targets = [prefix, *(f"{prefix}.{alias.name}" for alias in node.names)]
        else:
            continue
        for target in targets:
            while target and target not in known:
                target = target.rpartition(".")[0]
            if target and target != name and not (name + ".").startswith(target + "."):
                found.add(target)
    return found


def unit(name: str) -> str:
    """What a floor lists: a top-level module or subpackage ("neuroblocks" for the package's own __init__)."""
    parts = name.split(".")
    return parts[1] if len(parts) > 1 else parts[0]


def floors() -> dict[str, int]:
    """The floors table of docs/development/layout.md: | n | `module` `package/` … | what they are |."""
    text = (ROOT / "docs" / "development" / "layout.md").read_text()
    table = text[text.index("## Floors") :]
    found = {}
    for number, names in re.findall(r"^\| (\d+) \| ([^|]+) \|", table, flags=re.M):
        for listed in re.findall(r"`([\w/]+)`", names):
            assert listed.rstrip("/") not in found, f"{listed} is on two floors"
            found[listed.rstrip("/")] = int(number)
    return found


def test_every_module_is_on_a_floor_and_imports_none_above_its_own():
    known, placed = modules(), floors()
    units = {unit(name) for name in known}
    assert units - set(placed) == set(), f"modules on no floor of the layout page's table: {sorted(units - set(placed))}"
    assert set(placed) - units == set(), f"the layout page's floors list modules that do not exist: {sorted(set(placed) - units)}"
    upward = [
        f"{name} (floor {placed[unit(name)]}) imports {target} (floor {placed[unit(target)]})"
        for name, path in known.items()
        for target in imports(name, path, known)
        if placed[unit(target)] > placed[unit(name)]
    ]
    assert upward == [], "imports up a floor:\n" + "\n".join(sorted(upward))


def test_the_import_graph_has_no_cycle():
    known = modules()
    graph = {name: imports(name, path, known) for name, path in known.items()}
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    cycles = []

    def visit(name: str, path: list[str]) -> None:
        state[name] = 1
        for target in sorted(graph[name]):
            if state.get(target) == 1:
                cycles.append(" → ".join([*path[path.index(target) :], target]))
            elif target not in state:
                visit(target, [*path, target])
        state[name] = 2

    for name in sorted(graph):
        if name not in state:
            visit(name, [name])
    assert cycles == [], "import cycles:\n" + "\n".join(cycles)


def test_importing_the_session_loads_nothing_above_it():
    """At run time too: `neuroblocks.session` alone brings in no feature, no widget and no ipywidgets."""
    placed = floors()
    code = (
        "import sys, importlib; sys.modules['neuroblocks'] = type(sys)('neuroblocks'); sys.modules['neuroblocks'].__path__ = [sys.argv[1]];"
        "importlib.import_module('neuroblocks.session'); print(' '.join(m for m in sys.modules if m.startswith(('neuroblocks.', 'ipywidgets', 'anywidget'))))"
    )
    loaded = subprocess.run([sys.executable, "-c", code, str(SRC)], capture_output=True, text=True, check=True).stdout.split()
    above = [m for m in loaded if not m.startswith("neuroblocks.") or placed[unit(m)] > placed["session"]]
    assert "neuroblocks.session" in loaded and above == [], f"importing the session loaded: {above}"
