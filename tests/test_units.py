"""One idea of a unit: a kind of unit made only here, the layer's principal components, works in
attribution, three views, ablation and dataset examples with nothing but its class."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from captum.attr import LayerGradientXActivation

import neuroblocks as nb
from neuroblocks import dissection as D
from neuroblocks import shapes
from neuroblocks.dissection.units import upsampled
from neuroblocks.widgets.payload import unpack

LAYER = "conv3"


class PrincipalComponents(nb.units.Units):
    """A layer's top principal directions over some images' positions: code = the centred
    activation's projection on a component, atom = the component, offset = the mean."""

    noun = "component"

    def __init__(self, session: nb.Session, layer: str, images: list, count: int) -> None:
        vectors = torch.cat([session.trace(image, layer, logits=False)[layer].flatten(1).T for image in images])
        self.mean = vectors.mean(0)
        self.components = torch.linalg.svd(vectors - self.mean, full_matrices=False).Vh[:count]
        self.layer, self.count = layer, count

    def codes(self, a: torch.Tensor) -> torch.Tensor:
        return torch.einsum("...chw,kc->...khw", a - self.mean.to(a)[:, None, None], self.components.to(a))

    @property
    def atoms(self) -> torch.Tensor:
        return self.components

    @property
    def offset(self) -> torch.Tensor:
        return self.mean

    @property
    def icon_key(self) -> str:
        return f"{self.layer}:pca-{self.count}"


@pytest.fixture(scope="module")
def scene():
    return shapes.scene(5, classes=2)


@pytest.fixture(scope="module")
def pca(shapes_session, scene):
    return PrincipalComponents(shapes_session, LAYER, [scene.image] + [shapes.scene(s).image for s in range(20, 26)], 12)


def _gradient(session: nb.Session, image, c: int) -> torch.Tensor:
    """d(logit c)/d(conv3) by Captum, independent of neuroblocks' gradient code."""
    layer = LayerGradientXActivation(session.model, session.model.conv3, multiply_by_inputs=False)
    return layer.attribute(session.image(image)[None], target=c)[0]


def test_attribution_to_a_unit_kind_made_here_is_its_part_against_the_gradient(shapes_session, scene, pca):
    s, c = shapes_session, shapes_session.class_index(scene.labels[0])
    a = s.trace(scene.image, LAYER, logits=False)[LAYER]
    expected = torch.einsum("chw,kc,khw->k", _gradient(s, scene.image, c), pca.components, pca.codes(a))
    assert torch.allclose(nb.attribution.unit(s, scene.image, pca, c), expected, rtol=1e-4, atol=1e-5)
    assert torch.allclose(nb.attribution.to_classes(s, scene.image, LAYER, pca)[:, c], expected, rtol=1e-4, atol=1e-5)


def test_three_views_show_the_units_made_here(shapes_session, scene, pca):
    s, c = shapes_session, shapes_session.class_index(scene.labels[0])
    a = s.trace(scene.image, LAYER, logits=False)[LAYER]
    codes = pca.codes(a)

    channel = nb.ChannelAttribution(s, scene.image, LAYER, c, top=3, units=pca, icon_steps=0).wait()
    assert not channel.error and (channel.noun, channel.unit_key) == ("component", pca.icon_key)
    np.testing.assert_allclose(unpack(channel.values), nb.attribution.unit(s, scene.image, pca, c).numpy(), rtol=1e-5, atol=1e-6)
    shown = unpack(channel.shown).tolist()
    np.testing.assert_allclose(unpack(channel.maps), codes[shown].numpy(), rtol=1e-5, atol=1e-5)

    dictionary = nb.SemanticDictionary(s, scene.image, LAYER, units=pca, icon_steps=0).wait()
    assert not dictionary.error and dictionary.noun == "component" and "12 components of conv3" in dictionary.found_by
    np.testing.assert_allclose(unpack(dictionary.acts), codes.numpy(), rtol=1e-5, atol=1e-5)

    groups = nb.NeuronGroups(s, scene.image, LAYER, 3, units=pca, icon_steps=0).wait()
    strongest = codes.flatten(1).sum(1).topk(3).indices.tolist()
    assert not groups.error and groups.method == "units" and sorted(groups.groups.latents) == sorted(strongest)
    assert groups.found_by == "the strongest components of 12 components of conv3"


def test_ablating_units_made_here_removes_their_parts_from_every_input(shapes_session, scene, pca):
    s = shapes_session
    images = torch.stack([s.image(scene.image), s.image(shapes.scene(40).image)])
    a = s.forward(images, capture=[LAYER], stop=True).activations[LAYER]
    codes = pca.codes(a)[:, [0, 3]]
    removed = torch.einsum("nkhw,kc->nchw", codes, pca.components[[0, 3]])
    with nb.ablate(s, LAYER, [0, 3], units=pca) as ablation:
        off = s.forward(images).logits
    assert torch.allclose(off, s.forward(images, replace={LAYER: a - removed}).logits, atol=1e-5)
    assert "components [0, 3] of conv3:pca-12" in ablation.description
    with pytest.raises(nb.units.UnitsError, match="there is no component 12"):
        nb.ablate(s, LAYER, [12], units=pca)


def test_dataset_examples_of_units_made_here_rank_images_by_their_codes(shapes_session, pca):
    items = [D.ShapesConcepts(12)[i] for i in range(12)]
    examples = D.dataset_examples(shapes_session, LAYER, items, k=3, units=pca)
    assert examples.units is pca and examples.scores.shape == (12, 3)
    batch = torch.stack([shapes_session.image(image) for image, _ in items])
    with torch.no_grad():
        maps = upsampled(pca.codes(shapes_session.forward(batch, capture=[LAYER], stop=True).activations[LAYER]), tuple(batch.shape[2:]))
    peaks = maps.flatten(2).amax(2)  # (images, units)
    assert torch.equal(examples.images[:, 0], peaks.argmax(0)), "each unit's best image is the one where its code peaks"
    assert torch.allclose(examples.scores[:, 0], peaks.amax(0), rtol=1e-5)
