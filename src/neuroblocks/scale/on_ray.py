"""engine="ray": the dataset's shards mapped by Ray actors, each holding a Session replica
built from a picklable `Recipe`, their partial results merged here in shard order.

What is sent: the recipe once per worker; the job (layer, thresholds, …) with each shard; a
list's slice with its shard, or a Dataset object once (workers index it, so an ImageFolder's
files must be readable where they run). A `ray.data.Dataset` goes to Ray Data (`ray_data`).
A worker that dies has its shard mapped again by a new one; a shard that raises (a bad item)
stops the job with the item's index and reason.
"""

from __future__ import annotations

import functools
import math
import os
import time
from collections import deque
from collections.abc import Iterable, Sequence

import torch

from ..errors import NeuroblocksError
from ..session import Session
from .recipe import Recipe
from .job import Partial, ShardJob, check_same_model
from .progress import Cancel, Tracker, Watcher
from .ray_data import run_dataset


def _ray():
    try:
        import ray
    except ImportError as e:
        raise NeuroblocksError("engine='ray' needs Ray: pip install 'neuroblocks[ray]' (or pip install ray)") from e
    return ray


class _Worker:
    """One Session replica in a Ray actor; on a GPU when Ray gave the actor one."""

    def __init__(self, recipe: Recipe) -> None:
        import ray

        if ray.get_gpu_ids():
            os.environ.setdefault("NEUROBLOCKS_DEVICE", "cuda")
        self.session = recipe.build()

    def identity(self) -> tuple[int, str]:
        return os.getpid(), self.session.fingerprint

    def run(self, job: ShardJob, data: object, start: int, stop: int | None) -> Partial:
        items = data if stop is None else (data[i] for i in range(start, stop))
        return job.map(self.session, items, start, lambda n: None)


