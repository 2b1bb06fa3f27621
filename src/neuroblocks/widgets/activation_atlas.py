"""Activation atlas: a dataset as one layer sees it (docs/guides/dataset-scale.md). Cells of the UMAP layout drawn as
icons of their mean vectors, faded by how many vectors they hold; zoom steps through the atlas's
resolutions, hovering a cell shows its icon large, its count, its top classes and the dataset
patches its vectors came from, and a linked `position` of one image shows where that position's
vector lies on the atlas.

Every resolution's cells, the samples' origins and one sprite of example patches are sent once,
so zoom and hover run in the browser (and in an exported page); the kernel only renders the
icons of the resolution on screen, densest cells first. Given units of the layer (`units=`, e.g.
a trained dictionary's latents), each cell is framed in its unit's colour: the unit with the
largest mean code over the cell's vectors; hovering a cell names that unit, shows its icon, and
marks every cell it leads.
"""

from __future__ import annotations

from collections.abc import Iterator

import io

import numpy as np
import torch
import traitlets
from PIL import Image

from ..atlas import Atlas, AtlasError
from ..featurevis.sizes import default_size
from ..images import ImageLike
from ..featurevis.settings import settings as featurevis_settings
from ..session import Session
from ..units import Units
from .base import Part, View
from .inputs import unit_icons
from .payload import array, top_entries
from .traits import Array

SPRITE_COLUMNS = 32


