"""Building a microscope of your own model: for every unit of chosen layers, its icon at two
scales and a diversity set, its top dataset exemplars with where it fires, its dissection label
when concept masks are given, its class support, the units below that feed it most and those
above it feeds most, and its activation statistics (docs/guides/microscope.md).

It runs as dataset jobs (this process or Ray, on the session's device) and stores as it goes
(`store`): each layer's dataset results once they are complete, then each unit's page. A build
stopped by a crash or a Cancel resumes where it stopped; finished units are never redone.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from .. import attribution
from ..cache import cache_dir
from ..dissection import dissect
from ..dissection.dataset_examples import dataset_examples
from ..dissection.exemplars import MIN_CROP, crop_classes, shaded
from ..dissection.receptive_field import receptive_fraction
from ..featurevis import objectives
from ..featurevis.icon_cache import icon_service
from ..featurevis.render import render
from ..featurevis.settings import full_budget, settings
from ..datasets import numbered
from ..items import in_lists, items_of
from ..keywords import checked
from ..scale import runner
from ..scale.options import RunOptions, dataset_job
from ..session import Session
from ..unit_labels import base_rates, label_unit
from ..units import Units, units_of
from .statistics import unit_statistics
from .store import FORMAT, MANIFEST, MicroscopeError, MicroscopeStore, model_name, save_tensors, write_json, write_png

FEEDS = 5  # units listed below and above
TOP_CLASSES = 5  # classes listed by support, strong or not
DIVERSITY_WEIGHT = 10.0  # how hard the diversity set is pushed apart (the objective is a unit's mean activation)


@checked
@dataset_job
def microscope(
    session: Session,
    layers: str | Sequence[str] | None = None,
    *,
    data: Iterable,
    units: Units | dict[str, Units] | None = None,
    out: str | Path | None = None,
    concepts: Iterable | None = None,
    images: int = 8,
    k: int = 8,
    diversity: int = 3,
    run: RunOptions,
) -> MicroscopeStore:
    """Build (or resume) the microscope of `layers` (default: the session's suggested layers)
    under `out` (default: the neuroblocks cache), and return it open.

    data: the images exemplars and statistics come from; units: a unit basis (one for its own
    layer, or {layer: units}; default each layer's channels); concepts: images with concept masks
    (`dissection.concepts`) to label units by network dissection; images: how many of `data`
    class support and feeds are averaged over; k: exemplars kept per unit; diversity: images in
    each unit's diversity set. engine, progress and cancel as every dataset job takes them."""
    names = _layers(session, layers, units)
    basis = {layer: _units(session, layer, units) for layer in names}
    root = MicroscopeStore.folder(session, out or cache_dir() / "microscopes")
    _manifest(session, root, names, basis)
    store = MicroscopeStore(root)
    sample = [image for _, (_, image, _) in zip(range(images), numbered(items_of(data)))]
    if not sample:
        raise MicroscopeError("the microscope's data holds no images")
    for layer in names:
        if not (root / layer / "layer.pt").is_file():
            _layer_pass(session, basis[layer], data, concepts, sample, k, store, run)
    for lower, upper in zip(names, names[1:]):
        if not (root / upper / "fed.pt").is_file():  # what each unit of `upper` was fed by each of `lower`, averaged
            fed = sum(attribution.layer_to_layer(session, image, lower, upper, basis[lower], units_above=basis[upper]) for image in sample) / len(sample)
            save_tensors(root / upper / "fed.pt", {"lower": lower, "fed": fed.float()})
    todo = [(layer, u) for layer in names for u in sorted(set(range(basis[layer].count)) - store.finished(layer))]
    if todo:
        pages = _Pages(str(root), basis, tuple(names), diversity, batch=icon_service(session).batch)
        with runner(session, run) as job:
            job(pages, todo, "unit pages")
    return MicroscopeStore(root)


def _layers(session: Session, layers: str | Sequence[str] | None, units: Units | dict | None) -> list[str]:
    if layers is None:
        layers = [units.layer] if isinstance(units, Units) else list(units) if isinstance(units, dict) else session.suggested_layers()
    names = [session.check_layer(layer) for layer in ([layers] if isinstance(layers, str) else layers)]
    order = {name: i for i, name in enumerate(session.layers)}
    return sorted(dict.fromkeys(names), key=lambda name: order.get(name, len(order)))


def _units(session: Session, layer: str, units: Units | dict | None) -> Units:
    given = units.get(layer) if isinstance(units, dict) else units if isinstance(units, Units) and units.layer == layer else None
    return units_of(layer, tuple(session.layer_shape(layer)), given)


def _manifest(session: Session, root: Path, names: list[str], basis: dict[str, Units]) -> None:
    """Write the manifest, or check the existing one: a resumed build keeps its budgets, and a
    layer keeps its units."""
    path = root / MANIFEST
    entries = [{"name": layer, "noun": basis[layer].noun, "count": basis[layer].count, "units": basis[layer].icon_key, "description": basis[layer].description} for layer in names]
    full, quick = full_budget(session), settings(session)
    if path.is_file():
        known = MicroscopeStore(root)
        known.check(session)
        for entry in entries:
            if entry["name"] in known.layers and known.entry(entry["name"])["units"] != entry["units"]:
                raise MicroscopeError(f"the microscope at {root} holds other units of {entry['name']} ({known.entry(entry['name'])['description']}); build these under another out=")
        merged = {e["name"]: e for e in known.manifest["layers"]} | {e["name"]: e for e in entries}
        manifest = {**known.manifest, "layers": [merged[name] for name in _layers(session, list(merged), None)]}
    else:
        manifest = {
            "format": FORMAT, "model": model_name(session), "fingerprint": session.fingerprint, "labels": list(session.labels),
            "full": {"size": full.size, "steps": full.steps}, "quick": {"size": quick.size, "steps": quick.steps}, "layers": entries,
        }
    write_json(path, manifest)


def _layer_pass(session: Session, units: Units, data: Iterable, concepts: Iterable | None, sample: list, k: int, store: MicroscopeStore, run: RunOptions) -> None:
    """The dataset passes of one layer: exemplars, statistics, class support, dissection, and the
    model's class for each exemplar crop (what labels read); stored as `layer.pt` once all are done."""
    layer, readable = units.layer, units.for_any_image()
    options = {"engine": run.engine, "progress": run.progress, "cancel": run.cancel}
    crop = max(MIN_CROP, receptive_fraction(session, layer))
    found = dataset_examples(session, layer, data, k, units=readable, crop=crop, **options)
    stats = unit_statistics(session, layer, data, units=readable, **options)
    support = sum(attribution.to_classes(session, image, layer, units) for image in sample).float() / len(sample)
    record = {
        "scores": found.scores, "images": found.images, "crops": found.crops, "maps": found.maps,
        "mean": stats.mean, "std": stats.std, "peak": stats.peak, "active": stats.active, "support": support,
        "crop_classes": torch.tensor(crop_classes(session, found, list(range(units.count)))).reshape(units.count, -1),
        "crop": torch.tensor(crop),
    }
    if units.icon_direction(0) is not None:  # what each icon maximises, so a copied microscope can serve its icons (`serve`)
        record["directions"] = torch.stack([units.icon_direction(u).float().cpu() for u in range(units.count)])
    if concepts is not None:
        result = dissect(session, layer, concepts, units=readable, **options)
        best, index = result.best
        record.update({"iou": best.float(), "concept": index, "concepts": list(result.concepts), "min_iou": torch.tensor(result.min_iou)})
    save_tensors(store.root / layer / "layer.pt", record)


@dataclass
class Written:
    """A partial result: how many unit pages were written."""

    pages: int

    def merge(self, other: Written) -> Written:
        return Written(self.pages + other.pages)


@dataclass(frozen=True)
class _Pages:
    """Each unit's page: its icons rendered and its files written, a batch of units at a time
    (items are (layer, unit)); runs wherever the engine puts it, writing into the store's folder."""

    root: str
    basis: dict[str, Units]
    layers: tuple[str, ...]
    diversity: int
    batch: int

    def map(self, session: Session, items: Iterable, start: int, tick: Callable[[int], None]) -> Written:
        store = MicroscopeStore(self.root)
        written = 0
        for chunk in in_lists(items, self.batch):
            for layer in dict.fromkeys(layer for layer, _ in chunk):
                picked = [u for name, u in chunk if name == layer]
                self._write(session, store, layer, picked)
                written += len(picked)
            tick(len(chunk))
        return Written(written)

    def enough(self, partial: Written) -> bool:
        return False

    def _write(self, session: Session, store: MicroscopeStore, layer: str, picked: list[int]) -> None:
        units, data, full, quick = self.basis[layer], store.layer_data(layer), store.manifest["full"], store.manifest["quick"]
        objs = [objectives.unit(units, u) for u in picked]
        service = icon_service(session)  # the views' own cache: what the microscope renders, views show
        native = service.get(objs, full["size"], full["steps"])
        scaled = service.get(objs, full["size"], full["steps"], at="input")
        names = store.manifest["labels"]
        rates = base_rates(data["crop_classes"][:, :4].tolist())
        below, above = self._feeds(store, layer)
        n = self.diversity
        if n > 1:
            apart = DIVERSITY_WEIGHT * objectives.diversity(layer, group=n)  # each unit's set pushed apart, in one batch for all
            varied = render(session, [obj + apart for obj in objs for _ in range(n)], size=quick["size"], steps=quick["steps"]).reshape(len(picked), n, quick["size"], quick["size"], 3)
        else:  # no set: the icon alone
            varied = native[:, None]
        for i, u in enumerate(picked):
            folder = store.unit_dir(layer, u)
            write_png(folder / "icon.png", native[i])
            write_png(folder / "icon-input.png", scaled[i])
            write_png(folder / "diversity.png", np.concatenate(list(varied[i]), axis=1))
            write_png(folder / "exemplars.png", shaded(data["crops"][u], data["maps"][u]))
            concept = (data["concepts"][int(data["concept"][u])], float(data["iou"][u])) if "iou" in data else (None, None)
            label = label_unit(
                names, data["support"][u], concept=concept[0], iou=concept[1], exemplar_classes=data["crop_classes"][u, :4].tolist(),
                base_rate=rates, **({"min_iou": float(data["min_iou"])} if "min_iou" in data else {}),
            )
            top = data["support"][u].topk(min(TOP_CLASSES, data["support"].shape[1]))
            store_page = {
                "unit": u, "layer": layer, "noun": units.noun, "label": label.text if label.source else "", "source": label.source, "evidence": label.evidence,
                "stats": {"mean": float(data["mean"][u]), "std": float(data["std"][u]), "peak": float(data["peak"][u]), "active": float(data["active"][u])},
                "classes": [[names[c], round(float(data["support"][u, c]), 4)] for c in label.classes],
                "top_classes": [[names[int(c)], round(float(v), 4)] for v, c in zip(top.values, top.indices)],
                "below": below(u), "above": above(u),
                "exemplar_images": data["images"][u].tolist(), "exemplar_scores": [round(float(v), 4) for v in data["scores"][u]],
                "budget": f"{full['size']} px · {full['steps']} steps", "diversity_budget": f"{quick['size']} px · {quick['steps']} steps",
            }
            write_json(store.page_path(layer, u), store_page)  # last: the unit is finished

    def _feeds(self, store: MicroscopeStore, layer: str) -> tuple[Callable[[int], dict], Callable[[int], dict]]:
        """Functions giving unit u's strongest feeds from the chosen layer below and into the one above."""
        i = self.layers.index(layer)
        none = lambda u: {}  # noqa: E731
        below, above = none, none
        fed_path = store.root / layer / "fed.pt"
        if i > 0 and fed_path.is_file():
            fed = torch.load(fed_path, weights_only=True)["fed"]
            below = lambda u: _strongest(self.layers[i - 1], fed[u])  # noqa: E731
        if i + 1 < len(self.layers) and (store.root / self.layers[i + 1] / "fed.pt").is_file():
            feeds = torch.load(store.root / self.layers[i + 1] / "fed.pt", weights_only=True)["fed"]
            above = lambda u: _strongest(self.layers[i + 1], feeds[:, u])  # noqa: E731
        return below, above


def _strongest(layer: str, values: torch.Tensor) -> dict:
    top = values.abs().topk(min(FEEDS, len(values))).indices
    return {"layer": layer, "units": [[int(c), round(float(values[c]), 5)] for c in top]}
