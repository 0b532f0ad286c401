"""Trunk features of pool images: computed in batches of a size that keeps activations small,
standardised (:class:`Standardize`), and the digest that names a trunk's weights.

The passes over a whole pool on an engine (chunked, resumable) and ``embed`` mode's feature
cache build on these in :mod:`alwidget.engine.features`.
"""

from __future__ import annotations

import hashlib
from typing import Optional, Sequence

import numpy as np
import torch
from torch import nn

from ..progress import CancelToken, ProgressCallback, check, report
from ..data.tensors import PoolTensors


EMBED_BATCH = 128
"""Images per forward pass of a small-input trunk. The default CNN at 28 px, inference
(``benchmarks/embed_batch.py --model alwidget_cnn --size 28``): 47 MB of activations at 128
images against 156 MB at 512, and 1.18× faster on one thread (BENCHMARKS.md)."""


EMBED_PIXELS = 4 * 224 * 224
"""Input pixels per forward pass of a large-input trunk (4 images at 224 px). Measured here
(EfficientNet-Lite0 at 224 px, inference, ``benchmarks/embed_batch.py``): batches of 16 add
408 MB to the resident set and embed 20.3 images/s on one core, batches of 4 add 126 MB and
embed 28.5 images/s. A CPU gains nothing from larger batches of convolutions that size, and
Binder gives about 2 GB."""


def embed_batch(size: int) -> int:
    """Images per forward pass at ``size`` px: :data:`EMBED_BATCH` for small images, fewer above,
    so a batch's activations stay near 100 MB (:data:`EMBED_PIXELS`: 4 images at 224 px)."""
    return int(max(4, min(EMBED_BATCH, EMBED_PIXELS // max(1, int(size)) ** 2)))


def compute_features(
    trunk: nn.Module,
    tensors: PoolTensors,
    positions: Sequence[int],
    *,
    batch_size: Optional[int] = None,
    progress: Optional[ProgressCallback] = None,
    cancel: Optional[CancelToken] = None,
    step: str = "embed",
) -> torch.Tensor:
    """Features ``[n, D]`` (float32) of the pool items at ``positions``, trunk in eval mode.

    ``batch_size`` images per forward pass (default: :func:`alwidget.engine.embed_batch` of the
    images' size: 128 at 28 px, 4 at 224 px). Unreadable images give rows of zeros;
    ``tensors.failed`` lists them.
    """
    if batch_size is None:

        batch_size = embed_batch(tensors.size)
    positions = np.asarray(positions, dtype=np.int64)
    trunk.eval()
    out: Optional[torch.Tensor] = None
    with torch.no_grad():
        for start in range(0, len(positions), batch_size):
            check(cancel)
            report(progress, step, start / max(1, len(positions)))
            chunk = positions[start:start + batch_size]
            tensors.ensure(chunk.tolist(), cancel=cancel)
            y = trunk(tensors.batch(chunk))
            if out is None:
                out = rows_like(y, len(positions))
            out[start:start + len(chunk)] = y
    report(progress, step, 1.0)
    if out is None:
        return torch.zeros((0, getattr(trunk, "num_features", 0)))
    return out


def rows_like(batch_B_D: torch.Tensor, n: int) -> torch.Tensor:
    """An uninitialised float32 ``[n, D]`` for a pass's outputs, allocated once up front.

    A pass that appends each batch's small output and concatenates at the end leaves that output
    between the batch's large freed temporaries (the float images, the activations), and glibc's
    heap cannot reuse the hole for the next batch: about the batch's input size per item stays
    resident, 12 KB per 32 px colour image — 2.4 GB of a 200,000-image pool's feature pass, 12 GB
    at a million (BENCHMARKS.md, "Where the million-image learner's memory went").
    """
    return torch.empty((int(n), int(batch_B_D.shape[1])), dtype=torch.float32)


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
