"""A `ray.data.Dataset` passed to a dataset job: its batches are mapped by Ray Data's own actor
pool (a Session replica in each, as `map_batches` does for batch inference), each batch's
partial result comes back as a row, and the rows are merged here as they arrive.

Rows hold "index" (the image's place in the dataset: dataset examples and atlas samples name
images by it, errors report it), "image" (an array `load_image` reads) and, for dissection,
"masks" ({concept: (H, W) bool}). Ray Data retries a batch whose actor died.
"""

from __future__ import annotations

import os
import pickle
from collections.abc import Iterator

import numpy as np

from ..errors import NeuroblocksError
from ..session import Session
from .recipe import Recipe
from .job import Partial, ShardJob, check_same_model
from .progress import Cancel, Tracker, Watcher


class _Batches:
    """Ray Data's callable class: one Session replica, the job's map on each batch."""

    def __init__(self, recipe: Recipe, job: ShardJob, fingerprint: str) -> None:
        import ray

        if ray.get_gpu_ids():
            os.environ.setdefault("NEUROBLOCKS_DEVICE", "cuda")
        self.session, self.job = recipe.build(), job
        check_same_model(self.session.fingerprint, fingerprint)

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """One row: the batch's pickled partial result, its image count, and an error of ours
        (a bad item, a missing column) pickled, to be raised as itself on the driver (Ray
        Data's own wrapping of errors keeps only their text)."""
        try:
            found, count, error = self._map(batch), len(batch.get("image", ())), None
        except NeuroblocksError as e:
            found, count, error = None, 0, e
        return {"partial": np.array([pickle.dumps(found)], dtype=object), "images": np.array([count]), "error": np.array([pickle.dumps(error)], dtype=object)}

    def _map(self, batch: dict[str, np.ndarray]) -> Partial | None:
        missing = {"index", "image"} - set(batch)
        if missing:
            raise NeuroblocksError(
                f"rows of a ray.data.Dataset need the columns 'index' and 'image' (and 'masks' for dissection); these lack {sorted(missing)}: "
                "e.g. ray.data.from_items([{'index': i, 'image': array, 'masks': {...}} for i, ... in enumerate(...)])"
            )
        masks = batch.get("masks")
        rows = [(int(i), batch["image"][k], masks[k] if masks is not None else {}) for k, i in enumerate(batch["index"])]
        found = None
        for run in _consecutive(rows):  # the job numbers items from a start: one map per run of consecutive indices
            part = self.job.map(self.session, [(image, m) for _, image, m in run], run[0][0], lambda n: None)
            found = part if found is None else found.merge(part)
        return found


def _consecutive(rows: list[tuple[int, object, dict]]) -> Iterator[list[tuple[int, object, dict]]]:
    run: list = []
    for row in sorted(rows, key=lambda r: r[0]):
        if run and row[0] != run[-1][0] + 1:
            yield run
            run = []
        run.append(row)
    if run:
        yield run


def run_dataset(
    dataset, job: ShardJob, label: str, *, session: Session, recipe: Recipe, workers: int, num_cpus: float, num_gpus: float,
    batch_size: int, watcher: Watcher | None, cancel: Cancel,
) -> Partial | None:
    """The job over a `ray.data.Dataset`, merged in the order the batches finish."""
    import ray

    mapped = dataset.map_batches(
        _Batches,
        fn_constructor_kwargs={"recipe": recipe, "job": job, "fingerprint": session.fingerprint},
        batch_size=batch_size,
        batch_format="numpy",
        compute=ray.data.ActorPoolStrategy(size=workers),
        num_cpus=num_cpus,
        num_gpus=num_gpus,
    )
    tracker = Tracker(label, 0, None, watcher, cancel)
    result = None
    rows = mapped.iter_rows()
    try:
        for row in rows:
            error = pickle.loads(row["error"])
            if error is not None:
                raise error
            part = pickle.loads(row["partial"])
            result = part if result is None else result.merge(part)
            tracker.add(images=int(row["images"]), shards=1)
            if job.enough(result):
                break
    finally:
        close = getattr(rows, "close", None)
        if close is not None:  # stops the pipeline when the job ends early
            close()
    return result
