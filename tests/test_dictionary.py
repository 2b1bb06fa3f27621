"""Learned dictionaries (docs/explanations/dictionaries.md): a sparse autoencoder recovers atoms planted in superposition
(an analytic toy whose truth is known) that channels and a baseline trained on shuffled vectors
miss; on the narrow shapes model, whose 12 classes share 8 channels, a latent matches each class
better than any channel, NMF direction, random basis or shuffled baseline (per-class IoU printed;
the bundled model, whose channels already carry its concepts, is reported beside it); training
streams a layer's activations, is cached on disk and reloaded, cancels cleanly; its quality
figures equal direct computations; its latents are atoms of the views (groups whose attribution
is d(logit)/dz · z, channel and spatial attribution over latents, their ablation, a semantic
dictionary and unit browser over latents)."""

from __future__ import annotations

import threading

import pytest
import torch
from sklearn.decomposition import NMF

import neuroblocks as nb
from neuroblocks import dissection as D
from neuroblocks.dictionary import Settings, measure, substituted, train_dictionary
from neuroblocks.factorization.unit_groups import unit_groups
from neuroblocks.dictionary.train import fit
from neuroblocks.dictionary.vectors import CollectVectors
from neuroblocks.dissection.units import upsampled
from neuroblocks.errors import NeuroblocksError
from neuroblocks.widgets.payload import unpack

LAYER = "conv4"
SMALL = Settings(expansion=2, k=4, epochs=4)


@pytest.fixture(scope="module")
def small(shapes_session):
    """A small dictionary of the shapes model's conv4, trained once on 40 scenes for the tests that read it."""
    return fit(CollectVectors(LAYER, 10**9, 0, 32).map(shapes_session, D.ShapesConcepts(40, start=0), 0, lambda n: None).ordered(), LAYER, SMALL)


def planted(seed: int = 1234, channels: int = 32, atoms: int = 64, n: int = 20_000, active: int = 3) -> tuple[torch.Tensor, torch.Tensor]:
    """(vectors, truth): each vector a sum of `active` of `atoms` unit directions in `channels`
    dimensions (more atoms than dimensions: superposition), with codes in [1, 2]."""
    g = torch.Generator().manual_seed(seed)
    truth = torch.randn(atoms, channels, generator=g)
    truth /= truth.norm(dim=1, keepdim=True)
    chosen = torch.stack([torch.randperm(atoms, generator=g)[:active] for _ in range(n)])
    codes = torch.zeros(n, atoms).scatter(1, chosen, 1 + torch.rand(n, active, generator=g))
    return codes @ truth, truth


def recovered(truth: torch.Tensor, found: torch.Tensor) -> float:
    """Share of true atoms matched by some found direction with cosine similarity above 0.9."""
    unit = found / found.norm(dim=1, keepdim=True).clamp(min=1e-12)
    return float(((truth @ unit.T).amax(1) > 0.9).float().mean())


def shuffled(vectors: torch.Tensor, seed: int = 0) -> torch.Tensor:
    """Each channel permuted on its own: the same marginals, no atom left to learn."""
    g = torch.Generator().manual_seed(seed)
    return torch.stack([c[torch.randperm(len(c), generator=g)] for c in vectors.T], dim=1)


def test_a_dictionary_recovers_atoms_planted_in_superposition_that_channels_and_a_shuffled_baseline_miss():
    x, truth = planted()
    d = fit(x, "toy", Settings(expansion=4, k=3, epochs=10))
    baseline = fit(shuffled(x), "toy", Settings(expansion=4, k=3, epochs=10))
    shares = {"dictionary": recovered(truth, d.atoms), "channels": recovered(truth, torch.eye(32)), "shuffled": recovered(truth, baseline.atoms)}
    print(f"planted atoms recovered (cosine > 0.9): {shares}; dictionary {d.report}; shuffled {baseline.report}")
    assert shares["dictionary"] >= 0.9 and shares["channels"] == 0 and shares["shuffled"] <= 0.1
    assert d.report.l0 == 3 and d.report.fvu < 0.15 < baseline.report.fvu


