"""Where neuroblocks keeps what it computed on disk (icons, trained dictionaries), so that a second
look costs nothing: one directory for every feature, which a user can point elsewhere."""

from __future__ import annotations

import os
from pathlib import Path


def cache_dir() -> Path:
    """$NEUROBLOCKS_CACHE, else $XDG_CACHE_HOME/neuroblocks, else ~/.cache/neuroblocks."""
    if os.environ.get("NEUROBLOCKS_CACHE"):
        return Path(os.environ["NEUROBLOCKS_CACHE"])
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "neuroblocks"
