"""Dataset jobs as mergeable shards: the merges themselves (in this process), then the same jobs
on a real local Ray cluster of 2 CPUs, checked against the in-process results, with a worker
killed mid-job, a bad item, a cancel and the errors a user meets."""

from __future__ import annotations

import math
import os
import signal
import subprocess
import sys
import threading
from pathlib import Path

import pytest
import torch

import neuroblocks as nb
from neuroblocks import dissection as D
from neuroblocks.dissection.quantiles import TopQuantile
from neuroblocks.scale import RayEngine, Recipe

ray = pytest.importorskip("ray", reason="the ray extra is installed by `make test`")

SCENES = 200


# -- merges, in this process -------------------------------------------------------------------


def _true_ranks(values: torch.Tensor, thresholds: torch.Tensor) -> torch.Tensor:
    return (values >= thresholds[:, None]).sum(1)


@pytest.mark.parametrize("capacity", [64, 256])
def test_merged_quantile_summaries_keep_their_stated_rank_bound(capacity):
    """Shards of unequal sizes, summarised apart and merged in two different tree shapes: the
    threshold's true rank stays within the bound the summary states, and the bound is not vacuous."""
    g = torch.Generator().manual_seed(1)
    shards = [torch.rand(6, int(n), generator=g) ** 3 for n in torch.randint(500, 6000, (9,), generator=g)]
    everything = torch.cat(shards, 1)
    rank = math.ceil(0.005 * everything.shape[1])
    summaries = []
    for shard in shards:  # each shard streamed in batches, as a worker does
        q = TopQuantile(6, 0.005, capacity)
        for part in shard.split(700, dim=1):
            q.update(part)
        summaries.append(q)
    left = summaries[0]
    for q in summaries[1:]:
        left = left.merge(q)
    pairs = list(summaries)
    while len(pairs) > 1:  # a balanced tree, in another order
        pairs = [pairs[i].merge(pairs[i + 1]) if i + 1 < len(pairs) else pairs[i] for i in range(0, len(pairs), 2)][::-1]
    for merged in (left, pairs[0]):
        assert merged.n == everything.shape[1] and merged.top.shape[1] <= capacity
        assert not merged.exact and 0 < merged.rank_bound < rank
        errors = (_true_ranks(everything, merged.threshold()) - rank).abs()
        assert int(errors.max()) <= merged.rank_bound


def test_streaming_selects_only_what_it_keeps_and_equals_merging_whole_sorted_batches():
    """`update` selects the top of each batch instead of sorting it: the summary is the same as
    merging each whole batch's exact summary (a sort of everything)."""
    g = torch.Generator().manual_seed(3)
    batches = [torch.randn(4, 3000, generator=g) * (1 + i % 3) for i in range(40)]
    streamed, merged = TopQuantile(4, 0.01, 256), TopQuantile(4, 0.01, 256)
    for b in batches:
        streamed.update(b)
        merged = merged.merge(TopQuantile.of(b, 0.01, 256))
        assert torch.equal(streamed.top, merged.top) and (streamed.weight, streamed.error) == (merged.weight, merged.error)
    assert streamed.weight >= 8 and torch.equal(streamed.threshold(), merged.threshold())


def test_merged_exact_summaries_give_the_exact_quantile_and_a_lopsided_merge_says_what_to_do():
    g = torch.Generator().manual_seed(2)
    a, b = torch.rand(3, 3000, generator=g), torch.rand(3, 5000, generator=g)
    merged = TopQuantile.of(a, 0.005, 4096).merge(TopQuantile.of(b, 0.005, 4096))
    whole = torch.cat([a, b], 1)
    assert merged.exact and merged.rank_bound == 0
    assert torch.equal(merged.threshold(), whole.topk(math.ceil(0.005 * 8000), dim=1).values[:, -1])
    low = TopQuantile(3, 0.2, capacity=8)
    low.update(torch.zeros(3, 10))  # a shard whose values all lie below the other's
    high = TopQuantile(3, 0.2, capacity=8)
    high.update(torch.ones(3, 10) + torch.arange(10.0))
    with pytest.raises(ValueError, match="raise capacity"):
        high.merge(low).merge(TopQuantile.of(torch.full((3, 30), 0.5), 0.2, 8)).threshold()


