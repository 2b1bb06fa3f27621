"""Training a dictionary on a layer (docs/explanations/dictionaries.md): one activation pass over the dataset (a dataset
job, in this process or on Ray workers) collects every position's vector, or a uniform sample
of them once they outgrow `memory_mb`; the sparse autoencoder then trains on those vectors on
the session's device, with progress and cancel. The result is saved under the cache directory,
keyed by the model's fingerprint, the layer, the training vectors and the settings, and loaded
instead of retrained when all four are the same."""

from __future__ import annotations

import hashlib
import math
import os
import tempfile
import warnings
from collections.abc import Iterable, Iterator
from dataclasses import asdict, replace
from pathlib import Path

import torch

from ..cache import cache_dir
from ..errors import NeuroblocksError
from ..keywords import checked
from ..scale import runner
from ..scale.options import RunOptions, dataset_job
from ..scale.progress import Cancel, Tracker, Watcher
from ..session import Session
from .dictionary import Dictionary, Settings
from .quality import on_vectors
from .sae import SparseAutoencoder
from .vectors import CollectVectors


@checked
@dataset_job
def train_dictionary(
    session: Session,
    layer: str,
    data: Iterable,
    settings: Settings = Settings(),
    *,
    memory_mb: float = 512,
    batch: int = 32,
    run: RunOptions,
) -> Dictionary:
    """A dictionary for `layer` trained as `settings` say (`Settings`: `expansion` × C latents, k
    active per vector with "topk" or k on average over a batch with "batchtopk", `epochs`, Adam's
    rate `lr`, by default Gao et al.'s 2e-4 / √(M / 2¹⁴)) on `data` (the images dissection and the
    atlas take: a Dataset, a DataLoader, a list). Activations kept for training: at most
    `memory_mb`; `batch` images per pass. engine, progress and cancel as every dataset job takes them (`scale.RunOptions`)."""
    layer = session.check_layer(layer)
    if isinstance(data, Iterator):
        raise NeuroblocksError("the dataset is a one-shot iterator: pass a list, a Dataset or a DataLoader, so the dictionary can be named by its data")
    if not isinstance(settings, Settings):
        raise TypeError(f"settings is a neuroblocks.dictionary.Settings (expansion, k, encoder, epochs, batch, lr, seed), not {type(settings).__name__}")
    if settings.expansion < 1:
        raise NeuroblocksError(f"expansion is the number of latents per channel, at least 1, not {settings.expansion}")
    channels = session.layer_shape(layer)[0]
    cap = max(1, int(memory_mb * 2**20 / (4 * channels)))
    with runner(session, run) as job:
        found = job(CollectVectors(layer, cap, settings.seed, batch), data, f"dictionary of {layer}: activations")
    if found is None or found.seen == 0:
        raise NeuroblocksError("the dataset is empty: a dictionary needs images")
    vectors = found.ordered()
    latents = settings.expansion * vectors.shape[1]
    key = _key(session, layer, vectors, settings)
    path = cache_dir() / "dictionaries" / f"{key}.pt"
    if path.exists():
        sae, scale = _load(path, vectors.shape[1], latents, settings)
        return _made(layer, sae.to(session.device), scale, settings, key, vectors.to(session.device), found.seen)
    made = fit(vectors.to(session.device), layer, settings, key=key, seen=found.seen, progress=run.progress, cancel=run.cancel)
    try:
        _save(path, made.sae, made.scale)
    except OSError as e:
        warnings.warn(f"the dictionary could not be saved in {path.parent} ({e}); set NEUROBLOCKS_CACHE to a writable directory to keep it", stacklevel=2)
    return made


def fit(
    vectors: torch.Tensor, layer: str, settings: Settings = Settings(), *, key: str | None = None, seen: int | None = None,
    progress: Watcher | None = None, cancel: Cancel = None,
) -> Dictionary:
    """A dictionary trained on `vectors` (N, C) of `layer` as given, on their device, without a
    cache: for activations a user has already, and for baselines (shuffled vectors)."""
    tracker = Tracker(f"dictionary of {layer}: training, epoch", settings.epochs, None, progress, cancel)
    sae, scale = _fit(vectors, settings, tracker)
    name = key or hashlib.sha256(f"{layer}|{settings}".encode() + vectors.cpu().contiguous().numpy().tobytes()).hexdigest()[:24]
    return _made(layer, sae, scale, settings, name, vectors, seen or len(vectors))


def _made(layer: str, sae: SparseAutoencoder, scale: float, settings: Settings, key: str, vectors: torch.Tensor, seen: int) -> Dictionary:
    """The dictionary with its quality on its own training vectors."""
    made = Dictionary(layer, sae.eval(), scale, settings, key, len(vectors), seen)
    return replace(made, report=on_vectors(made, vectors))


def _key(session: Session, layer: str, vectors: torch.Tensor, settings: Settings) -> str:
    h = hashlib.sha256()
    h.update(f"{session.fingerprint}|{layer}|{sorted(asdict(settings).items())}|{tuple(vectors.shape)}".encode())
    h.update(vectors.contiguous().numpy().tobytes())
    return h.hexdigest()[:24]


def _fit(x: torch.Tensor, s: Settings, tracker: Tracker) -> tuple[SparseAutoencoder, float]:
    """Adam on mean squared error plus the auxiliary loss; a latent is dead once it has not
    fired for as many vectors as the training set holds."""
    scale = math.sqrt(x.shape[1] / float(x.pow(2).sum(1).mean().clamp(min=1e-12)))
    x = x * scale
    sae = SparseAutoencoder(x.shape[1], s.expansion * x.shape[1], s.k, s.encoder, s.seed).to(x.device)
    with torch.no_grad():
        sae.b_dec.copy_(x.mean(0))
    optimiser = torch.optim.Adam(sae.parameters(), lr=s.rate(sae.latents))
    idle = torch.zeros(sae.latents, dtype=torch.long, device=x.device)  # vectors since each latent last fired
    order = torch.Generator().manual_seed(s.seed)
    sae.train()
    for _ in range(s.epochs):
        for rows in torch.randperm(len(x), generator=order).split(s.batch):
            loss, fired = sae.loss(x[rows.to(x.device)], idle >= len(x))
            optimiser.zero_grad(set_to_none=True)
            loss.backward()
            sae.keep_atoms_unit()
            optimiser.step()
            sae.keep_atoms_unit()
            idle = torch.where(fired, 0, idle + len(rows))
            tracker.check()
        tracker.add(shards=1)
    return sae.eval(), scale


def _save(path: Path, sae: SparseAutoencoder, scale: float) -> None:
    """Written whole, then renamed into place: a crash never leaves half a dictionary."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, tmp = tempfile.mkstemp(dir=path.parent, suffix=".part")
    os.close(handle)
    torch.save({"state": {n: t.cpu() for n, t in sae.state_dict().items()}, "scale": scale}, tmp)
    os.replace(tmp, path)


def _load(path: Path, channels: int, latents: int, s: Settings) -> tuple[SparseAutoencoder, float]:
    saved = torch.load(path, map_location="cpu", weights_only=True)
    sae = SparseAutoencoder(channels, latents, s.k, s.encoder, s.seed)
    sae.load_state_dict(saved["state"])
    return sae.eval(), float(saved["scale"])