def test_the_quality_figures_equal_direct_computations(shapes_session):
    vectors = CollectVectors(LAYER, 10**9, 0, 32).map(shapes_session, D.ShapesConcepts(40, start=0), 0, lambda n: None).ordered()
    d = fit(vectors, LAYER, SMALL)
    z, x_hat = d.encode(vectors), d.reconstruct(vectors)
    assert d.report.fvu == pytest.approx(float((vectors - x_hat).pow(2).sum() / (vectors - vectors.mean(0)).pow(2).sum()), rel=1e-4)
    assert d.report.l0 == pytest.approx(float((z > 0).sum(1).float().mean()))
    assert d.report.alive == pytest.approx(float((z > 0).any(0).float().mean()))
    assert torch.allclose(d.sae.decoder.norm(dim=1), torch.ones(d.latents), atol=1e-5), "atoms keep unit norm"

    held = D.ShapesConcepts(24, start=100_000)
    q = measure(shapes_session, d, held)
    images = torch.stack([held[i][0] for i in range(len(held))])
    with torch.no_grad():
        run = shapes_session.forward(images, capture=[LAYER])
        rebuilt = shapes_session.forward(images, replace={LAYER: d.reconstructed(run.activations[LAYER])}).logits
        with substituted(shapes_session, d):
            assert torch.allclose(shapes_session.forward(images).logits, rebuilt, atol=1e-5), "the edit is the replacement"
    kl = torch.nn.functional.kl_div(rebuilt.log_softmax(1), run.logits.log_softmax(1), log_target=True, reduction="sum") / len(images)
    assert q.images == 24 and q.agreement == pytest.approx(float((rebuilt.argmax(1) == run.logits.argmax(1)).float().mean()))
    assert q.kl == pytest.approx(float(kl), rel=1e-3, abs=1e-6)
    print(f"shapes {LAYER}, {d}: on its training vectors {d.report}; held out {q}")
    assert q.fvu < 0.5 and q.agreement >= 0.9, "even a small dictionary keeps the model's decisions"


def test_training_is_cached_on_disk_reloaded_and_cancellable(shapes_session, tmp_path, monkeypatch):
    monkeypatch.setenv("NEUROBLOCKS_CACHE", str(tmp_path))
    data = D.ShapesConcepts(40, start=0)
    reports = []
    first = train_dictionary(shapes_session, LAYER, data, Settings(expansion=2, k=4, epochs=3), progress=lambda p: reports.append(str(p)))
    saved = list((tmp_path / "dictionaries").iterdir())
    assert [p.name for p in saved] == [f"{first.key}.pt"], "one file, whole (no .part left)"
    assert any("training, epoch: 3/3" in r for r in reports), reports
    reports.clear()
    again = train_dictionary(shapes_session, LAYER, data, Settings(expansion=2, k=4, epochs=3), progress=lambda p: reports.append(str(p)))
    assert again.key == first.key and torch.equal(again.sae.decoder, first.sae.decoder)
    assert not any("training" in r for r in reports), "reloaded, not retrained"
    other = train_dictionary(shapes_session, LAYER, D.ShapesConcepts(40, start=500), Settings(expansion=2, k=4, epochs=3))
    assert other.key != first.key, "other data, another dictionary"

    stop = threading.Event()
    stop.set()
    with pytest.raises(nb.work.Cancelled):
        train_dictionary(shapes_session, LAYER, data, Settings(expansion=2, k=4, epochs=4), cancel=stop)
    assert len(list((tmp_path / "dictionaries").iterdir())) == 2, "a cancelled training leaves nothing on disk"

    with pytest.raises(NeuroblocksError, match="one-shot iterator"):
        train_dictionary(shapes_session, LAYER, iter(data))
    with pytest.raises(ValueError, match="k must be between 1"):
        train_dictionary(shapes_session, LAYER, data, Settings(expansion=1, k=500, epochs=1))


