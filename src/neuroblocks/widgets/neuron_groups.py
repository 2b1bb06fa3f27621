"""Neuron groups: the layer factorised into k groups, drawn as coloured masks over the image,
one icon per group, and each group's attribution to the chosen classes. The user picks what the
factorization prioritises; hovering a group shows its mask alone (docs/explanations/neuron-groups.md, docs/views.md)."""

from __future__ import annotations

from collections.abc import Iterator

import traitlets

from ..ablation import ablate
from ..errors import NeuroblocksError
from ..factorization.unit_groups import unit_groups
from ..factorization import factorize
from .. import faithfulness
from ..featurevis import objectives
from ..images import ImageLike
from ..session import Session
from ..units import Units
from .base import Part, View
from .deletion_readout import readout
from .inputs import class_names, default_layer, read_with_classes, units_layer
from .payload import array
from .traits import Array



class NeuronGroups(View):
    """k groups of `layer` by `method`, prioritising "activations", "gradients" or "attributions"
    (gradients and attributions of the first class in `classes`); `classes` default to the top two."""

    kind = traitlets.Unicode("neuron_groups").tag(sync=True)
    needs_grid = True
    k = traitlets.Int(6).tag(sync=True)
    prioritize = traitlets.Enum(["activations", "gradients", "attributions"], "activations").tag(sync=True)
    method = traitlets.Enum(["nmf", "pca", "ica", "units"], "nmf").tag(sync=True)  # "units": the given units' strongest
    classes = traitlets.List().tag(sync=True)
    masks = Array("float32", 3, help="(k, H, W) in [0, 1]: each group's spatial factor")
    colors = Array("uint8", 2, help="(k, 3): each group's colour")
    attributions = Array("float32", 2, help="(k, len(classes)): each group's attribution to each chosen class")
    class_names = traitlets.Dict().tag(sync=True)
    error_fraction = traitlets.Float(0.0).tag(sync=True)  # relative reconstruction error
    found_by = traitlets.Unicode("").tag(sync=True)  # e.g. "NMF of activations' ± parts" (signed layers, docs/guides/transformers.md)
    ablated = traitlets.List(traitlets.Int()).tag(sync=True)  # groups switched off (docs/guides/faithfulness.md)
    logits = Array("float32", 1, help="(classes,): the logits with the switched-off groups removed from the layer")
    base_logits = Array("float32", 1, help="(classes,): the logits without")
    faithfulness = traitlets.Dict().tag(sync=True)  # deletion of the groups, per chosen class (`deletion_readout`), once computed
    inputs = ("image", "layer", "k", "prioritize", "method", "classes")

    def __init__(
        self, session: Session, image: ImageLike, layer: str | None = None, k: int = 6, *, classes=None, prioritize: str = "activations", method: str = "nmf",
        units: Units | None = None, **options
    ) -> None:
        """units: units of a layer (`neuroblocks.units`, e.g. a trained dictionary); the groups
        are then the image's k strongest units (code map × atom) instead of a factorization."""
        image, picked = read_with_classes(session, image, classes)
        self.groups = None  # the factorization on show, for ablation
        self.units = units
        layer = units_layer(layer, units)
        if units is not None:
            method = "units"
        elif method == "units":
            raise NeuroblocksError("method='units' needs units: NeuronGroups(..., units=nb.train_dictionary(session, layer, data))")
        super().__init__(session, image=image, layer=default_layer(session, layer), k=k, classes=picked, prioritize=prioritize, method=method, **options)
        self.observe(lambda change: self._ablate(), names=["ablated"])

    def _compute(self) -> Iterator[Part]:
        s, classes = self.session, [self.session.class_index(c) for c in self.classes]
        target = classes[0] if classes and self.prioritize != "activations" else None
        if self.units is not None:
            yield f"the {self.k} strongest {self.units.noun}s of {self.layer} and their classes"
            groups = unit_groups(s, self.photo, self.units, self.k)
        else:
            yield f"{self.k} groups of {self.layer} ({self.method.upper()} of {self.prioritize}) and their classes"
            groups = factorize(s, self.photo, self.layer, self.k, method=self.method, prioritize=self.prioritize, target=target)
        self.groups = groups
        logits = array(s.trace(self.photo).logits)
        referenced = classes
        values = {
            "picture": self.picture_of(self.photo),
            "masks": array(groups.masks),
            "colors": array(groups.colors, "uint8"),
            "attributions": array(groups.to_classes[:, classes]),
            "class_names": class_names(s, referenced),
            "error_fraction": float(groups.error),
            "found_by": groups.description,
            "group": None,
            "ablated": [],
            "logits": logits,
            "base_logits": logits,
            "faithfulness": {},
        }
        # A latent's icon shows what detects it (its encoder row) or, on request, what it writes; a factor's, its direction.
        keys = [f"{self.layer}:g{n}" for n in range(groups.count)]
        yield values, list(zip(keys, (objectives.unit(groups, n) for n in range(groups.count))))
        yield from self.meaning(groups, list(range(groups.count)), keys, support=groups.to_classes, labels=True)
        yield "faithfulness: deletion of the groups by their attribution"
        found = [faithfulness.unit_deletion(s, self.photo, c, groups.to_classes[:, c], self.layer, units=groups) for c in classes]
        yield {"faithfulness": readout(found, [s.class_name(c) for c in classes])}, []

    def _ablate(self) -> None:
        """Logits with the switched-off groups' parts removed from the layer's activations."""
        off, image = list(self.ablated), self.photo
        if not off:
            self.logits = self.base_logits
            return

        def work():
            groups = self.groups  # read when the queue runs this, after the groups are computed
            with ablate(self.session, groups.layer, off, units=groups):
                return self.session.trace(image).logits

        def done(logits, generation: int) -> None:
            if generation == self._generation and list(self.ablated) == off:
                self.logits = array(logits)

        self.in_background(work, done, label="switching groups…")