def test_partial_results_merge_in_any_order_to_the_whole(shapes_session):
    """Each job's map over three shards, merged in two orders, equals its map over the whole."""
    from neuroblocks.atlas.sampling import _Sample
    from neuroblocks.dissection.dataset_examples import _FindExamples
    from neuroblocks.dissection.dissect import _CountOverlaps, _FindTails

    items = [D.ShapesConcepts(40)[i] for i in range(40)]
    cuts = [(0, 8), (8, 24), (24, 40)]  # whole batches of 8, as the Ray engine cuts them
    channels = nb.units.Channels("conv3", 64)

    def parts(job):
        found = [job.map(shapes_session, items[a:b], a, lambda n: None) for a, b in cuts]
        return job.map(shapes_session, items, 0, lambda n: None), found[0].merge(found[1]).merge(found[2]), found[2].merge(found[0].merge(found[1]))

    whole, forward, shuffled = parts(_FindTails(channels, 0.005, 16384, 8))
    for merged in (forward, shuffled):
        assert merged.images == 40 and merged.pixels == whole.pixels
        assert torch.equal(merged.quantile.threshold(), whole.quantile.threshold())
    counts, *merged = parts(_CountOverlaps(channels, whole.quantile.threshold(), tuple(sorted(whole.pixels)), 8))
    for m in merged:
        assert torch.equal(m.inter, counts.inter) and torch.equal(m.fired, counts.fired)
    whole, *merged = parts(_FindExamples(channels, 3, 0.5, 8))
    for m in merged:
        assert torch.equal(m.images, whole.images) and torch.equal(m.crops, whole.crops)
    whole, *merged = parts(_Sample("conv3", 2, None, 0, 8, 3.0, None))
    for m in merged:
        assert torch.equal(m.vectors, whole.vectors) and torch.equal(m.images, whole.images) and torch.equal(m.present, whole.present)


def test_local_progress_counts_images_whatever_holds_them(shapes_session):
    scenes = D.ShapesConcepts(24)
    for data, total in ((torch.utils.data.DataLoader(scenes, batch_size=10), 24), (scenes, 24), ((scenes[i] for i in range(24)), None)):
        seen = []
        D.dataset_examples(shapes_session, "conv3", data, k=1, batch=8, progress=seen.append)
        assert seen[-1].images == total and seen[-1].images_done == 24 and seen[-1].shards_done == 1


def test_a_job_in_the_background_shows_progress_gives_its_result_and_cancels(shapes_session):
    scenes = D.ShapesConcepts(64)
    job = nb.scale.in_background(D.dissect, shapes_session, "conv3", scenes, batch=8)
    found = job.result(timeout=120)
    assert torch.equal(found.iou, D.dissect(shapes_session, "conv3", scenes, batch=8).iou)
    assert job.progress.images_done == 64 and job._bar.bar_style == "success" and job._text.value.startswith("done in")
    assert "application/vnd.jupyter.widget-view+json" in job._repr_mimebundle_()
    slow = threading.Event()
    job = nb.scale.in_background(D.dissect, shapes_session, "conv3", D.ShapesConcepts(4000), batch=8)
    while job.progress is None:
        slow.wait(0.05)
    job._button.click()  # the Cancel button
    with pytest.raises(nb.work.Cancelled):
        job.result(timeout=60)
    assert job._text.value == "cancelled" and job.progress.images_done < 4000


# -- on a local Ray cluster -----------------------------------------------------------------------


@pytest.fixture(scope="module")
def cluster():
    # Workers import neuroblocks but not this test module: its datasets travel by value.
    ray.cloudpickle.register_pickle_by_value(sys.modules[__name__])
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, configure_logging=False)
    yield
    ray.shutdown()


@pytest.fixture(scope="module")
def engine(cluster):
    engine = RayEngine(workers=2)
    yield engine
    engine.close()


