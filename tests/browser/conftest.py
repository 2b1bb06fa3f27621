"""Real servers and a real browser: a Jupyter server started by the tests, Debian's Chromium
driven by Playwright."""

from __future__ import annotations

import json
import os
import re
import secrets
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import pytest

from conftest import notebook_pages

ROOT = Path(__file__).resolve().parents[2]
#: What anywidget gives a view (get/set/on/off/send/save_changes), for pages that host views
#: without a Jupyter server; what a view sends the kernel is queued in `window.outbox`.
HOST_MODEL = """class HostModel {
  constructor(state) { this.state = state; this.handlers = {}; }
  get(name) { return this.state[name]; }
  set(name, value) { this.state[name] = value; this.emit(`change:${name}`); }
  on(event, fn) { (this.handlers[event] ||= []).push(fn); }
  off(event, fn) { const list = this.handlers[event] || []; const i = list.indexOf(fn); if (i >= 0) list.splice(i, 1); }
  emit(event, ...args) { for (const fn of [...(this.handlers[event] || [])]) fn(...args); }
  save_changes() {}
  send(content) { (window.outbox ||= []).push(content); }
}"""
CHROMIUM = "/usr/bin/chromium"
ARTIFACTS = ROOT / "test-artifacts"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class JupyterServer:
    """`jupyter lab` or `jupyter notebook` on loopback, serving a copy of notebooks/."""

    def __init__(self, app: str, root: Path, env: dict[str, str] | None = None) -> None:
        self.port, self.token = _free_port(), secrets.token_hex(16)
        self.url = f"http://127.0.0.1:{self.port}"
        state = Path(tempfile.mkdtemp(prefix=f"jupyter-{app}-"))  # no settings or workspaces from earlier runs
        # Start the notebook's kernel without asking, and no news pop-up over the page.
        # Every cell attached and rendered (windowing off), so an output below the fold exists and draws.
        for plugin, values in {"notebook-extension/tracker": {"autoStartDefaultKernel": True, "windowingMode": "none"}, "apputils-extension/notification": {"fetchNews": "false"}}.items():
            path = state / "settings" / "@jupyterlab" / f"{plugin}.jupyterlab-settings"
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(json.dumps(values))
        env = {**os.environ, "JUPYTER_CONFIG_DIR": str(state / "config"), "JUPYTER_RUNTIME_DIR": str(state / "runtime"), **(env or {})}
        self.log = open(state / "server.log", "w")
        self.log_path = state / "server.log"
        self.process = subprocess.Popen(
            [sys.executable, "-m", "jupyter", app, "--no-browser", f"--port={self.port}", "--ip=127.0.0.1",
             f"--IdentityProvider.token={self.token}", f"--ServerApp.root_dir={root}", "--allow-root",
             f"--LabApp.workspaces_dir={state / 'workspaces'}", f"--LabApp.user_settings_dir={state / 'settings'}",
             f"--JupyterNotebookApp.user_settings_dir={state / 'settings'}"],
            stdout=self.log, stderr=subprocess.STDOUT, env=env,
        )
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            try:
                urllib.request.urlopen(f"{self.url}/api/status?token={self.token}", timeout=2)
                return
            except OSError:
                assert self.process.poll() is None, self.log_path.read_text()
                time.sleep(0.5)
        raise TimeoutError(f"jupyter {app} did not start within 90 s; see {self.log_path}")

    def page(self, path: str) -> str:
        return f"{self.url}/{path}?token={self.token}"

    def stop(self) -> None:
        """Shut the kernels down first (through the server's API), so that work a notebook left
        running in the background (icons still rendering) ends now, not while the next test runs."""
        try:
            with urllib.request.urlopen(f"{self.url}/api/kernels?token={self.token}", timeout=5) as response:
                kernels = json.load(response)
            for kernel in kernels:
                request = urllib.request.Request(f"{self.url}/api/kernels/{kernel['id']}?token={self.token}", method="DELETE")
                urllib.request.urlopen(request, timeout=30).close()
        except OSError:  # already stopped (a test may stop its server itself)
            pass
        self.process.terminate()
        try:
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.process.kill()
        self.log.close()


