"""The package as users get it: `python -m build` makes the sdist and, from it, the wheel;
`twine check` passes; the wheel holds every file the package reads at run time; and, installed
into a fresh virtual environment outside the checkout, it builds every view, exports a page
and runs a bundled notebook. Torch comes from the same pinned builds `make install` uses, so
nothing beyond the package registries (and pip's cache of them) is needed."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tarfile
import time
import zipfile
from pathlib import Path

import pytest

import neuroblocks as nb
from neuroblocks import shapes

pytestmark = pytest.mark.wheel

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "src" / "neuroblocks"
PINS = ["torch==2.14.1", "torchvision==0.29.1"]
KERNEL = ["nbclient>=0.10", "ipykernel>=6.29"]  # what running a notebook takes; not the package's own needs


def run(*args: str | Path, cwd: Path | None = None, env: dict[str, str] | None = None, timeout: float = 900) -> str:
    """Run a command to completion (never longer than `timeout` s) and return its stdout."""
    done = subprocess.run([str(a) for a in args], cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    assert done.returncode == 0, f"{' '.join(map(str, args))} failed:\n{done.stdout[-4000:]}\n{done.stderr[-4000:]}"
    return done.stdout


@pytest.fixture(scope="module")
def dist(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("dist")
    run(sys.executable, "-m", "build", "--outdir", out, ROOT)
    return out


def only(folder: Path, pattern: str) -> Path:
    found = sorted(folder.glob(pattern))
    assert len(found) == 1, f"expected one {pattern} in {folder}, found {found}"
    return found[0]


@pytest.fixture(scope="module")
def installed(dist, tmp_path_factory) -> tuple[Path, float]:
    """(python of a fresh environment with the wheel installed, seconds the install took)."""
    env = tmp_path_factory.mktemp("env")
    run(sys.executable, "-m", "venv", env)
    python = env / "bin" / "python"
    start = time.perf_counter()
    run(python, "-m", "pip", "install", "--quiet", only(dist, "*.whl"), *PINS, *KERNEL)
    return python, time.perf_counter() - start


def test_twine_accepts_the_sdist_and_wheel(dist):
    out = run(sys.executable, "-m", "twine", "check", "--strict", *sorted(dist.iterdir()))
    assert out.count("PASSED") == 2


def test_the_wheel_holds_every_file_the_package_reads(dist):
    """Every file under src/neuroblocks (sources, bundled weights, built JS and CSS) is in the
    wheel: the check that would have caught the missing stylesheet."""
    wanted = {p.relative_to(PACKAGE.parent).as_posix() for p in PACKAGE.rglob("*") if p.is_file() and "__pycache__" not in p.parts}
    assert {"neuroblocks/static/neuroblocks.js", "neuroblocks/static/neuroblocks.css", "neuroblocks/static/neuroblocks-page.js", "neuroblocks/shapes/shapesnet.pt", "neuroblocks/shapes/shapesnet_gray.pt"} <= wanted
    with zipfile.ZipFile(only(dist, "*.whl")) as wheel:
        shipped = set(wheel.namelist())
        metadata = wheel.read(next(n for n in shipped if n.endswith(".dist-info/METADATA"))).decode()
    assert not wanted - shipped, f"missing from the wheel: {sorted(wanted - shipped)}"
    assert f"Version: {nb.__version__}" in metadata, "the version has one source: neuroblocks.__version__"
    with tarfile.open(only(dist, "*.tar.gz")) as sdist:
        names = {n.split("/", 1)[1] for n in sdist.getnames() if "/" in n}
    assert {f"src/{n}" for n in wanted} <= names, "the sdist ships the built bundle, so a wheel built from it needs no Node.js"
    assert {"js/package.json", "js/package-lock.json", "js/src/index.js", "LICENSE", "CHANGELOG.md"} <= names


def test_the_installed_wheel_builds_every_view_exports_and_runs_a_notebook(installed, tmp_path):
    python, seconds = installed
    print(f"installed the wheel, torch pins and a kernel into a fresh environment in {seconds:.0f} s")
    work = tmp_path / "elsewhere"  # outside the checkout; `-I` keeps the checkout and PYTHONPATH off the path
    work.mkdir()
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"} | {"NEUROBLOCKS_CACHE": str(tmp_path / "cache")}
    out = run(python, "-I", ROOT / "tests" / "installed" / "use_the_package.py", ROOT / "notebooks" / "teaser.ipynb", work, cwd=work, env=env)
    found = json.loads(out.strip().splitlines()[-1])
    assert Path(found["imported_from"]).is_relative_to(python.parents[1]), f"imported from {found['imported_from']}, not the fresh environment"
    assert found["version"] == nb.__version__
    views = found["views"]
    assert len(views) == 9 and all(v["error"] == "" for v in views.values()), views
    assert all(v["icons"] > 0 for name, v in views.items() if name not in ("spatial_attribution", "feature_vis")), views
    assert views["feature_vis"]["render"] == "done"
    assert found["html_bytes"] > 100_000, "the exported page embeds the bundle, the stylesheet and the data"
    assert sorted(found["gray_top2"]) == sorted(shapes.scene(3, classes=2).labels), "the grayscale model's weights ship and work"
    assert found["notebook_errors"] == [] and found["notebook_view_kinds"], found