@pytest.fixture
def idle(engine):
    """The cluster with the shared engine's workers stopped, for tests that start their own."""
    engine.close()


@pytest.fixture(scope="module")
def scenes():
    return D.ShapesConcepts(SCENES)


def test_dissection_on_two_ray_workers_equals_the_in_process_one(shapes_session, engine, scenes):
    seen = []
    on_ray = D.dissect(shapes_session, "conv3", scenes, capacity=16384, engine=engine, progress=seen.append)
    local = D.dissect(shapes_session, "conv3", scenes, capacity=16384)
    assert local.exact and on_ray.exact and on_ray.images == local.images == SCENES
    assert torch.equal(on_ray.thresholds, local.thresholds)
    assert torch.equal(on_ray.iou, local.iou) and on_ray.labels == local.labels
    assert len(engine.pids) == 2 and os.getpid() not in engine.pids, "two worker processes did the work"
    last = seen[-1]
    assert last.label.startswith("dissection pass 2/2") and last.shards_done == last.shards > 2 and last.images_done == SCENES
    assert "images/s" in str(last) and last.rate > 0
    # The default capacity compacts the summaries: thresholds then agree within the stated bound.
    approximate = D.dissect(shapes_session, "conv3", scenes, engine=engine)
    maps = _upsampled_conv3(shapes_session, scenes)
    rank = math.ceil(0.005 * maps.shape[1])
    assert not approximate.exact and 0 < approximate.rank_bound
    assert int((_true_ranks(maps, approximate.thresholds) - rank).abs().max()) <= approximate.rank_bound


def _upsampled_conv3(session, scenes):
    images = torch.stack([scenes[i][0] for i in range(len(scenes))])
    with torch.no_grad():
        a = session.forward(images, capture=["conv3"], stop=True).activations["conv3"]
    return torch.nn.functional.interpolate(a, size=(64, 64), mode="bilinear", align_corners=False).transpose(0, 1).flatten(1)


def test_dataset_examples_and_atlas_samples_on_ray_equal_the_in_process_ones(shapes_session, engine, scenes):
    on_ray = D.dataset_examples(shapes_session, "conv3", scenes, k=6, engine=engine)
    local = D.dataset_examples(shapes_session, "conv3", scenes, k=6)
    assert torch.equal(on_ray.images, local.images) and torch.equal(on_ray.scores, local.scores)
    assert torch.equal(on_ray.crops, local.crops) and torch.equal(on_ray.maps, local.maps)
    listed = [scenes[i] for i in range(64)]  # a list travels in slices
    sampled = nb.atlas.sample(shapes_session, "conv3", listed, per_image=3, engine=engine)
    here = nb.atlas.sample(shapes_session, "conv3", listed, per_image=3)
    for name in ("vectors", "images", "positions", "patches", "classes", "present"):
        assert torch.equal(getattr(sampled, name), getattr(here, name)), name
    assert sampled.concepts == here.concepts and len(sampled) == 3 * 64


def test_a_dictionarys_activation_pass_on_ray_trains_the_same_dictionary(shapes_session, engine, scenes, tmp_path, monkeypatch):
    """The vectors a dictionary trains on are read by the workers; the dictionary (named by its
    vectors and settings) is the in-process one, trained anew in another empty cache."""
    made = {}
    for where, run_on in (("ray", engine), ("local", "local")):
        monkeypatch.setenv("NEUROBLOCKS_CACHE", str(tmp_path / where))
        made[where] = nb.train_dictionary(shapes_session, "conv3", scenes, nb.dictionary.Settings(expansion=1, k=4, epochs=1), engine=run_on)
    assert made["ray"].key == made["local"].key and made["ray"].seen == made["local"].seen == SCENES * 16 * 16
    assert torch.equal(made["ray"].sae.decoder, made["local"].sae.decoder)