def test_latents_are_groups_whose_attribution_is_gradient_times_code(shapes_session, small):
    image = D.ShapesConcepts(1, start=7)[0][0]
    d = small
    groups = unit_groups(shapes_session, image, d, 4)
    assert len(groups.latents) == 4 and groups.description.startswith("the strongest latents of a dictionary")
    # d(logit)/dz_m · z_m summed over positions, by autograd through an explicit code scale t_m = 1.
    a = shapes_session.trace(image, LAYER, logits=False)[LAYER].float()
    codes = d.codes(a)[list(groups.latents)]
    t = torch.ones(len(groups.latents), requires_grad=True)
    parts = torch.einsum("k,khw,kc->chw", t, codes, d.atoms[list(groups.latents)])
    rest = a - torch.einsum("khw,kc->chw", codes, d.atoms[list(groups.latents)])
    logits = shapes_session.forward(image[None], replace={LAYER: (rest + parts)[None]}).logits[0]
    for c in (0, 5):
        (grad,) = torch.autograd.grad(logits[c], t, retain_graph=True)
        assert torch.allclose(groups.to_classes[:, c], grad, rtol=1e-4, atol=1e-5)
    with nb.ablate(shapes_session, LAYER, [0], units=groups):
        off = shapes_session.trace(image, LAYER, logits=False)[LAYER]
    assert torch.allclose(off, a - codes[0][None] * d.atoms[groups.latents[0]][:, None, None], atol=1e-5), "ablating a latent removes its part"


def test_every_latents_attribution_to_every_class_in_one_reverse_pass_equals_the_groups(shapes_session, small):
    """Two routes to d(logit)/dz · z: latents as atoms reduced from a VJP per class (reverse
    mode, every latent at once), and the image's strongest latents as groups (a JVP per group)."""
    image = D.ShapesConcepts(1, start=7)[0][0]
    d = small
    every = nb.attribution.to_classes(shapes_session, image, LAYER, units=d)
    groups = unit_groups(shapes_session, image, d, 5)
    assert every.shape == (d.latents, len(shapes_session.labels))
    assert torch.allclose(every[list(groups.latents)], groups.to_classes, rtol=1e-4, atol=1e-5)
    forward = nb.attribution.to_classes(shapes_session, image, LAYER, units=d, only=list(groups.latents), mode="forward")
    assert torch.allclose(forward, groups.to_classes, rtol=1e-4, atol=1e-5)
    silent = (d.codes(shapes_session.trace(image, LAYER, logits=False)[LAYER]).flatten(1).sum(1) == 0)
    assert silent.any() and every[silent].abs().max() == 0, "a latent that does not fire on the image has no attribution"


def test_a_latents_attribution_back_to_a_lower_layer_is_activation_times_the_gradient_of_its_code(shapes_session, small):
    image = D.ShapesConcepts(1, start=7)[0][0]
    d = small
    fed = nb.attribution.layer_to_layer(shapes_session, image, "conv3", LAYER, "channels", units_above=d, rule="gradient")
    assert fed.shape == (d.latents, 64)
    m = int(fed.abs().sum(1).argmax())
    below = shapes_session.trace(image, "conv3", logits=False)["conv3"].clone().requires_grad_(True)
    above = shapes_session.forward(image[None], replace={"conv3": below[None]}, capture=[LAYER], stop=True).activations[LAYER]
    (grad,) = torch.autograd.grad(d.summed(above)[0, m], below)
    assert torch.allclose(fed[m], (below * grad).detach().flatten(1).sum(1), rtol=1e-4, atol=1e-5)
    with pytest.raises(NeuroblocksError, match="units of 'conv3' \\(a dictionary of .*\\), not of 'conv4'"):
        nb.attribution.layer_to_layer(shapes_session, image, "conv2", "conv4", units_above=fit(torch.rand(500, 64), "conv3", SMALL))