class RayEngine:
    """Where and how a dataset job runs on Ray. workers: actors (default: the cluster's GPUs, or
    its CPUs without GPUs); num_gpus, num_cpus: each actor's share; recipe: how workers build
    the Session (default: the session's own, set by `Session.load`); shard_size: images per
    shard (default: about four shards per worker, a multiple of the job's batch); retries: new
    workers a shard may need after its worker died; start_timeout: seconds to wait for the
    cluster to place the workers (their resources may be held by other engines). Ray is
    started (`ray.init()`) unless it runs already, e.g. connected to a cluster with
    `ray.init(address=…)`. The workers stay up between jobs until `close()`."""

    def __init__(
        self,
        workers: int | None = None,
        *,
        num_gpus: float | None = None,
        num_cpus: float = 1,
        recipe: Recipe | None = None,
        shard_size: int | None = None,
        retries: int = 3,
        start_timeout: float = 600,
    ) -> None:
        self.workers, self.num_gpus, self.num_cpus = workers, num_gpus, num_cpus
        self.recipe, self.shard_size, self.retries, self.start_timeout = recipe, shard_size, retries, start_timeout
        self._actors: list = []
        self._target = 0  # workers this engine keeps up
        self._fingerprint: str | None = None
        self.pids: set[int] = set()  # every worker process started, for diagnostics and tests

    # -- workers ---------------------------------------------------------------------------

    def _recipe(self, session: Session) -> Recipe:
        recipe = self.recipe or Recipe.of(session)
        if recipe is None:
            raise NeuroblocksError(
                "engine='ray' builds a Session on every worker from a recipe, and this session was made from a model object: "
                "pass RayEngine(recipe=neuroblocks.scale.Recipe(make_session)) with a function that returns the Session, "
                "or make the session with Session.load(...)"
            )
        return recipe

    def _gpus(self) -> float:
        return self.num_gpus if self.num_gpus is not None else (1 if _ray().cluster_resources().get("GPU", 0) else 0)

    def _start(self, session: Session, count: int, tracker: Tracker) -> list:
        ray = _ray()
        recipe, gpus = self._recipe(session), self._gpus()
        actor = ray.remote(num_cpus=self.num_cpus, num_gpus=gpus)(_Worker)
        started = [actor.remote(recipe) for _ in range(count)]
        asked, since = [a.identity.remote() for a in started], time.monotonic()
        try:
            while ray.wait(asked, num_returns=len(asked), timeout=0.5)[1]:
                tracker.check()
                if time.monotonic() - since > self.start_timeout:
                    raise NeuroblocksError(
                        f"Ray placed fewer than {count} workers within {self.start_timeout:.0f} s: each asks for {self.num_cpus} CPU and {gpus} GPU, "
                        f"and the cluster has {ray.available_resources()} free; close() other engines, ask for fewer workers, or raise start_timeout"
                    )
            try:
                found = ray.get(asked)
            except ray.exceptions.RayActorError as e:
                raise NeuroblocksError(f"the recipe failed on a Ray worker: {e}") from None
            for pid, fingerprint in found:
                self.pids.add(pid)
                check_same_model(fingerprint, session.fingerprint)
        except BaseException:
            for a in started:
                ray.kill(a)
            raise
        return started

    def close(self) -> None:
        """Stop the workers (a later job starts new ones)."""
        if self._actors:
            ray = _ray()
            for a in self._actors:
                ray.kill(a)
        self._actors, self._target = [], 0

    # -- running ---------------------------------------------------------------------------

    def bind(self, session: Session, watcher: Watcher | None = None, cancel: Cancel = None):
        """A `run(job, data, label)` for this session, reporting to `watcher`, stopping on `cancel`."""
        return functools.partial(self._run, session, watcher, cancel)

    def _count(self) -> int:
        """Workers to start: as asked, else one per free GPU, else per free CPU share."""
        if self.workers is not None:
            if self.workers < 1:
                raise NeuroblocksError(f"workers is a number of Ray actors (≥ 1), not {self.workers}")
            return self.workers
        free = _ray().available_resources()
        return max(1, int(free.get("GPU", 0)) or int(free.get("CPU", 1) // self.num_cpus))

    def _shards(self, length: int, batch: int, workers: int) -> list[tuple[int, int]]:
        size = self.shard_size or math.ceil(length / (4 * workers))
        size = max(batch, math.ceil(size / batch) * batch)  # whole batches: the same batches as in-process
        return [(start, min(start + size, length)) for start in range(0, length, size)]

    def _run(self, session: Session, watcher: Watcher | None, cancel: Cancel, job: ShardJob, data: Iterable, label: str) -> Partial | None:
        ray = _ray()
        if not ray.is_initialized():
            ray.init()
        if type(data).__module__.startswith("ray.data"):  # a ray.data.Dataset (Ray Data imported only then)
            size = math.ceil((self.shard_size or 256) / job.batch) * job.batch
            # Ray Data also runs tasks of its own (reads, shuffles): by default one CPU is left to them.
            workers = self._count()
            if self.workers is None and not self._gpus():
                workers = max(1, workers - 1)
            return run_dataset(
                data, job, label, session=session, recipe=self._recipe(session), workers=workers, num_cpus=self.num_cpus,
                num_gpus=self._gpus(), batch_size=size, watcher=watcher, cancel=cancel,
            )
        if not (hasattr(data, "__len__") and hasattr(data, "__getitem__")) or isinstance(data, torch.utils.data.IterableDataset):
            raise NeuroblocksError(
                f"engine='ray' splits the dataset by index, and a {type(data).__name__} has none: pass a list or a map-style Dataset "
                "(for a DataLoader, its .dataset)"
            )
        if self._fingerprint != session.fingerprint:  # workers of another model
            self.close()
            self._fingerprint = session.fingerprint
        self._target = self._target or self._count()
        tracker = Tracker(label, 0, len(data), watcher, cancel)
        if len(self._actors) < self._target:  # the first job, or workers stopped by a cancel
            self._actors += self._start(session, self._target - len(self._actors), tracker)
        shards = self._shards(len(data), job.batch, len(self._actors))
        tracker.shards = len(shards)
        sliced = isinstance(data, Sequence)
        shared = None if sliced else ray.put(data)

        def submit(index: int, actor) -> object:
            start, stop = shards[index]
            return actor.run.remote(job, data[start:stop], start, None) if sliced else actor.run.remote(job, shared, start, stop)

        pending, running = deque(range(len(shards))), {}
        idle, done, failures = list(self._actors), {}, dict.fromkeys(range(len(shards)), 0)
        result, merged_to = None, 0
        try:
            while merged_to < len(shards):
                while idle and pending:
                    index = pending.popleft()
                    actor = idle.pop()
                    running[submit(index, actor)] = (index, actor)
                ready, _ = ray.wait(list(running), num_returns=1, timeout=0.2)
                tracker.check()
                for ref in ready:
                    index, actor = running.pop(ref)
                    try:
                        part = ray.get(ref)
                    except ray.exceptions.RayActorError as e:
                        failures[index] += 1
                        if failures[index] > self.retries:
                            raise NeuroblocksError(f"shard {index} (items {shards[index][0]}–{shards[index][1] - 1}) lost {failures[index]} workers; the last: {e}") from None
                        self._actors.remove(actor)
                        (fresh,) = self._start(session, 1, tracker)
                        self._actors.append(fresh)
                        idle.append(fresh)
                        pending.appendleft(index)
                        continue
                    except ray.exceptions.RayTaskError as e:
                        cause = e.cause if isinstance(e.cause, Exception) else None
                        if isinstance(cause, NeuroblocksError):
                            raise cause from None
                        raise NeuroblocksError(f"shard {index} (items {shards[index][0]}–{shards[index][1] - 1}) failed on a Ray worker: {e}") from None
                    idle.append(actor)
                    done[index] = part
                    tracker.add(images=shards[index][1] - shards[index][0], shards=1)
                while merged_to in done:  # merged in shard order: the same result whatever finished first
                    part = done.pop(merged_to)
                    result = part if result is None else result.merge(part)
                    merged_to += 1
                if result is not None and merged_to < len(shards) and job.enough(result):
                    break
        finally:
            if running:  # stopped early (cancelled, failed, enough): the busy workers go
                for _, actor in running.values():
                    ray.kill(actor)
                busy = {id(a) for _, a in running.values()}
                self._actors = [a for a in self._actors if id(a) not in busy]
        return result
