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
    """Features of a whole pool for a frozen trunk, computed once.

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

    def get(self, trunk: nn.Module, tensors: PoolTensors, *, progress: Optional[ProgressCallback] = None,
            cancel: Optional[CancelToken] = None) -> torch.Tensor:
        """All pool features ``[N, D]``, from memory, disk, or computed now (then stored)."""
        if self.features_N_D is not None:
            return self.features_N_D
        if self.path is not None and self.path.exists():
            saved = torch.load(self.path, map_location="cpu", weights_only=True)
            if saved.get("key") == self.key:
                self.features_N_D = saved["features"]
                tensors.failed.update({int(k): v for k, v in saved.get("failed", {}).items()})
                return self.features_N_D
        feats = compute_features(trunk, tensors, range(len(tensors.pool)), progress=progress, cancel=cancel)
        self.features_N_D = feats
        if self.path is not None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            tmp = self.path.with_suffix(".tmp")
            torch.save({"key": self.key, "features": feats, "failed": dict(tensors.failed)}, tmp)
            tmp.replace(self.path)
        return feats


def weights_digest(module: nn.Module) -> str:
    """A short hash of a module's parameters and buffers (identifies frozen weights)."""
    h = hashlib.sha256()
    for name, t in sorted(module.state_dict().items()):
        h.update(name.encode())
        h.update(t.detach().cpu().contiguous().numpy().tobytes()[:4096])
        h.update(str(tuple(t.shape)).encode())
    return h.hexdigest()[:16]
