"""Learned dictionaries (SPEC §12): a sparse autoencoder recovers atoms planted in superposition
(an analytic toy whose truth is known) that channels and a baseline trained on shuffled vectors
miss; training streams a layer's activations, is cached on disk and reloaded, cancels cleanly;
its quality figures equal direct computations; its latents are atoms of the views (groups whose
attribution is d(logit)/dz · z, a semantic dictionary over latents); and on the shapes world,
per concept, the best latent's dissection IoU is reported beside the best channel's, the best
NMF direction's and the shuffled baseline's."""

from __future__ import annotations

import threading

import pytest
import torch
from sklearn.decomposition import NMF

import neuroblocks as nb
from neuroblocks import dissection as D
from neuroblocks.dictionary import Settings, measure, substituted, train_dictionary
from neuroblocks.dictionary.latent_groups import latent_groups
from neuroblocks.dictionary.train import fit
from neuroblocks.dictionary.vectors import CollectVectors
from neuroblocks.dissection.units import upsampled
from neuroblocks.errors import NeuroblocksError
from neuroblocks.widgets.payload import decode

LAYER = "conv4"
SMALL = Settings(expansion=2, k=4, epochs=4)


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
    first = train_dictionary(shapes_session, LAYER, data, expansion=2, k=4, epochs=3, progress=lambda p: reports.append(str(p)))
    saved = list((tmp_path / "dictionaries").iterdir())
    assert [p.name for p in saved] == [f"{first.key}.pt"], "one file, whole (no .part left)"
    assert any("training, epoch: 3/3" in r for r in reports), reports
    reports.clear()
    again = train_dictionary(shapes_session, LAYER, data, expansion=2, k=4, epochs=3, progress=lambda p: reports.append(str(p)))
    assert again.key == first.key and torch.equal(again.sae.decoder, first.sae.decoder)
    assert not any("training" in r for r in reports), "reloaded, not retrained"
    other = train_dictionary(shapes_session, LAYER, D.ShapesConcepts(40, start=500), expansion=2, k=4, epochs=3)
    assert other.key != first.key, "other data, another dictionary"

    stop = threading.Event()
    stop.set()
    with pytest.raises(nb.work.Cancelled):
        train_dictionary(shapes_session, LAYER, data, expansion=2, k=4, epochs=4, cancel=stop)
    assert len(list((tmp_path / "dictionaries").iterdir())) == 2, "a cancelled training leaves nothing on disk"

    with pytest.raises(NeuroblocksError, match="one-shot iterator"):
        train_dictionary(shapes_session, LAYER, iter(data))
    with pytest.raises(ValueError, match="k must be between 1"):
        train_dictionary(shapes_session, LAYER, data, expansion=1, k=500, epochs=1)


def test_latents_are_groups_whose_attribution_is_gradient_times_code(shapes_session):
    image = D.ShapesConcepts(1, start=7)[0][0]
    d = fit(CollectVectors(LAYER, 10**9, 0, 32).map(shapes_session, D.ShapesConcepts(40, start=0), 0, lambda n: None).ordered(), LAYER, SMALL)
    groups = latent_groups(shapes_session, image, d, 4)
    assert len(groups.units) == 4 and groups.description.startswith("the strongest latents of a dictionary")
    # d(logit)/dz_m · z_m summed over positions, by autograd through an explicit code scale t_m = 1.
    a = shapes_session.trace(image, LAYER, logits=False)[LAYER].float()
    codes = d.codes(a)[list(groups.units)]
    t = torch.ones(len(groups.units), requires_grad=True)
    parts = torch.einsum("k,khw,kc->chw", t, codes, d.atoms[list(groups.units)])
    rest = a - torch.einsum("khw,kc->chw", codes, d.atoms[list(groups.units)])
    logits = shapes_session.forward(image[None], replace={LAYER: (rest + parts)[None]}).logits[0]
    for c in (0, 5):
        (grad,) = torch.autograd.grad(logits[c], t, retain_graph=True)
        assert torch.allclose(groups.to_classes[:, c], grad, rtol=1e-4, atol=1e-5)
    with nb.ablate(shapes_session, LAYER, group=(groups, 0)):
        off = shapes_session.trace(image, LAYER, logits=False)[LAYER]
    assert torch.allclose(off, a - codes[0][None] * d.atoms[groups.units[0]][:, None, None], atol=1e-5), "ablating a latent removes its part"