def test_latent_attribution_ablation_and_feeds_are_the_latents_parts(shapes_session, small):
    """A latent's attribution to a class is d(logit)/dz · z (one gradient pass, equal to the
    every-class VJP route); ablating latents removes code × atom from every input of a batch;
    what a latent feeds above is the JVP of the channels above along its part."""
    images = torch.stack([D.ShapesConcepts(2, start=7)[i][0] for i in range(2)])
    d = small
    image = images[0]
    target = int(shapes_session.trace(image).logits.argmax())
    values = nb.attribution.unit(shapes_session, image, d, target)
    assert torch.allclose(values, nb.attribution.to_classes(shapes_session, image, LAYER, units=d)[:, target], rtol=1e-4, atol=1e-5)
    maps = nb.attribution.unit(shapes_session, image, d, target, spatial=True)
    assert maps.shape == (d.latents, 8, 8) and torch.allclose(maps.flatten(1).sum(1), values, rtol=1e-4, atol=1e-6)
    assert torch.allclose(nb.attribution.unit(shapes_session, image, d, (target, 0)), values - nb.attribution.to_classes(shapes_session, image, LAYER, units=d)[:, 0], rtol=1e-4, atol=1e-5)

    picks = values.abs().topk(2).indices.tolist()
    with torch.no_grad():
        a = shapes_session.forward(images, capture=[LAYER]).activations[LAYER]
        part = torch.einsum("nkhw,kc->nchw", d.codes(a)[:, picks], d.atoms[picks])
        with nb.ablate(shapes_session, LAYER, picks, units=d):
            off = shapes_session.forward(images).logits
        assert torch.allclose(off, shapes_session.forward(images, replace={LAYER: a - part}).logits, atol=1e-5), "each input loses its own part"
    with pytest.raises(NeuroblocksError, match="no latent 999"):
        nb.ablate(shapes_session, LAYER, [999], units=d)
    with pytest.raises(NeuroblocksError, match="units of 'conv4' \\(a dictionary of .*\\), not of 'conv3'"):
        nb.ablate(shapes_session, "conv3", [0], units=d)

    m = picks[0]
    feeds = nb.attribution.layer_to_layer(shapes_session, image, LAYER, "classmap", d, only=[m], rule="gradient")[:, 0]
    a = a[0]
    one = d.codes(a)[m][None] * d.atoms[m][:, None, None]
    t = torch.ones((), requires_grad=True)
    above = shapes_session.forward(image[None], replace={LAYER: (a + (t - 1) * one)[None]}, capture=["classmap"], stop=True).activations["classmap"][0]
    jvp = torch.stack([torch.autograd.grad(above[c].sum(), t, retain_graph=True)[0] for c in range(above.shape[0])])
    assert torch.allclose(feeds, jvp, rtol=1e-4, atol=1e-5)
    with pytest.raises(NeuroblocksError, match="units of 'conv4' \\(a dictionary of .*\\), not of 'conv3'"):
        nb.attribution.layer_to_layer(shapes_session, image, "conv3", LAYER, d)


def test_channel_attribution_over_latents_lists_them_traces_them_and_switches_them_off(shapes_session, small):
    image = D.ShapesConcepts(1, start=7)[0][0]
    d = small
    view = nb.ChannelAttribution(shapes_session, image, units=d, top=4, icon_steps=8)
    assert view.wait(120, icons=True) and not view.error, view.error
    assert view.layer == LAYER and view.noun == "latent" and view.unit_key == d.icon_key and view.found_by == d.description
    target = int(shapes_session.trace(image).logits.argmax())
    values = nb.attribution.unit(shapes_session, image, d, target)
    assert torch.allclose(torch.tensor(unpack(view.values)), values, rtol=1e-4, atol=1e-6)
    shown = unpack(view.shown).tolist()
    assert shown[:4] == values.topk(4).indices.tolist()
    codes = d.codes(shapes_session.trace(image, LAYER, logits=False)[LAYER])
    assert torch.allclose(torch.tensor(unpack(view.maps)), codes[shown]), "a latent's map is its code"
    assert all(f"{d.icon_key}:{m}" in view.icons for m in shown)

    m = shown[0]
    view.set_state({"focus": m})
    view.wait()
    fed = nb.attribution.channel(shapes_session, image, "conv3", nb.attribution.Hidden(LAYER, lambda h: d.summed(h)[:, m]))
    assert view.drill["channel"] == m and unpack(view.drill["below"]["channels"]).tolist() == fed.topk(6).indices.tolist()
    feeds = nb.attribution.layer_to_layer(shapes_session, image, LAYER, "classmap", d, only=[m])[:, 0]
    assert view.drill["above"]["layer"] == "classmap" and unpack(view.drill["above"]["channels"]).tolist() == feeds.topk(6).indices.tolist()

    view.set_state({"ablated": [m]})
    view.wait()
    with nb.ablate(shapes_session, LAYER, [m], units=d):
        assert torch.allclose(torch.tensor(unpack(view.logits)), shapes_session.trace(image).logits, atol=1e-5)
    assert float(unpack(view.values)[m]) == pytest.approx(0, abs=1e-6), "a switched-off latent has no part left"
    view.set_state({"layer": "conv3"})
    view.wait()
    assert view.noun == "channel" and view.unit_key == "conv3" and len(unpack(view.values)) == 64, "another layer: its channels"
    pair = nb.ClassComparison(shapes_session, image, classes=[target, 0], units=d, icon_steps=0).wait()
    assert pair.noun == "latent" and torch.allclose(torch.tensor(unpack(pair.values)), nb.attribution.unit(shapes_session, image, d, (target, 0)), rtol=1e-4, atol=1e-6)