def test_an_image_folder_is_indexed_by_the_workers_as_in_process(shapes_session, engine, scenes, tmp_path):
    import torchvision
    from PIL import Image

    for i in range(40):
        folder = tmp_path / f"class{i % 3}"
        folder.mkdir(exist_ok=True)
        Image.fromarray((scenes[i][0].permute(1, 2, 0).numpy() * 255).round().astype("uint8")).save(folder / f"{i:03d}.png")
    photos = torchvision.datasets.ImageFolder(str(tmp_path))
    on_ray = D.dataset_examples(shapes_session, "conv3", photos, k=3, engine=engine, batch=8)
    local = D.dataset_examples(shapes_session, "conv3", photos, k=3, batch=8)
    assert torch.equal(on_ray.images, local.images) and torch.equal(on_ray.crops, local.crops) and on_ray.images.max() < 40


def test_icons_rendered_on_ray_land_in_the_cache_every_view_reads(shapes_session, engine, monkeypatch, tmp_path):
    layer, channels = "conv1", shapes_session.layer_shape("conv1")[0]
    cached = nb.featurevis.render_icons(shapes_session, layer, size=24, steps=6, seed=5, engine=engine)
    service = nb.featurevis.icon_service(shapes_session)
    before = service.rendered
    icons = nb.icons(shapes_session, layer, range(channels), size=24, steps=6, seed=5)
    assert cached == channels and service.rendered == before, "every icon came from the cache"
    monkeypatch.setenv("NEUROBLOCKS_CACHE", str(tmp_path))  # a new session with an empty cache renders them here
    here = nb.Session.load("shapes")
    local = nb.icons(here, layer, range(3), size=24, steps=6, seed=5)
    assert nb.featurevis.icon_service(here).rendered == 3
    assert int(abs(local.astype(int) - icons[:3].astype(int)).max()) <= 1, "the workers drew the same pictures"


def test_a_ray_data_dataset_is_mapped_by_ray_data_with_the_same_result(shapes_session, idle, scenes):
    items = [(scenes[i][0].permute(1, 2, 0).numpy(), {c: m.numpy() for c, m in scenes[i][1].items()}) for i in range(96)]
    rows = ray.data.from_items([{"index": i, "image": image, "masks": masks} for i, (image, masks) in enumerate(items)])
    seen = []
    on_ray = D.dissect(shapes_session, "conv3", rows, capacity=16384, engine=RayEngine(workers=2, shard_size=32), progress=seen.append)
    local = D.dissect(shapes_session, "conv3", items, capacity=16384)
    assert on_ray.images == 96 and torch.equal(on_ray.thresholds, local.thresholds) and torch.equal(on_ray.iou, local.iou)
    assert seen[-1].images_done == 96 and seen[-1].shards_done == 3
    order = torch.randperm(len(items), generator=torch.Generator().manual_seed(1)).tolist()
    shuffled = ray.data.from_items([{"index": i, "image": items[i][0], "masks": items[i][1]} for i in order])
    examples = D.dataset_examples(shapes_session, "conv3", shuffled, k=3, engine="ray")  # any order of rows
    here = D.dataset_examples(shapes_session, "conv3", items, k=3)
    assert torch.equal(examples.images, here.images) and torch.equal(examples.crops, here.crops)
    with pytest.raises(nb.NeuroblocksError, match="need the columns 'index' and 'image'"):
        D.dataset_examples(shapes_session, "conv3", ray.data.from_items([{"image": image} for image, _ in items[:4]]), engine="ray")


class _Dying(torch.utils.data.Dataset):
    """Shapes scenes whose item `at` kills the process reading it, once (a marker file remembers)."""

    def __init__(self, count: int, at: int, marker: Path) -> None:
        self.scenes, self.at, self.marker = D.ShapesConcepts(count), at, marker

    def __len__(self) -> int:
        return len(self.scenes)

    def __getitem__(self, i: int):
        if i == self.at and not self.marker.exists():
            self.marker.write_text(str(os.getpid()))
            os.kill(os.getpid(), signal.SIGKILL)
        return self.scenes[i]


