"""Shared fixtures: real models (the bundled shapes model, randomly initialised torchvision
GoogLeNet and ResNet18, MobileNetV2 with torchvision's ImageNet weights) and the article's photo
from ../shared/data, with the regions its animals cover."""

from __future__ import annotations

import ctypes
import ctypes.util
import gc
import importlib.util
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

import neuroblocks as nb

ROOT = Path(__file__).resolve().parents[1]
DOG_CAT = ROOT.parent / "shared" / "data" / "dog_cat.jpg"
CLOSED_PORT = "http://127.0.0.1:9"
#: torchvision's MobileNetV2 IMAGENET1K_V1 file, put in the project's torch hub cache by `make weights`.
MOBILENET = Path(os.environ.get("TORCH_HOME") or ROOT / ".torch").resolve() / "hub" / "checkpoints" / "mobilenet_v2-b0353104.pth"
#: The animals of the article's photo (550×367), as (x0, y0, x1, y1) boxes in photo pixels, drawn
#: by hand over it: the puppy's head and its body, the kitten (tail left out).
DOG_BOXES = [(130, 55, 318, 195), (50, 150, 340, 325)]
CAT_BOXES = [(350, 158, 445, 325)]


_BEFORE = pytest.StashKey[set]()
_STARTED = pytest.StashKey[float]()
_PEAKS: list[tuple[float, float, str]] = []
_LIBC = ctypes.CDLL(ctypes.util.find_library("c")) if sys.platform == "linux" else None  # (GB the test raised pytest's peak by, the peak after it, test id)


def _peak_gb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20


@pytest.hookimpl(wrapper=True)
def pytest_runtest_protocol(item, nextitem):
    """Which tests raise the run's peak memory, and by how much (printed at the end)."""
    before = _peak_gb()
    handled = yield
    after = _peak_gb()
    if after - before > 0.05:
        _PEAKS.append((after - before, after, item.nodeid))
    last_of_file = nextitem is None or nextitem.path != item.path
    if last_of_file or _params(item) != _params(nextitem):  # fixtures of this file or parameter are gone
        _release_memory()
    if last_of_file:
        _file_ended(item)
    return handled


def _params(item) -> str:
    """Which parameters a test runs with (its id's bracket part); values may be arrays, ids compare."""
    return getattr(getattr(item, "callspec", None), "id", "")


def _release_memory() -> None:
    """Memory freed by torn-down fixtures (a zoo model, a file's sessions) is handed back to the
    system: glibc keeps freed arenas otherwise, and the next test's peak would stand on them."""
    if _LIBC is not None:
        gc.collect()
        _LIBC.malloc_trim(0)


_FAILED: list[str] = []  # this file's failures so far: "nodeid: first line of the reason"


def pytest_runtest_logreport(report) -> None:
    if report.failed:
        reason = str(report.longrepr.reprcrash.message if hasattr(report.longrepr, "reprcrash") else report.longrepr).splitlines()
        _FAILED.append(f"{'ERROR' if report.when != 'call' else 'FAILED'} {report.nodeid}: {reason[0] if reason else ''}")


def _file_ended(item) -> None:
    """With --file-reports, the file's failures are printed now, so a run cut short (the GPU
    check's time limit) keeps what it found."""
    if item.config.getoption("file_reports"):
        reporter = item.config.pluginmanager.get_plugin("terminalreporter")
        reporter.write("\n")
        reporter.write_line(f"{item.path.name} done: {len(_FAILED)} failed" + "".join(f"\n  {line}" for line in _FAILED), flush=True)
    _FAILED.clear()


def _changed_files() -> set[str] | None:
    """`git status --porcelain` lines, or None outside a git checkout."""
    try:
        done = subprocess.run(["git", "status", "--porcelain", "--untracked-files=all"], cwd=ROOT, capture_output=True, text=True, check=True)
    except (OSError, subprocess.CalledProcessError):
        return None
    return set(done.stdout.splitlines())


def pytest_sessionstart(session) -> None:
    session.config.stash[_BEFORE] = _changed_files()
    session.config.stash[_STARTED] = time.monotonic()