def test_spatial_attribution_lists_each_positions_latents_by_their_attribution_to_both_classes(shapes_session, small):
    image = nb.shapes.scene(3, classes=2).image  # two objects: a class each
    d = small
    view = nb.SpatialAttribution(shapes_session, image, "conv3", LAYER, units=d, icon_steps=0)
    assert view.wait(120) and not view.error, view.error
    a, b = (shapes_session.class_index(c) for c in view.classes)
    maps = torch.stack([nb.attribution.unit(shapes_session, image, d, c, spatial=True) for c in (a, b)]).flatten(2)  # (2, M, P)
    index, value = unpack(view.listed["index"]), unpack(view.listed["value"])
    assert view.unit_layer == LAYER and view.noun == "latent" and index.shape == (64, 3) and value.shape == (2, 64, 3)
    vocabulary = maps.abs().sum((0, 2)).topk(32).indices  # the image's 32 most important latents
    p = int(maps.abs().sum(0).sum(0).argmax())  # the position where latents matter most
    assert index[p].tolist() == vocabulary[maps[:, vocabulary, p].abs().sum(0).topk(3).indices].tolist()
    assert set(index.flatten().tolist()) <= set(vocabulary.tolist())
    assert torch.allclose(torch.tensor(value[:, p]), maps[:, index[p].tolist(), p], rtol=1e-4, atol=1e-6)
    view.set_state({"upper": "classmap"})
    view.wait()
    assert view.unit_layer == "" and view.listed == {}, "neither layer is the dictionary's: no latents"
    with pytest.raises(NeuroblocksError, match="neither 'conv2' nor 'conv3'"):
        nb.SpatialAttribution(shapes_session, image, "conv2", "conv3", units=d)


def test_the_unit_browser_lists_latents_with_examples_labels_and_class_support(shapes_session, small):
    d = small
    data = D.ShapesConcepts(40, start=100_000)
    examples = D.dataset_examples(shapes_session, LAYER, data, k=4, units=d)
    dissection = D.dissect(shapes_session, LAYER, data, units=d, tail=0.05)
    images = [data[i][0] for i in range(3)]
    browser = nb.UnitBrowser(shapes_session, examples, dissection=dissection, images=images, icon_steps=0)
    assert browser.wait(120) and not browser.error, browser.error
    assert browser.noun == "latent" and browser.selects == "unit" and len(browser.rows) == d.latents
    # A latent's top example is where its code map (upsampled to the image, as examples are scored) peaks over the dataset.
    codes = torch.stack([
        upsampled(d.codes(shapes_session.trace(image, LAYER, logits=False)[LAYER])[None], tuple(image.shape[1:]))[0].flatten(1).amax(1)
        for image, _ in (data[i] for i in range(len(data)))
    ])
    assert torch.allclose(examples.scores[:, 0], codes.amax(0), rtol=1e-4, atol=1e-6)
    support = sum(nb.attribution.to_classes(shapes_session, image, LAYER, units=d) for image in images)
    m = int(support.abs().amax(1).argmax())
    top = unpack(browser.support["value"])[m]
    assert torch.allclose(torch.tensor(top), support[m].topk(3).values, rtol=1e-4, atol=1e-6)
    assert browser.summary.startswith(f"{d.latents} latents of {LAYER}")