def test_a_worker_killed_mid_job_has_its_shard_redone_and_the_result_is_unchanged(shapes_session, idle, scenes, tmp_path):
    engine = RayEngine(workers=2, shard_size=32)
    try:
        survived = D.dataset_examples(shapes_session, "conv3", _Dying(SCENES, 77, tmp_path / "killed"), k=4, engine=engine)
    finally:
        engine.close()
    killed = int((tmp_path / "killed").read_text())
    assert killed in engine.pids and len(engine.pids) == 3, "a third worker replaced the killed one"
    local = D.dataset_examples(shapes_session, "conv3", scenes, k=4)
    assert torch.equal(survived.images, local.images) and torch.equal(survived.crops, local.crops)


def test_a_bad_item_stops_the_job_with_its_index_and_reason(shapes_session, engine, scenes):
    items = [scenes[i] for i in range(96)]
    items[70] = ("not an image", items[70][1])
    with pytest.raises(D.BadItem, match="item 70 of the dataset cannot be used") as raised:
        D.dissect(shapes_session, "conv3", items, engine=engine)
    assert raised.value.index == 70
    with pytest.raises(D.BadItem, match="item 70 "):
        D.dissect(shapes_session, "conv3", items)  # in-process: the same report
    assert D.dataset_examples(shapes_session, "conv3", items[:64], k=2, engine=engine).images.shape == (64, 2), "the workers still serve"


def test_a_cancelled_job_stops_and_its_busy_workers_go(shapes_session, idle, scenes):
    engine = RayEngine(workers=2, shard_size=8)
    stop = threading.Event()
    try:
        with pytest.raises(nb.work.Cancelled):
            D.dissect(shapes_session, "conv3", scenes, engine=engine, progress=lambda p: stop.set(), cancel=stop)
        assert len(engine._actors) < 2, "the workers busy at the cancel were stopped"
    finally:
        engine.close()
    with pytest.raises(nb.work.Cancelled):  # in-process, at the next batch
        D.dissect(shapes_session, "conv3", scenes, progress=lambda p: stop.set(), cancel=stop)


def test_ray_errors_say_what_to_do(shapes_session, idle, scenes):
    made = nb.Session(shapes_session.model, labels=shapes_session.labels, input_size=64)
    with pytest.raises(nb.NeuroblocksError, match="recipe"):
        D.dissect(made, "conv3", scenes, engine="ray")
    with pytest.raises(nb.NeuroblocksError, match="not this session's"):
        D.dissect(shapes_session, "conv3", scenes, engine=RayEngine(workers=1, recipe=Recipe.load("shapes", weights="random")))
    with pytest.raises(nb.NeuroblocksError, match="splits the dataset by index.*DataLoader, its .dataset"):
        D.dissect(shapes_session, "conv3", torch.utils.data.DataLoader(scenes, batch_size=8), engine="ray")
    with pytest.raises(nb.NeuroblocksError, match="engine is 'local', 'ray'"):
        D.dissect(shapes_session, "conv3", scenes, engine="dask")
    holder = RayEngine(workers=2)  # holds both CPUs
    try:
        D.dataset_examples(shapes_session, "conv3", [scenes[i] for i in range(8)], k=1, engine=holder)
        with pytest.raises(nb.NeuroblocksError, match="placed fewer than 1 workers within 2 s.*close"):
            D.dissect(shapes_session, "conv3", scenes, engine=RayEngine(workers=1, start_timeout=2))
    finally:
        holder.close()
    code = "import sys; sys.modules['ray'] = None\nimport neuroblocks as nb\nnb.dissection.dissect(nb.Session.load('shapes'), 'conv3', nb.dissection.ShapesConcepts(2), engine='ray')"
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert run.returncode == 1 and "pip install 'neuroblocks[ray]'" in run.stderr


def test_a_recipe_is_what_session_load_was_given_and_builds_the_same_model(shapes_session):
    assert Recipe.of(shapes_session) == Recipe.load("shapes")
    assert Recipe.of(shapes_session).build().fingerprint == shapes_session.fingerprint
    with pytest.raises(TypeError, match="returned a int, not a Session"):
        Recipe(lambda: 3).build()