def test_every_latents_attribution_to_every_class_in_one_reverse_pass_equals_the_groups(shapes_session):
    """Two routes to d(logit)/dz · z: latents as atoms reduced from a VJP per class (reverse
    mode, every latent at once), and the image's strongest latents as groups (a JVP per group)."""
    image = D.ShapesConcepts(1, start=7)[0][0]
    d = fit(CollectVectors(LAYER, 10**9, 0, 32).map(shapes_session, D.ShapesConcepts(40, start=0), 0, lambda n: None).ordered(), LAYER, SMALL)
    every = nb.attribution.to_classes(shapes_session, image, LAYER, atoms=d)
    groups = latent_groups(shapes_session, image, d, 5)
    assert every.shape == (d.latents, len(shapes_session.labels))
    assert torch.allclose(every[list(groups.units)], groups.to_classes, rtol=1e-4, atol=1e-5)
    forward = nb.attribution.to_classes(shapes_session, image, LAYER, atoms=d, only=list(groups.units), mode="forward")
    assert torch.allclose(forward, groups.to_classes, rtol=1e-4, atol=1e-5)
    silent = (d.codes(shapes_session.trace(image, LAYER, logits=False)[LAYER]).flatten(1).sum(1) == 0)
    assert silent.any() and every[silent].abs().max() == 0, "a latent that does not fire on the image has no attribution"


def test_a_latents_attribution_back_to_a_lower_layer_is_activation_times_the_gradient_of_its_code(shapes_session):
    image = D.ShapesConcepts(1, start=7)[0][0]
    d = fit(CollectVectors(LAYER, 10**9, 0, 32).map(shapes_session, D.ShapesConcepts(40, start=0), 0, lambda n: None).ordered(), LAYER, SMALL)
    fed = nb.attribution.layer_to_layer(shapes_session, image, "conv3", LAYER, "channels", latents=d, rule="gradient")
    assert fed.shape == (d.latents, 64)
    m = int(fed.abs().sum(1).argmax())
    below = shapes_session.trace(image, "conv3", logits=False)["conv3"].clone().requires_grad_(True)
    above = shapes_session.forward(image[None], replace={"conv3": below[None]}, capture=[LAYER], stop=True).activations[LAYER]
    (grad,) = torch.autograd.grad(d.summed_codes(above)[0, m], below)
    assert torch.allclose(fed[m], (below * grad).detach().flatten(1).sum(1), rtol=1e-4, atol=1e-5)
    with pytest.raises(NeuroblocksError, match="dictionary of the higher layer 'conv4'"):
        nb.attribution.layer_to_layer(shapes_session, image, "conv2", "conv4", latents=fit(torch.rand(500, 64), "conv3", SMALL))