def test_views_take_latents_as_their_atoms(shapes_session, small):
    image = D.ShapesConcepts(1, start=7)[0][0]
    d = small
    dictionary = nb.SemanticDictionary(shapes_session, image, units=d, icon_steps=8)
    groups = nb.NeuronGroups(shapes_session, image, k=4, units=d, icon_steps=8)
    grid = nb.ActivationGrid(shapes_session, image, units=d, icon_steps=0)
    for view in (dictionary, groups, grid):
        assert view.wait(120) and not view.error, view.error
    codes = d.codes(shapes_session.trace(image, LAYER, logits=False)[LAYER])
    assert torch.allclose(torch.tensor(unpack(grid.magnitudes)), codes.amax(0)), "each cell sized by its strongest latent's code"
    assert grid.found_by == d.description
    by_atoms = d.drawn_by("decoder")
    assert torch.equal(by_atoms.icon_directions, d.atoms) and torch.equal(d.icon_directions, d.encoder_directions)
    assert by_atoms.icon_key != d.icon_key and nb.SemanticDictionary(shapes_session, image, units=by_atoms, icon_steps=0).wait().unit_key == by_atoms.icon_key
    assert dictionary.layer == LAYER and dictionary.noun == "latent" and dictionary.acts["shape"] == [d.latents, 8, 8]
    assert dictionary.found_by == d.description and dictionary.unit_key == d.icon_key
    assert groups.method == "units" and groups.masks["shape"][0] == 4 and groups.found_by.startswith("the strongest latents")
    with pytest.raises(NeuroblocksError, match="these are a dictionary of .*, not units of 'conv3': pass their layer, or leave layer out"):
        nb.SemanticDictionary(shapes_session, image, "conv3", units=d)
    with pytest.raises(NeuroblocksError, match="method='units' needs units"):
        nb.NeuronGroups(shapes_session, image, "conv3", method="units")


def test_shapes_world_concepts_per_kind_of_atom(shapes_session):
    """Reported, not tuned, and not in latents' favour: the shapes model was trained so that its
    channels carry its concepts, and its objects stand out from the background, so by dissection
    IoU the best channel, the best NMF direction and even random orthonormal directions match
    each concept better than the best latent (a sparse latent covers part of a concept: "red
    circle" rather than "circle"). Asserted: every concept is found above chance. The planted-
    atom toy above is where a dictionary's recovery is checked against a known truth."""
    train, held = D.ShapesConcepts(160, start=0), D.ShapesConcepts(80, start=100_000)
    vectors = CollectVectors(LAYER, 10**9, 0, 32).map(shapes_session, train, 0, lambda n: None).ordered()
    d = fit(vectors, LAYER, Settings(expansion=2, k=4, epochs=8))
    nmf = NMF(16, init="nndsvda", max_iter=400, random_state=0).fit(vectors.numpy())
    kinds = {
        "latent": D.dissect(shapes_session, LAYER, held, units=d, tail=0.05),
        "channel": D.dissect(shapes_session, LAYER, held, tail=0.05),
        "NMF direction": D.dissect(shapes_session, LAYER, held, units=torch.from_numpy(nmf.components_).float(), tail=0.05),
        "random basis": D.dissect(shapes_session, LAYER, held, units=torch.linalg.qr(torch.randn(vectors.shape[1], vectors.shape[1], generator=torch.Generator().manual_seed(0)))[0], tail=0.05),
        "shuffled baseline": D.dissect(shapes_session, LAYER, held, units=fit(shuffled(vectors), LAYER, d.settings), tail=0.05),
    }
    concepts = kinds["channel"].concepts
    best = {kind: torch.stack([x.iou[:, x.concepts.index(c)].max() for c in concepts]) for kind, x in kinds.items()}
    print(f"\nbest IoU per concept on {LAYER} (tail 5%, {len(held)} held-out scenes; {d}):")
    for i, c in enumerate(concepts):
        print(f"  {c:16s} " + "  ".join(f"{kind} {float(v[i]):.3f}" for kind, v in best.items()))
    print("  mean             " + "  ".join(f"{kind} {float(v.mean()):.3f}" for kind, v in best.items()))
    area = {c: float(torch.stack([held[i][1][c].float().mean() for i in range(len(held))]).mean()) for c in concepts}
    assert all(float(best["latent"][i]) > 2 * area[c] for i, c in enumerate(concepts)), "every concept is found above chance (IoU of a random region ≈ the concept's area)"


