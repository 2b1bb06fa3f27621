"""The package as users get it: `python -m build` makes the sdist and, from it, the wheel;
`twine check` passes; the wheel holds every file the package reads at run time; and, installed
into a fresh virtual environment outside the checkout, it builds every view, exports a page
and runs a bundled notebook. Torch comes from the same pinned builds `make install` uses, so
nothing beyond the package registries (and pip's cache of them) is needed."""

from __future__ import annotations

import json
import subprocess
import sys
import tarfile
import time
import zipfile
from pathlib import Path

import pytest

import neuroblocks as nb

pytestmark = pytest.mark.wheel

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "src" / "neuroblocks"
PINS = ["torch==2.14.1", "torchvision==0.29.1"]
KERNEL = ["nbclient>=0.10", "ipykernel>=6.29"]  # what running a notebook takes; not the package's own needs


def run(*args: str | Path, cwd: Path | None = None) -> str:
    done = subprocess.run([str(a) for a in args], cwd=cwd, capture_output=True, text=True)
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
    assert {"neuroblocks/static/neuroblocks.js", "neuroblocks/static/neuroblocks.css", "neuroblocks/static/neuroblocks-page.js", "neuroblocks/shapes/shapesnet.pt"} <= wanted
    with zipfile.ZipFile(only(dist, "*.whl")) as wheel:
        shipped = set(wheel.namelist())
        metadata = wheel.read(next(n for n in shipped if n.endswith(".dist-info/METADATA"))).decode()
    assert not wanted - shipped, f"missing from the wheel: {sorted(wanted - shipped)}"
    assert f"Version: {nb.__version__}" in metadata, "the version has one source: neuroblocks.__version__"
    with tarfile.open(only(dist, "*.tar.gz")) as sdist:
        names = {n.split("/", 1)[1] for n in sdist.getnames() if "/" in n}
    assert {f"src/{n}" for n in wanted} <= names, "the sdist ships the built bundle, so a wheel built from it needs no Node.js"
    assert {"js/package.json", "js/package-lock.json", "js/src/index.js", "LICENSE", "CHANGELOG.md"} <= names