@pytest.fixture
def serve(tmp_path):
    """serve(app, notebook) → (server, folder): `jupyter lab` or `jupyter notebook` over a scratch
    copy of one bundled notebook (autosave never edits the checkout), with its own icon cache;
    `shorter`: with the docs build's fast-mode edits (`notebook_pages.SHORTER`: fewer scenes)."""
    servers = []

    def start(app: str, notebook: str, cache: Path | None = None, shorter: bool = False) -> tuple[JupyterServer, Path]:
        root = tmp_path / f"{app}-notebooks"
        root.mkdir()
        text = (ROOT / "notebooks" / notebook).read_text()
        for old, new in (notebook_pages.SHORTER.get(notebook, {}) if shorter else {}).items():
            text = text.replace(old, new)
        (root / notebook).write_text(text)
        servers.append(JupyterServer(app, root, env={"NEUROBLOCKS_CACHE": str(cache or tmp_path / f"{app}-cache")}))
        return servers[-1], root

    yield start
    for server in servers:
        server.stop()


@pytest.fixture
def open_notebook(serve, page):
    """open_notebook(notebook, done_text, app="lab") → (server, its scratch folder, console errors
    so far): a bundled notebook opened in `jupyter lab` (or `notebook`) and run to the output
    `done_text`; `cache`: the icon cache to use instead of a fresh one; `shorter`: see `serve`."""

    def start(notebook: str, done_text: str | None, app: str = "lab", timeout_s: float = 360, cache: Path | None = None, shorter: bool = False) -> tuple[JupyterServer, Path, list[str]]:
        server, root = serve(app, notebook, cache, shorter)
        errors = watch_console(page)
        page.goto(server.page(f"lab/tree/{notebook}" if app == "lab" else f"notebooks/{notebook}"))
        try:
            run_all_cells(page, done_text=done_text, timeout_s=timeout_s, errors=errors)
        except AssertionError as e:
            raise AssertionError(f"{e}; console errors {errors}") from e
        return server, root, errors

    return start


@pytest.fixture(scope="session")
def browser():
    from playwright.sync_api import sync_playwright

    assert Path(CHROMIUM).exists(), f"browser tests need Debian's Chromium at {CHROMIUM}: `make test` installs it"
    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=CHROMIUM, headless=True,
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"],
        )
        yield browser
        browser.close()


def run_all_cells(page, done_text: str | None, timeout_s: float = 120, errors: list[str] | None = None) -> None:
    """Open-notebook → Run All Cells, until an output containing `done_text` is in the page (with
    None: until every code cell has run).

    Right after a notebook opens, its kernel may still be connecting. JupyterLab then sometimes
    asks which kernel to use (a dialog that swallows the menu click), drops the cells queued
    after the first, or renders a widget whose model it never received ("Error displaying
    widget: model not found"). A user would run the notebook again, so this does, but only once
    nothing is running: clicking Run All while cells run would clear and re-run them all. The
    console errors of the widgets that run replaced are dropped from `errors`.
    """
    page.wait_for_selector(".jp-Notebook .jp-Cell", timeout=60_000)
    indicator = page.locator(".jp-Notebook-ExecutionIndicator")
    if indicator.count():  # JupyterLab's toolbar shows the kernel's state; wait until it is ready
        page.wait_for_selector(".jp-Notebook-ExecutionIndicator[data-status='idle']", timeout=90_000)
    else:
        page.wait_for_selector("#jp-NotebookKernelStatus", timeout=60_000)
    done = page.locator(".jp-OutputArea-output").filter(has_text=done_text).first if done_text else None
    running = page.locator(".jp-InputPrompt").filter(has_text="[*]")
    never_ran = page.locator(".jp-CodeCell .jp-InputPrompt").filter(has_text=re.compile(r"^\s*\[ \]"))
    broken = page.locator(".jp-OutputArea-output").filter(has_text="Error displaying widget")
    page.wait_for_timeout(3_000)  # the widget manager registers with the kernel just after it turns idle
    deadline = time.monotonic() + timeout_s
    runs, idle_since = 0, None
    while time.monotonic() < deadline:
        now = time.monotonic()
        if runs == 0 or (runs < 3 and idle_since is not None and now - idle_since > 5 and (never_ran.count() or broken.count())):
            dialog = page.locator(".jp-Dialog .jp-mod-accept")
            if dialog.count():
                dialog.first.click()
                page.wait_for_selector(".jp-Dialog", state="detached")
            page.click(".lm-MenuBar-itemLabel:text-is('Run')")
            page.click(".lm-Menu-itemLabel:text-is('Run All Cells')")
            runs, idle_since = runs + 1, None
            if errors is not None:
                errors[:] = [e for e in errors if "widget model not found" not in e]
        page.wait_for_timeout(1_000)
        if running.count():
            idle_since = None
            continue
        idle_since = idle_since or time.monotonic()
        if done is None and not never_ran.count() and not broken.count():
            return
        if done is not None and done.count() and not broken.count():
            done.scroll_into_view_if_needed()
            return
    prompts = page.locator(".jp-CodeCell .jp-InputPrompt").all_inner_texts()
    stderr = page.locator(".jp-OutputArea-output[data-mime-type*='stderr'], .jp-RenderedText[data-mime-type*='error']").all_inner_texts()
    outputs = [t[:200] for t in page.locator(".jp-OutputArea-output").all_inner_texts()]
    raise AssertionError(f"no output {done_text!r} after {timeout_s} s and {runs} runs; cell prompts {prompts}; error outputs {[t[-400:] for t in stderr]}; outputs {outputs}")


