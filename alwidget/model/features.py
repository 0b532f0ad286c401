"""Trunk features: computed in batches, and cached for ``embed`` mode.

In ``embed`` mode the backbone is frozen, so each pool item's features are computed once and
kept (in memory, and on disk when a cache folder is given); every later cycle retrains only
the head on them. In ``finetune`` mode they are recomputed after each training run.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Optional, Sequence, Union

import numpy as np
import torch
from torch import nn

from ..progress import CancelToken, ProgressCallback, check, report
from .preprocess import PoolTensors


def compute_features(
    trunk: nn.Module,
    tensors: PoolTensors,
    positions: Sequence[int],
    *,
    batch_size: int = 512,
    progress: Optional[ProgressCallback] = None,
    cancel: Optional[CancelToken] = None,
    step: str = "embed",
) -> torch.Tensor:
    """Features ``[n, D]`` (float32) of the pool items at ``positions``, trunk in eval mode.

    Unreadable images give rows of zeros; ``tensors.failed`` lists them.
    """
    positions = np.asarray(positions, dtype=np.int64)
    trunk.eval()
    out = []
    with torch.no_grad():
        for start in range(0, len(positions), batch_size):
            check(cancel)
            report(progress, step, start / max(1, len(positions)))
            chunk = positions[start:start + batch_size]
            tensors.ensure(chunk.tolist(), cancel=cancel)
            out.append(trunk(tensors.batch(chunk)).float())
    report(progress, step, 1.0)
    if not out:
        return torch.zeros((0, getattr(trunk, "num_features", 0)))
    return torch.cat(out)


class FeatureCache:
    """Standardised features of a whole pool for a frozen trunk, computed once.

    After :meth:`get`, :attr:`norm` holds the :class:`Standardize` that maps the trunk's raw
    features to the cached ones (to apply to images outside the pool).

    Parameters
    ----------
    key : str
        Identifies the trunk, its weights, the input size and the pool; part of the file name
        when ``cache_dir`` is given.
    cache_dir : path, optional
        Folder for ``features-<hash>.pt`` files, so a restarted session skips the embedding.
    """

    def __init__(self, key: str, cache_dir: Optional[Union[str, Path]] = None) -> None:
        self.key = key
        self.path = None
        if cache_dir is not None:
            digest = hashlib.sha256(key.encode()).hexdigest()[:16]
            self.path = Path(cache_dir).expanduser() / f"features-{digest}.pt"
        self.features_N_D: Optional[torch.Tensor] = None
        self.norm: Optional[Standardize] = None

    def get(self, trunk: nn.Module, tensors: PoolTensors, *, progress: Optional[ProgressCallback] = None,
            cancel: Optional[CancelToken] = None) -> torch.Tensor:
        """All pool features ``[N, D]``, from memory, disk, or computed now (then stored)."""
        if self.features_N_D is not None:
            return self.features_N_D
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


class Standardize(nn.Module):
    """Scale each feature dimension to zero mean and unit variance: ``(h - mean) / std``.

    A frozen trunk's features can have any scale (a randomly initialised network's are
    tiny; pretrained ones vary per dimension); a head trains far better on standardised
    inputs. The statistics are buffers, so they travel with the model's checkpoint.

    Parameters
    ----------
    dim : int
        ``D``.
    """

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.register_buffer("mean", torch.zeros(dim))
        self.register_buffer("std", torch.ones(dim))

    @classmethod
    def fit(cls, features_N_D: torch.Tensor, eps: float = 1e-6) -> "Standardize":
        """Statistics of ``features_N_D`` (population std, floored at ``eps``: constant
        dimensions map to zero)."""
        norm = cls(features_N_D.shape[1])
        if len(features_N_D):
            norm.mean.copy_(features_N_D.mean(0))
            norm.std.copy_(features_N_D.std(0, unbiased=False).clamp_min(eps))
        return norm

    def forward(self, h_B_D: torch.Tensor) -> torch.Tensor:
        return (h_B_D - self.mean) / self.std


def weights_digest(module: nn.Module) -> str:
    """A short hash of a module's parameters and buffers (identifies frozen weights)."""
    h = hashlib.sha256()
    for name, t in sorted(module.state_dict().items()):
        h.update(name.encode())
        h.update(t.detach().cpu().contiguous().numpy().tobytes()[:4096])
        h.update(str(tuple(t.shape)).encode())
    return h.hexdigest()[:16]