def test_the_unit_browser_lists_latents_with_examples_labels_and_class_support(shapes_session):
    d = fit(CollectVectors(LAYER, 10**9, 0, 32).map(shapes_session, D.ShapesConcepts(40, start=0), 0, lambda n: None).ordered(), LAYER, SMALL)
    data = D.ShapesConcepts(40, start=100_000)
    examples = D.dataset_examples(shapes_session, LAYER, data, k=4, directions=d)
    dissection = D.dissect(shapes_session, LAYER, data, directions=d, tail=0.05)
    images = [data[i][0] for i in range(3)]
    browser = nb.UnitBrowser(shapes_session, examples, dissection=dissection, images=images, icon_steps=0)
    assert browser.wait(120) and not browser.error, browser.error
    assert browser.noun == "latent" and browser.selects == "channel" and len(browser.units) == d.latents
    # A latent's top example is where its code map (upsampled to the image, as examples are scored) peaks over the dataset.
    codes = torch.stack([
        upsampled(d.codes(shapes_session.trace(image, LAYER, logits=False)[LAYER])[None], tuple(image.shape[1:]))[0].flatten(1).amax(1)
        for image, _ in (data[i] for i in range(len(data)))
    ])
    assert torch.allclose(examples.scores[:, 0], codes.amax(0), rtol=1e-4, atol=1e-6)
    support = sum(nb.attribution.to_classes(shapes_session, image, LAYER, atoms=d) for image in images)
    m = int(support.abs().amax(1).argmax())
    top = decode(browser.support["value"])[m]
    assert torch.allclose(torch.tensor(top), support[m].topk(3).values, rtol=1e-4, atol=1e-6)
    assert browser.summary.startswith(f"{d.latents} latents of {LAYER}")


def test_views_take_latents_as_their_atoms(shapes_session):
    image = D.ShapesConcepts(1, start=7)[0][0]
    d = fit(CollectVectors(LAYER, 10**9, 0, 32).map(shapes_session, D.ShapesConcepts(40, start=0), 0, lambda n: None).ordered(), LAYER, SMALL)
    dictionary = nb.SemanticDictionary(shapes_session, image, dictionary=d, icon_steps=8)
    groups = nb.NeuronGroups(shapes_session, image, k=4, dictionary=d, icon_steps=8)
    grid = nb.ActivationGrid(shapes_session, image, dictionary=d, icon_steps=0)
    for view in (dictionary, groups, grid):
        assert view.wait(120) and not view.error, view.error
    codes = d.codes(shapes_session.trace(image, LAYER, logits=False)[LAYER])
    assert torch.allclose(torch.tensor(decode(grid.magnitudes)), codes.amax(0)), "each cell sized by its strongest latent's code"
    assert grid.found_by == d.description
    by_atoms = d.drawn_by("decoder")
    assert torch.equal(by_atoms.icon_directions, d.atoms) and torch.equal(d.icon_directions, d.encoder_directions)
    assert by_atoms.icon_key != d.icon_key and nb.SemanticDictionary(shapes_session, image, dictionary=by_atoms, icon_steps=0).unit_key == by_atoms.icon_key
    assert dictionary.layer == LAYER and dictionary.unit == "latent" and dictionary.acts["shape"] == [d.latents, 8, 8]
    assert dictionary.found_by == d.description and dictionary.unit_key == d.icon_key
    assert groups.method == "dictionary" and groups.masks["shape"][0] == 4 and groups.found_by.startswith("the strongest latents")
    with pytest.raises(NeuroblocksError, match="trained on 'conv4', not 'conv3'"):
        nb.SemanticDictionary(shapes_session, image, "conv3", dictionary=d)
    with pytest.raises(NeuroblocksError, match="needs a trained dictionary"):
        nb.NeuronGroups(shapes_session, image, "conv3", method="dictionary")


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
        "latent": D.dissect(shapes_session, LAYER, held, directions=d, tail=0.05),
        "channel": D.dissect(shapes_session, LAYER, held, tail=0.05),
        "NMF direction": D.dissect(shapes_session, LAYER, held, directions=torch.from_numpy(nmf.components_).float(), tail=0.05),
        "random basis": D.dissect(shapes_session, LAYER, held, directions=torch.linalg.qr(torch.randn(vectors.shape[1], vectors.shape[1], generator=torch.Generator().manual_seed(0)))[0], tail=0.05),
        "shuffled baseline": D.dissect(shapes_session, LAYER, held, directions=fit(shuffled(vectors), LAYER, d.settings), tail=0.05),
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
