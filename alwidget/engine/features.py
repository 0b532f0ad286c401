"""Features of a whole pool on an engine: the chunked, resumable pass and ``embed`` mode's cache.

:func:`embed_rows_chunked` runs a frozen trunk over every pool row, chunk by chunk, on the
local engine or Ray, into a :class:`~alwidget.data.chunked.ChunkedArray` that survives a kill;
:class:`FeatureCache` keeps a frozen trunk's standardised features of a pool (in memory, in one
file, or in chunks on disk read back by :class:`DiskFeatures`).
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Optional, Union

import numpy as np
import torch
from torch import nn

from ..data.tensors import PoolTensors
from ..model.features import Standardize, compute_features
from ..progress import CancelToken, ProgressCallback, report

__all__ = ["DiskFeatures", "FeatureCache", "chunked_moments", "embed_rows_chunked"]


class DiskFeatures:
    """Standardised features ``[N, D]`` of a pool that live on disk, read in chunks.

    Indexing with a tensor or array of positions (``feats[idx]``) returns those rows as a float32
    tensor; ``feats.array`` reads chunks of rows. :meth:`memmap` gives a read-only array view for the
    strategies that need every feature (core-set, k-means, ...).

    Parameters
    ----------
    array : ChunkedArray
        The standardised features, every chunk written.
    """

    def __init__(self, array) -> None:
        self.array = array
        self.shape = torch.Size(array.shape)

    def __len__(self) -> int:
        return int(self.shape[0])

    def __getitem__(self, idx) -> torch.Tensor:
        rows = np.asarray(idx.numpy() if isinstance(idx, torch.Tensor) else idx, dtype=np.int64).reshape(-1)
        return torch.from_numpy(self.array.take(rows))

    def memmap(self) -> np.ndarray:
        """A read-only memory map ``[N, D]`` of the standardised features."""
        return self.array.memmap()

    def numpy(self) -> np.ndarray:
        """Same as :meth:`memmap` (so code that calls ``features.numpy()`` works unchanged)."""
        return self.memmap()


def embed_rows_chunked(trunk: nn.Module, tensors: PoolTensors, folder: Path, key: str, num_features: int, *,
                       engine=None, progress: Optional[ProgressCallback] = None,
                       cancel: Optional[CancelToken] = None, step: str = "embed"):
    """The streaming pass: the trunk's raw features of every pool item into a
    :class:`~alwidget.data.chunked.ChunkedArray` in ``folder``, chunk by chunk, resumable.

    Chunks already written (by an earlier, killed or cancelled pass with the same ``key``) are
    skipped. ``engine`` (default local) runs the chunks; each is written as it arrives, whole.
    Unreadable images give rows of zeros and are recorded in ``tensors.failed``.

    Returns
    -------
    ChunkedArray
        Complete, ``[N, num_features]`` float32.
    """
    from ..data.chunked import ChunkedArray
    from . import EmbedTask, create_engine

    engine = create_engine(engine)
    n = len(tensors.pool)
    arr = ChunkedArray.open(folder, {"what": "raw features", "key": key}, (n, int(num_features)), np.float32,
                            tensors.chunk_rows)
    tensors.failed.update(arr.failed_rows())
    todo = [(c, *arr.bounds(c)) for c in arr.missing()]
    if todo:
        local = getattr(engine, "name", "") == "local"
        for chunk, result in engine.map_rows(EmbedTask.of(trunk, tensors), todo, tensors=tensors if local else None,
                                             progress=progress, cancel=cancel, step=step):
            failed = {int(k): v for k, v in result["failed"].items()}
            arr.write_rows(chunk, result["features"], failed)
            tensors.failed.update(failed)
    report(progress, step, 1.0)
    return arr


def chunked_moments(arr) -> tuple:
    """``(mean [D], std [D])`` (float64, population std) of the rows of a ChunkedArray, in one
    pass of chunks (Chan et al.'s pairwise update)."""
    count, mean, m2 = 0, None, None
    for _, _, rows in arr.iter_chunks():
        x = rows.astype(np.float64)
        if not len(x):
            continue
        n_b, mean_b = len(x), x.mean(0)
        m2_b = ((x - mean_b) ** 2).sum(0)
        if mean is None:
            count, mean, m2 = n_b, mean_b, m2_b
            continue
        delta = mean_b - mean
        total = count + n_b
        mean = mean + delta * (n_b / total)
        m2 = m2 + m2_b + delta ** 2 * (count * n_b / total)
        count = total
    if mean is None:
        d = arr.shape[1]
        return np.zeros(d), np.ones(d)
    return mean, np.sqrt(m2 / count)


class FeatureCache:
    """Standardised features of a whole pool for a frozen trunk, computed once.

    After :meth:`get`, :attr:`norm` holds the :class:`Standardize` that maps the trunk's raw
    features to the cached ones (to apply to images outside the pool).

    Two layouts. By default the features are computed in memory and saved as one file. With
    ``chunked=True`` (pools planned past memory, see :mod:`alwidget.data.budget`) they are
    computed by a streaming, resumable pass into chunks on disk (``features-<hash>/``), then held
    in memory when ``in_memory`` or read from disk in chunks (``features-<hash>-std/``,
    :class:`DiskFeatures`) otherwise.

    Parameters
    ----------
    key : str
        Identifies the trunk, its weights, the input size and the pool; part of the file name
        when ``cache_dir`` is given.
    cache_dir : path, optional
        Folder for the files, so a restarted session skips the embedding (needed for
        ``chunked``).
    chunked : bool
        The streaming pass into chunks on disk.
    in_memory : bool
        With ``chunked``: hold the standardised features in memory once computed.
    num_features : int
        ``D`` (needed for ``chunked``).
    engine : Engine or str, optional
        Where the chunks of the streaming pass run (``"local"`` by default, ``"ray"``).
    """

    def __init__(self, key: str, cache_dir: Optional[Union[str, Path]] = None, *, chunked: bool = False,
                 in_memory: bool = True, num_features: int = 0, engine=None) -> None:
        self.key = key
        self.path = None
        self.chunked = bool(chunked)
        self.in_memory = bool(in_memory)
        self.num_features = int(num_features)
        self.engine = engine
        digest = hashlib.sha256(key.encode()).hexdigest()[:16]
        if cache_dir is not None:
            self.path = Path(cache_dir).expanduser() / f"features-{digest}.pt"
            self.folder = Path(cache_dir).expanduser() / f"features-{digest}"
        elif chunked:
            raise ValueError("chunked features need a cache_dir")
        self.features_N_D: Optional[Union[torch.Tensor, DiskFeatures]] = None
        self.norm: Optional[Standardize] = None

    def get(self, trunk: nn.Module, tensors: PoolTensors, *, progress: Optional[ProgressCallback] = None,
            cancel: Optional[CancelToken] = None):
        """All pool features ``[N, D]`` (a tensor, or :class:`DiskFeatures`), from memory, disk,
        or computed now (then stored)."""
        if self.features_N_D is not None:
            return self.features_N_D
        if self.chunked:
            return self._get_chunked(trunk, tensors, progress, cancel)
        if self.path is not None and self.path.exists():
            saved = torch.load(self.path, map_location="cpu", weights_only=True)
            if saved.get("key") == self.key and "norm" in saved:
                self.norm = Standardize(saved["features"].shape[1])
                self.norm.load_state_dict(saved["norm"])
                self.features_N_D = saved["features"]
                tensors.failed.update({int(k): v for k, v in saved.get("failed", {}).items()})
                return self.features_N_D
        raw = compute_features(trunk, tensors, range(len(tensors.pool)), progress=progress, cancel=cancel)
        self.norm = Standardize.fit(raw)
        with torch.no_grad():
            feats = self.norm(raw)
        self.features_N_D = feats
        if self.path is not None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            tmp = self.path.with_suffix(".tmp")
            torch.save({"key": self.key, "features": feats, "norm": self.norm.state_dict(),
                        "failed": dict(tensors.failed)}, tmp)
            tmp.replace(self.path)
        return feats

    def _get_chunked(self, trunk, tensors, progress, cancel):
        from ..data.chunked import ChunkedArray

        raw = embed_rows_chunked(trunk, tensors, self.folder, self.key, self.num_features, engine=self.engine,
                                 progress=progress, cancel=cancel)
        # standardised like the in-memory layout: statistics over every row (zeros included)
        mean, std = chunked_moments(raw)
        norm = Standardize(raw.shape[1])
        norm.mean.copy_(torch.from_numpy(mean).float())
        norm.std.copy_(torch.from_numpy(std).float().clamp_min(1e-6))
        if self.in_memory:
            feats = torch.empty(tuple(raw.shape), dtype=torch.float32)
            with torch.no_grad():
                for start, stop, rows in raw.iter_chunks():
                    feats[start:stop] = norm(torch.from_numpy(rows))
            self.norm, self.features_N_D = norm, feats
            return feats
        std_arr = ChunkedArray.open(self.folder.with_name(self.folder.name + "-std"),
                                    {"what": "standardised features", "key": self.key}, raw.shape, np.float32,
                                    raw.chunk_rows)
        with torch.no_grad():
            for c in std_arr.missing():
                start, stop = std_arr.bounds(c)
                std_arr.write_chunk(c, norm(torch.from_numpy(raw.read(start, stop))).numpy())
        self.norm, self.features_N_D = norm, DiskFeatures(std_arr)
        return self.features_N_D