def test_batchtopk_keeps_k_on_average_and_its_learnt_threshold_does_at_inference():
    x, truth = planted()
    d = fit(x, "toy", Settings(expansion=4, k=3, epochs=10, encoder="batchtopk"))
    threshold = float(d.sae.threshold)
    z = d.encode(x)
    assert threshold > 0 and torch.equal(z > 0, d.sae.pre(x * d.scale) > threshold), "inference keeps what passes the threshold"
    print(f"BatchTopK: threshold {threshold:.3f}, {d.report}, planted atoms recovered {recovered(truth, d.atoms):.3f}")
    assert 2 <= d.report.l0 <= 4.5 and recovered(truth, d.atoms) >= 0.85  # 0.89 here: BatchTopK trades some recovery for adaptive sparsity


def test_shapes_world_classes_held_in_superposition_are_each_matched_by_a_latent_far_better_than_by_any_channel():
    """Ground truth ("beware the chimera"): the narrow shapes model carries its 12 classes in the
    8 channels of conv4, so no channel can be one class. A dictionary trained on conv4 over
    scenes, never told the classes, must find one latent per class: by dissection IoU (tail 1%,
    about a class's share of pixels) the best latent beats the best channel, the best NMF
    direction (as many as the channels), a random orthonormal basis, and the same dictionary
    trained on shuffled activations (each channel permuted alone: the marginals, no classes)."""
    session = nb.Session.load("shapes-narrow")
    held = D.ShapesConcepts(160, start=100_000, masks="classes")
    vectors = CollectVectors(LAYER, 10**9, 0, 32).map(session, D.ShapesConcepts(400, start=0), 0, lambda n: None).ordered()
    assert vectors.shape[1] == 8 < len(session.labels)
    d = fit(vectors, LAYER, Settings(expansion=4, k=2, epochs=20))  # seeds 0-4: mean 0.535-0.570, 7-8 classes far better, none worse
    nmf = NMF(vectors.shape[1], init="nndsvda", max_iter=400, random_state=0).fit(vectors.numpy())
    kinds = {
        "latent": d,
        "channel": None,
        "NMF direction": torch.from_numpy(nmf.components_).float(),
        "random basis": torch.linalg.qr(torch.randn(8, 8, generator=torch.Generator().manual_seed(0)))[0],
        "shuffled baseline": fit(shuffled(vectors), LAYER, d.settings),
    }
    found = {kind: D.dissect(session, LAYER, held, units=atoms, tail=0.01) for kind, atoms in kinds.items()}
    concepts = found["channel"].concepts
    best = {kind: x.iou.max(0).values for kind, x in found.items()}
    print(f"\nshapes-narrow {LAYER} (8 channels, 12 classes), {d} ({d.report}): best IoU per class, tail 1%, {len(held)} held-out scenes")
    for i, c in enumerate(concepts):
        print(f"  {c:24s} " + "  ".join(f"{kind} {float(v[i]):.3f}" for kind, v in best.items()))
    print("  mean                     " + "  ".join(f"{kind} {float(v.mean()):.3f}" for kind, v in best.items()))
    others = torch.stack([v for kind, v in best.items() if kind != "latent"]).amax(0)
    assert float(best["latent"].mean()) > 1.5 * max(float(v.mean()) for kind, v in best.items() if kind != "latent")
    assert bool((best["latent"] >= others - 0.02).all()), "no class is matched better by another kind of atom"
    assert int((best["latent"] > others + 0.1).sum()) >= len(concepts) // 2, "half the classes, at least, by more than 0.1 IoU over every other kind"
