"""An API that refuses what it cannot use: a misspelt keyword to the Session, any view or any
public block raises TypeError naming it and the keyword meant; every gradient-based block works
inside `torch.no_grad()` and `torch.inference_mode()` with the same numbers as outside."""

from __future__ import annotations

import importlib
import inspect
import warnings

import numpy as np
import pytest
import torch

import neuroblocks as nb
from conftest import FixedParts
from neuroblocks import attribution as attr
from neuroblocks import dissection, shapes
from neuroblocks.keywords import keyword_names
from neuroblocks.widgets.base import View

PACKAGES = ["neuroblocks", "neuroblocks.attribution", "neuroblocks.featurevis", "neuroblocks.factorization", "neuroblocks.dissection",
            "neuroblocks.atlas", "neuroblocks.compare", "neuroblocks.dictionary", "neuroblocks.shapes"]


def public_blocks() -> dict[str, object]:
    """Every public function of the package and its subpackages, the Session's constructors, and every view."""
    found = {"Session": nb.Session, "Session.load": nb.Session.load}
    for name in PACKAGES:
        module = importlib.import_module(name)
        for attr_name in module.__all__:
            obj = getattr(module, attr_name)
            if inspect.isfunction(obj) or (inspect.isclass(obj) and issubclass(obj, View)):
                found[f"{name}.{attr_name}"] = obj
    return found


def misspelt(name: str, taken: set[str]) -> str:
    """`name` with one letter dropped (the first such that is no keyword itself); a one-letter name doubled."""
    return next((typo for i in range(1, len(name)) if (typo := name[:i] + name[i + 1 :]) not in taken), name * 2)


@pytest.mark.parametrize("name, block", public_blocks().items(), ids=list(public_blocks()))
def test_a_misspelt_keyword_is_refused_with_the_one_meant(name, block):
    taken = block.arguments() if inspect.isclass(block) and issubclass(block, View) else keyword_names(block.__init__ if inspect.isclass(block) else block)
    meant = max(sorted(taken), key=len, default=None)
    typo = misspelt(meant, taken) if meant else "colour"
    with pytest.raises(TypeError, match=f"unexpected keyword argument '{typo}'" + (f"; did you mean '{meant}'" if meant else "")):
        block(**{typo: 1})


def test_the_users_mistake_fails_at_once_instead_of_building_the_default(shapes_session):
    image = shapes.scene(3, classes=2).image
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no traitlets warning first: the error is what the user sees
        with pytest.raises(TypeError) as info:
            nb.SpatialAttribution(shapes_session, image, "conv3", "conv4", clases=["striped triangle"])
    message = str(info.value)
    assert message.startswith("SpatialAttribution() got an unexpected keyword argument 'clases'; did you mean 'classes'?"), message
    assert "takes baseline, classes, icon_size, icon_steps, image, layer, steps, units, upper, or any of its traits" in message
    view = nb.SpatialAttribution(shapes_session, image, "conv3", "conv4", classes=["striped triangle", "solid circle"], icon_steps=0, busy="")
    view.close()  # the right keywords, and a trait, still pass


def _same_inside(compute) -> None:
    outside = compute()
    for context in (torch.no_grad, torch.inference_mode):
        with context():
            inside = compute()
        for a, b in zip(*(x if isinstance(x, tuple) else (x,) for x in (outside, inside))):
            assert torch.equal(torch.as_tensor(a), torch.as_tensor(b)), f"{context.__name__} changed the numbers"


@pytest.fixture(scope="module")
def scene():
    return shapes.scene(3, classes=2)


@pytest.mark.parametrize(
    "block",
    [
        lambda s, sc: attr.spatial(s, sc.image, "conv3", sc.labels[0]),
        lambda s, sc: attr.neuron(s, sc.image, "conv3", sc.labels[0]),
        lambda s, sc: attr.channel(s, sc.image, "conv3", sc.labels[0]),
        lambda s, sc: attr.channel(s, sc.image, "conv3", sc.labels[0], steps=8),
        lambda s, sc: attr.to_classes(s, sc.image, "conv3"),
        lambda s, sc: attr.layer_to_layer(s, sc.image, "conv2", "conv3"),
        lambda s, sc: attr.unit(s, sc.image, FixedParts("conv3", torch.ones(2, 16, 16), torch.eye(64)[:2]), sc.labels[0]),
        lambda s, sc: nb.factorize(s, sc.image, "conv3", n_groups=3, prioritize="gradients", target=sc.labels[0]).channels,
        lambda s, sc: dissection.concentration(s, sc.image, "conv3", sc.labels[0]),
    ],
    ids=["spatial", "neuron", "channel", "channel-integrated", "to_classes", "layer_to_layer", "unit", "factorize-gradients", "concentration"],
)
def test_gradient_blocks_work_inside_no_grad_and_inference_mode(shapes_session, scene, block):
    _same_inside(lambda: block(shapes_session, scene))


def test_token_and_latent_attribution_work_inside_no_grad_and_inference_mode(shapes_session, scene):
    vit = nb.Session.load("shapes-vit")
    _same_inside(lambda: attr.prefix_tokens(vit, scene.image, "blocks.2", scene.labels[0]))
    d = nb.train_dictionary(shapes_session, "conv3", dissection.ShapesConcepts(40), nb.dictionary.Settings(expansion=2, k=4, epochs=1))
    _same_inside(lambda: attr.unit(shapes_session, scene.image, d, scene.labels[0]))
    _same_inside(lambda: attr.unit(shapes_session, scene.image, d, scene.labels[0], spatial=True))
    assert np.isfinite(attr.unit(shapes_session, scene.image, d, scene.labels[0]).numpy()).all()


def test_a_view_that_passes_on_a_trait_it_does_not_have_fails_at_once(shapes_session):
    """What caught FeatureVis handing `channel=` to a trait renamed `unit`: traitlets only warns."""
    from neuroblocks.widgets.base import View

    class Careless(View):
        def __init__(self, session, **options) -> None:
            super().__init__(session, chanel=3, **options)

    with pytest.raises(TypeError, match="Careless has no trait 'chanel' to set"):
        Careless(shapes_session)
    assert nb.FeatureVis(shapes_session, layer="conv3", channel=5, steps=0, start=False).unit == 5
