"""mkdocs hooks.

The home page is the README itself (read whole, so the two never drift apart); its links,
written for a reader of the repository, point from the repository's root into docs/, and on the
site they are made relative to the docs again.

Material's offline plugin (search from a file:// page) loads a small shim, iframe-worker, from
unpkg.com unless the site names its own copy: the site ships the copy npm installed in js/
(`make install`), so no page reaches a CDN."""

from __future__ import annotations

import shutil
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SHIM = ROOT / "js" / "node_modules" / "iframe-worker" / "shim" / "index.js"
SHIM_URL = "assets/iframe-worker-shim.js"


def on_config(config, **_):
    if not SHIM.is_file():
        raise FileNotFoundError(f"{SHIM} is missing: run `make install` (npm ci in js/) before building the docs")
    config.extra["polyfills"] = [SHIM_URL]  # before the offline plugin looks: it then adds no CDN copy
    return config


def on_page_markdown(markdown: str, page, config, **_) -> str:
    if page.file.src_uri != "index.md":
        return markdown
    return (ROOT / "README.md").read_text(encoding="utf-8").replace("](docs/", "](")


def on_post_build(config, **_) -> None:
    shutil.copyfile(SHIM, Path(config["site_dir"]) / SHIM_URL)