def pytest_terminal_summary(terminalreporter, exitstatus, config) -> None:
    """The run's cost, for the budget `make test` keeps (30 minutes, 8 GB on 2 cores): its wall
    time and the peak resident memory of pytest and of its largest child (a kernel, a server)."""
    own, child = (resource.getrusage(who).ru_maxrss / 2**20 for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN))
    minutes = (time.monotonic() - config.stash.get(_STARTED, time.monotonic())) / 60
    for raised, peak, test in sorted(_PEAKS, reverse=True)[:5]:
        terminalreporter.write_line(f"peak memory raised {raised:+.2f} GB (to {peak:.2f} GB) by {test}")
    terminalreporter.write_line(f"suite cost: {minutes:.1f} min wall, peak resident memory {own:.2f} GB (pytest), {child:.2f} GB (largest child process)")


def pytest_sessionfinish(session) -> None:
    """A test run leaves the checkout as it found it: artifacts go to ignored folders."""
    before, after = session.config.stash.get(_BEFORE, None), _changed_files()
    shots = session.config.getoption("screenshots")
    if shots is not None and after is not None:  # `make screenshots` redraws the README's pictures on purpose
        folder = str(shots.resolve().relative_to(ROOT)) if shots.resolve().is_relative_to(ROOT) else None
        after = {line for line in after if folder is None or not line[3:].startswith(folder)}
    if before is None or after is None or not (dirtied := sorted(after - before)):
        return
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    reporter.write_line(f"FAILED: the test run changed the checkout (write artifacts under test-artifacts/): {dirtied}", red=True)
    session.exitstatus = pytest.ExitCode.TESTS_FAILED


