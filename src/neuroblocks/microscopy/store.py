"""A microscope on disk: every unit of chosen layers of one model, with what explains it, in a
documented layout (docs/guides/microscope.md) keyed by the model's weights, so a build resumes
where it stopped and any tool can read it:

    <out>/<model>-<fingerprint>/
      manifest.json              the model, its fingerprint, the budgets, the layers in depth order
      <layer>/layer.pt           the layer's dataset results: exemplars, statistics, class support, feeds
      <layer>/units/<u>.json     a finished unit: label, statistics, classes, feeds (written last)
      <layer>/units/<u>/         icon.png, icon-input.png, diversity.png, exemplars.png

Every file is written to a temporary name and renamed into place, so a crash or a Cancel never
leaves half a file; a unit whose json exists is finished and never redone.
"""

from __future__ import annotations

import json
import os
import re
import threading
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from ..dissection.dataset_examples import Examples
from ..dissection.exemplars import serve
from ..featurevis import objectives
from ..featurevis.icon_cache import icon_service
from ..errors import NeuroblocksError
from ..session import Session
from ..units import Units
from .site import export_site

MANIFEST = "manifest.json"
FORMAT = 1  # bump when the layout changes


class MicroscopeError(NeuroblocksError):
    """A microscope that cannot be opened or does not fit the session."""


def atomic(path: Path, write) -> Path:
    """`write(tmp)`, then rename `tmp` to `path`: readers see the old file or the whole new one."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    try:
        write(tmp)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path


def write_json(path: Path, value: object) -> Path:
    return atomic(path, lambda tmp: tmp.write_text(json.dumps(value, indent=1), encoding="utf-8"))


def save_tensors(path: Path, value: dict) -> Path:
    return atomic(path, lambda tmp: torch.save(value, tmp))


def model_name(session: Session) -> str:
    """The catalogue name the session was loaded as, else the model's class."""
    return session.loaded_as[0] if session.loaded_as else type(session.model).__name__


def write_png(path: Path, rgb: np.ndarray) -> Path:
    return atomic(path, lambda tmp: Image.fromarray(np.ascontiguousarray(rgb, dtype=np.uint8)).save(tmp, format="PNG"))


class MicroscopeStore:
    """An open microscope (`microscope` builds one; `MicroscopeStore(path)` opens one)."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)
        path = self.root / MANIFEST
        if not path.is_file():
            raise MicroscopeError(f"no microscope at {self.root} (no {MANIFEST}); build one with nb.microscope(session, data=..., out=...)")
        self.manifest = json.loads(path.read_text(encoding="utf-8"))
        if self.manifest.get("format") != FORMAT:
            raise MicroscopeError(f"the microscope at {self.root} is of format {self.manifest.get('format')}, this neuroblocks reads {FORMAT}: build it again")
        self._layers: dict[str, dict] = {}

    @staticmethod
    def folder(session: Session, out: str | Path) -> Path:
        """Where `session`'s model's microscope lives under `out`: one folder per weights."""
        return Path(out) / f"{re.sub(r'[^A-Za-z0-9_.-]+', '-', model_name(session))}-{session.fingerprint[:12]}"

    # -- what it holds ------------------------------------------------------------------------

    @property
    def layers(self) -> list[str]:
        return [entry["name"] for entry in self.manifest["layers"]]

    def entry(self, layer: str) -> dict:
        for entry in self.manifest["layers"]:
            if entry["name"] == layer:
                return entry
        raise MicroscopeError(f"this microscope has no layer {layer!r}; it holds {', '.join(self.layers)}")

    def count(self, layer: str) -> int:
        return int(self.entry(layer)["count"])

    def unit_dir(self, layer: str, u: int) -> Path:
        return self.root / layer / "units" / str(u)

    def page_path(self, layer: str, u: int) -> Path:
        return self.root / layer / "units" / f"{u}.json"

    def finished(self, layer: str) -> set[int]:
        """The units whose pages are written."""
        folder = self.root / layer / "units"
        if not folder.is_dir():
            return set()
        return {int(p.stem) for p in folder.glob("*.json") if p.stem.isdigit()}

    def page(self, layer: str, u: int) -> dict:
        """A finished unit's page: {unit, label, source, evidence, stats, classes, below, above, images}."""
        path = self.page_path(layer, u)
        if not path.is_file():
            raise MicroscopeError(f"unit {u} of {layer} is not in this microscope yet (finished: {len(self.finished(layer))} of {self.count(layer)}); resume the build")
        return json.loads(path.read_text(encoding="utf-8"))

    def layer_data(self, layer: str) -> dict:
        """The layer's dataset results (`layer.pt`), read once."""
        if layer not in self._layers:
            path = self.root / layer / "layer.pt"
            if not path.is_file():
                raise MicroscopeError(f"the dataset pass of {layer} has not finished in this microscope; resume the build")
            self._layers[layer] = torch.load(path, map_location="cpu", weights_only=True)
        return self._layers[layer]

    def labels(self, layer: str) -> list[str]:
        """Each finished unit's label ("" where none, or not finished), in unit order."""
        found = self.finished(layer)
        return [self.page(layer, u)["label"] if u in found else "" for u in range(self.count(layer))]

    # -- serving views ------------------------------------------------------------------------

    def check(self, session: Session) -> None:
        if session.fingerprint != self.manifest["fingerprint"]:
            raise MicroscopeError(
                f"this microscope is of {self.manifest['model']} with weights {self.manifest['fingerprint'][:12]}, not this session's "
                f"({session.fingerprint[:12]}): open the one built for these weights"
            )

    def exemplars(self, session: Session, units: Units, k: int) -> Examples | None:
        """The stored exemplars of `units`, when this microscope holds them (same weights, layer and units)."""
        if session.fingerprint != self.manifest["fingerprint"] or units.layer not in self.layers:
            return None
        if self.entry(units.layer)["units"] != units.icon_key or not (self.root / units.layer / "layer.pt").is_file():
            return None
        data = self.layer_data(units.layer)
        if data["scores"].shape[1] < k:
            return None
        return Examples(units.layer, data["scores"][:, :k], data["images"][:, :k], data["crops"][:, :k], data["maps"][:, :k], units)

    def serve(self, session: Session) -> MicroscopeStore:
        """Answer `session`'s views from this microscope: their exemplar requests, and their
        icons (its full-budget icons put into the session's icon cache). Returns itself."""
        self.check(session)
        serve(session, self)
        service, full = icon_service(session), self.manifest["full"]
        for layer in self.layers:
            data = self.layer_data(layer) if (self.root / layer / "layer.pt").is_file() else {}
            for u in sorted(self.finished(layer)):
                vector = data["directions"][u] if "directions" in data else None
                objective = objectives.channel(layer, u) if vector is None else objectives.direction(layer, vector)
                for at, name in (("native", "icon.png"), ("input", "icon-input.png")):
                    with Image.open(self.unit_dir(layer, u) / name) as image:
                        service.store(service.key(objective, full["size"], full["steps"], 0, at), np.asarray(image.convert("RGB")))
        return self

    def export(self, out: str | Path) -> Path:
        """This microscope as a static site under `out` (`site`); returns its index page."""
        return export_site(self, out)