def _sprite(patches: np.ndarray) -> dict:
    """Patches (n, s, s, 3) tiled SPRITE_COLUMNS to a row into one JPEG: {jpeg, side, columns}."""
    n, side = len(patches), patches.shape[1]
    rows = max(1, -(-n // SPRITE_COLUMNS))
    sheet = np.zeros((rows * side, SPRITE_COLUMNS * side, 3), np.uint8)
    for i, patch in enumerate(patches):
        r, c = divmod(i, SPRITE_COLUMNS)
        sheet[r * side : (r + 1) * side, c * side : (c + 1) * side] = patch
    out = io.BytesIO()
    Image.fromarray(sheet).save(out, format="JPEG", quality=75)
    return {"jpeg": out.getvalue(), "side": int(side), "columns": SPRITE_COLUMNS}


class ActivationAtlas(View):
    """The atlas from `neuroblocks.atlas.atlas`, shown at `resolution` (default: the coarsest);
    `image` (optional) places that image's positions on it for `position`-linking; `examples`
    patches per cell; `top` classes per cell; `name` says which model it is in its title (two
    aligned atlases of two models)."""

    kind = traitlets.Unicode("activation_atlas").tag(sync=True)
    levels = traitlets.List().tag(sync=True)  # per resolution: {size, where, counts, top, examples}
    samples = traitlets.Dict().tag(sync=True)  # {images, positions, grids}: where each shown example came from
    sprite = traitlets.Dict().tag(sync=True)  # {jpeg, side, columns}: the example patches
    labels = traitlets.List().tag(sync=True)  # class names, in output order
    places = Array("float32", 3, help="(H, W, 2): where each position of the image lies on the layout")
    resolution = traitlets.Int(0).tag(sync=True)
    class_filter = traitlets.Int(None, allow_none=True).tag(sync=True)
    summary = traitlets.Unicode("").tag(sync=True)
    name = traitlets.Unicode("").tag(sync=True)  # which model, when two atlases stand side by side
    noun = traitlets.Unicode("").tag(sync=True)  # with units: their noun ("latent", …)
    unit_key = traitlets.Unicode("").tag(sync=True)  # with units: icons of unit u are keyed f"{unit_key}:{u}"
    found_by = traitlets.Unicode("").tag(sync=True)  # with units: their description
    inputs = ("image", "resolution")

    def __init__(
        self, session: Session, atlas: Atlas, image: ImageLike | None = None, *, resolution: int | None = None, examples: int = 4, top: int = 5, name: str = "",
        units: Units | None = None, **options
    ) -> None:
        """units: units of the atlas's layer (`neuroblocks.units`, e.g. a trained dictionary),
        which colour the cells: each cell framed by the unit with the largest mean code."""
        if not isinstance(atlas, Atlas):
            raise TypeError(f"ActivationAtlas shows an atlas from neuroblocks.atlas.atlas(...), not {type(atlas).__name__}")
        if atlas.session is not session:
            raise AtlasError("this atlas was made with another session: show it with the session it was made from")
        if units is not None and units.layer != atlas.layer:
            raise AtlasError(f"these are {units.description}, but the atlas is of {atlas.layer!r}")
        resolution = min(atlas.resolutions) if resolution is None else resolution
        atlas.cells(resolution)  # an unknown resolution fails here, listing the known ones
        self.atlas, self.units = atlas, units
        # Per resolution: each cell's leading unit and its mean code (with units).
        self._leading = _leading_units(atlas, units) if units is not None else {}
        self._static = self._static_values(atlas, examples, top, self._leading)
        if units is not None:
            options.update(noun=units.noun, unit_key=units.icon_key, found_by=units.description)
        options.setdefault("icon_size", default_size(session, [atlas.layer], base=featurevis_settings(session).size // 2))
        super().__init__(session, image=image, layer=atlas.layer, resolution=resolution, name=name, **options)

    @staticmethod
    def _static_values(atlas: Atlas, examples: int, top: int, leading: dict[int, tuple[torch.Tensor, torch.Tensor]]) -> dict:
        s = atlas.samples
        shown = np.unique(np.concatenate([cells.examples[:, :examples].ravel() for cells in atlas.resolutions.values()]))
        shown = shown[shown >= 0]
        slot = np.full(len(s), -1, np.int32)  # a sample's index among those shown (and in the sprite)
        slot[shown] = np.arange(len(shown))
        levels = []
        for size, cells in sorted(atlas.resolutions.items()):
            levels.append({
                "size": size,
                "where": array(cells.where, "int16"),
                "counts": array(cells.counts, "int32"),
                "top": top_entries(torch.from_numpy(cells.classes), top),
                "examples": array(np.where(cells.examples[:, :examples] >= 0, slot[cells.examples[:, :examples]], -1), "int32"),
                **({"leading": array(leading[size][0], "int32"), "leading_code": array(leading[size][1])} if leading else {}),
            })
        total = len(set(s.images.tolist()))
        kind = "class atlas of " + ", ".join(atlas.session.class_name(c) for c in atlas.classes) if atlas.classes else "atlas"
        return {
            "levels": levels,
            "samples": {"images": array(s.images[shown], "int32"), "positions": array(s.positions[shown], "int16"), "grids": array(s.grids[shown], "int16")},
            "sprite": _sprite(s.patches.numpy()[shown]),
            "labels": list(atlas.session.labels),
            "summary": f"{kind} · {atlas.layer} · {len(s)} vectors from {total} images",
        }

    def _compute(self) -> Iterator[Part]:
        values = dict(self._static)
        values["places"] = array(self.atlas.place(self.photo)) if self.photo is not None else {}
        cells = self.atlas.cells(self.resolution)
        objectives = self.atlas.objectives(self.resolution)
        wanted = [(f"{self.resolution}:{m}", objectives[m]) for m in np.argsort(-cells.counts, kind="stable")]
        if self._leading:
            leading = self._leading[self.resolution][0].unique()
            wanted += unit_icons(self.units, leading[leading >= 0].tolist())
        yield values, wanted


def _leading_units(atlas: Atlas, units: Units) -> dict[int, tuple[torch.Tensor, torch.Tensor]]:
    """Per resolution, each cell's unit with the largest mean code over the cell's vectors
    (-1 where none fires) and that mean code, (cells,) each; the samples are coded once."""
    with torch.no_grad():
        codes = units.codes(atlas.samples.vectors.float()[:, :, None, None])[:, :, 0, 0].cpu()
    found = {}
    for size, cells in atlas.resolutions.items():
        kept = torch.from_numpy(cells.members).long()
        sums = torch.zeros(len(cells), codes.shape[1]).index_add_(0, kept[kept >= 0], codes[kept >= 0].float())
        value, unit = (sums / torch.from_numpy(cells.counts).float().clamp(min=1)[:, None]).max(1)
        found[size] = (torch.where(value > 0, unit, -1), value)
    return found