def _notebook_pages():
    """docs/notebook_pages.py, the docs build's notebook step (a script, not part of the package)."""
    spec = importlib.util.spec_from_file_location("notebook_pages", ROOT / "docs" / "notebook_pages.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


notebook_pages = _notebook_pages()


class NotebookRuns:
    """Each bundled notebook executed once per test run, as the docs build executes it (fast:
    icons not awaited), its live views exported into docs/generated/views/ (ignored by git): the
    notebook tests read the executed notebooks, the docs-site test builds its pages from them."""

    def __init__(self, out: Path) -> None:
        self.out, self._done = out, {}

    def __call__(self, name: str):
        if name not in self._done:
            self._done[name] = notebook_pages.execute(ROOT / "notebooks" / f"{name}.ipynb", self.out / "views", fast=True)
        return self._done[name]


@pytest.fixture(scope="session")
def notebook_runs() -> NotebookRuns:
    return NotebookRuns(ROOT / "docs" / "generated")


@pytest.fixture(autouse=True)
def _no_work_left_over():
    """Views a test built but did not wait for stop with it, so their work cannot slow down or
    warn into the next test."""
    yield
    assert nb.work.stop_all(timeout=120), "background work still running 120 s after the test"


def pytest_collection_modifyitems(config, items) -> None:
    """The notebook pictures take minutes each and check nothing the suite does not: they run
    only when asked for with --screenshots (`make screenshots`)."""
    if config.getoption("screenshots") is None:
        kept = [item for item in items if item.get_closest_marker("screenshots") is None]
        config.hook.pytest_deselected(items=[item for item in items if item not in kept])
        items[:] = kept


def pytest_addoption(parser) -> None:
    parser.addoption("--screenshots", type=Path, default=None, help="where the gallery test saves one picture per view once its icons are in (`make screenshots` gives docs/screenshots); without it, none")
    parser.addoption("--file-reports", action="store_true", help="print each test file's failures as soon as it ends (the GPU check's time limit may cut the run)")
    parser.addoption("--device", default=None, help="run every Session (and the notebooks' kernels) on this device, e.g. cuda; the same as NEUROBLOCKS_DEVICE")


def pytest_configure(config) -> None:
    """--device reaches every Session through NEUROBLOCKS_DEVICE, kernels started by the tests
    included; so does the project's torch hub cache (where `make weights` puts real weights)."""
    os.environ.setdefault("TORCH_HOME", str(ROOT / ".torch"))
    if config.getoption("--device"):
        os.environ["NEUROBLOCKS_DEVICE"] = config.getoption("--device")
    if nb.session.default_device().type == "cuda":
        # References (Captum, finite differences, sums by hand) in full float32, as attribution
        # runs (neuroblocks.precision); TF32 would move them 1e-2 off what they check.
        nb.precision.set_tf32_settings(nb.precision.FULL_FLOAT32)


def pytest_report_header(config) -> str:
    return f"neuroblocks sessions on: {nb.session.default_device()} (NEUROBLOCKS_DEVICE or --device)"


@pytest.fixture
def offline(monkeypatch, tmp_path):
    """No reachable internet (downloads fail for real, at a closed loopback port, even on a
    machine that is online), and an empty torch hub cache of our own."""
    for var in ("http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY"):
        monkeypatch.setenv(var, CLOSED_PORT)
    for var in ("no_proxy", "NO_PROXY"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    return tmp_path


@pytest.fixture(scope="session", autouse=True)
def private_icon_cache(tmp_path_factory):
    """Icons rendered by tests go to a scratch cache, never the user's ~/.cache."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("NEUROBLOCKS_CACHE", str(tmp_path_factory.mktemp("neuroblocks-cache")))
        yield


@pytest.fixture(scope="session")
def dog_cat() -> Path:
    assert DOG_CAT.is_file(), f"the article's photo is expected at {DOG_CAT} (../shared/data beside the checkout)"
    return DOG_CAT


def region(boxes: list[tuple[int, int, int, int]], size: tuple[int, int] = (367, 550)):
    """A boolean (H, W) mask of the photo covering `boxes`."""
    import numpy as np

    mask = np.zeros(size, bool)
    for x0, y0, x1, y1 in boxes:
        mask[y0:y1, x0:x1] = True
    return mask


@pytest.fixture(scope="session")
def mobilenet_file() -> Path:
    assert MOBILENET.is_file(), f"torchvision's MobileNetV2 weights are expected at {MOBILENET}: run `make weights`"
    return MOBILENET


@pytest.fixture(scope="session")
def mobilenet(mobilenet_file) -> nb.Session:
    """MobileNetV2 with its real ImageNet weights, loaded the way a user's would be."""
    return nb.Session.load("mobilenet_v2", weights=mobilenet_file)


@pytest.fixture(scope="session")
def shapes_session() -> nb.Session:
    return nb.Session.load("shapes")


@pytest.fixture(scope="session")
def shapes_gray() -> nb.Session:
    return nb.Session.load("shapes-gray")


@pytest.fixture(scope="session")
def shapes_seed1() -> nb.Session:
    return nb.Session.load("shapes-seed1")


@pytest.fixture(scope="session")
def shapes_vit() -> nb.Session:
    return nb.Session.load("shapes-vit")


def _random(name: str) -> nb.Session:
    torch.manual_seed(0)
    return nb.Session.load(name, weights="random")


@pytest.fixture(scope="session")
def googlenet() -> nb.Session:
    return _random("googlenet")


@pytest.fixture(scope="session")
def resnet18() -> nb.Session:
    return _random("resnet18")


@pytest.fixture(params=["shapes_session", "googlenet", "resnet18"])
def any_session(request) -> nb.Session:
    """Each of the three model families the Session must serve without per-model code."""
    return request.getfixturevalue(request.param)


class FixedParts(nb.units.Units):
    """Units made in the tests: given spatial maps (k, H, W) times given directions (k, C), the
    same on every input, so attribution to them has a closed form to check against."""

    noun = "part"

    def __init__(self, layer: str, spatial: torch.Tensor, directions: torch.Tensor) -> None:
        self.layer, self.spatial, self.directions, self.count = layer, spatial, directions, len(directions)

    def codes(self, a: torch.Tensor) -> torch.Tensor:
        s = self.spatial.to(a)
        return s if a.dim() == 3 else s[None].expand(a.shape[0], -1, -1, -1)

    @property
    def atoms(self) -> torch.Tensor:
        return self.directions

    @property
    def icon_key(self) -> str:
        return f"{self.layer}:parts"