def view(page, title: str):
    return page.locator(".nb-view").filter(has=page.locator(".nb-title", has_text=title)).first


def notebook7_own(error) -> bool:
    """Notebook 7.6 throws this while loading its settings, with no widget on the page (seen
    here on the plain demo notebook too; also reported as gilad-rubin/hypster#108): its stack
    lies wholly in Notebook's own bundle, so it says nothing about our views."""
    frames = [line for line in (error.stack or "").splitlines() if " at " in line]
    return "reading 'schema'" in str(error) and all("/static/notebook/notebook_core" in f or "Promise.all" in f for f in frames)


def lab_debugger_noise(message) -> bool:
    """JupyterLab's debugger logs this from its own bundle when its state request to a busy
    kernel is cancelled; it is about the debugger panel, not the page's widgets."""
    return message.text.startswith("Could not restore the debugger state") and "/static/" in message.location.get("url", "")


def anywidget_warning(message) -> bool:
    """anywidget's own warnings about our module (a deprecated export format) count as errors."""
    return message.type == "warning" and message.text.startswith("[anywidget]")


def watch_console(page) -> list[str]:
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if (m.type == "error" and not lab_debugger_noise(m)) or anywidget_warning(m) else None)
    page.on("pageerror", lambda e: None if notebook7_own(e) else errors.append(str(e)))
    return errors


def hover_cell(page, picture, fx: float, fy: float) -> None:
    """Move the mouse onto a point of a picture, arriving from beside it (a mouse already
    standing on the point would send no mousemove); scrolled into view first (a row wider than
    the page scrolls sideways)."""
    picture.evaluate("e => e.scrollIntoView({block: 'center', inline: 'center'})")  # all of it, not just a part
    box = picture.bounding_box()
    x, y = box["x"] + box["width"] * fx, box["y"] + box["height"] * fy
    page.mouse.move(x - 3, y - 3)
    page.mouse.move(x, y, steps=3)


def drawn(locator) -> bool:
    """Something visible: a loaded image, a non-empty SVG or a painted canvas, and a real size. (The notebook
    renders only cells near the viewport, so go there first.)"""
    locator.scroll_into_view_if_needed()
    return locator.evaluate(
        """el => { const r = el.getBoundingClientRect();
                   const img = [...el.querySelectorAll('img')].some(i => i.naturalWidth > 0);
                   const svg = [...el.querySelectorAll('svg')].some(s => s.childElementCount > 0);
                   const canvas = [...el.querySelectorAll('canvas')].some(c => c.width > 0 &&
                       c.getContext('2d').getImageData(0, 0, c.width, c.height).data.some((v, i) => i % 4 === 3 && v > 0));
                   return r.width * r.height > 10000 && (img || svg || canvas); }"""
    )


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    if report.when == "call":
        item.failed_call = report.failed


@pytest.fixture
def page(browser, request):
    """A fresh browser page; on failure its screenshot lands in test-artifacts/ for diagnosis. A
    view that ends the test showing its error box fails it: a person would have seen it."""
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    yield page
    shown = [] if page.is_closed() else page.locator(".nb-error:visible").all_inner_texts()
    if getattr(request.node, "failed_call", False) or shown:
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / f"FAILED-{request.node.name}.png"))
    context.close()
    assert not shown, f"a view shows an error: {shown}"
