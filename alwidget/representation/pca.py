"""The cheap floor among the representations: principal components of the pixels.

A few seconds on any pool, no training, no weights: the images (at the training size, e.g.
32 px) are flattened, centred and projected on their first ``n_components`` principal directions.
On pools whose classes differ by colour and layout (icons, emoji, scanned forms) it is a strong
baseline; on photos it is weak, and the labels then choose another representation (see
:mod:`alwidget.representation.choice`).

:class:`PCAEmbedder` is an ``nn.Module`` like any trunk (normalised images ``[B, C, S, S]`` to
features ``[B, K]``), so images outside the pool are embedded the same way and the cache stores
it as a state dict.
"""

from __future__ import annotations

from typing import Optional

import numpy as np
import torch
from torch import nn

from ..data.tensors import PoolTensors
from ..progress import CancelToken, ProgressCallback, check, report

__all__ = ["PCAEmbedder", "fit_pca", "PCA_COMPONENTS", "PCA_FIT_ROWS"]

PCA_COMPONENTS = 50
"""Components kept (the floor the issue measures: "50 PCA components of the 32 px pixels")."""

PCA_FIT_ROWS = 20_000
"""At most this many images (a seeded sample) fit the components; every image is then projected."""


class PCAEmbedder(nn.Module):
    """Project flattened images on principal directions: ``[B, C, S, S] -> [B, K]``.

    Parameters
    ----------
    in_features : int
        ``C * S * S``.
    n_components : int
        ``K``.
    """

    def __init__(self, in_features: int, n_components: int) -> None:
        super().__init__()
        self.num_features = int(n_components)
        self.register_buffer("mean_F", torch.zeros(int(in_features)))
        self.register_buffer("components_K_F", torch.zeros(int(n_components), int(in_features)))

    def forward(self, x_B_C_S_S: torch.Tensor) -> torch.Tensor:
        """Features ``[B, K]`` (float32)."""
        flat = x_B_C_S_S.reshape(x_B_C_S_S.shape[0], -1).float()
        if flat.shape[1] != self.mean_F.shape[0]:
            raise ValueError(f"PCAEmbedder expects {self.mean_F.shape[0]} input values per image, got {flat.shape[1]}")
        return (flat - self.mean_F) @ self.components_K_F.T


def fit_pca(embedder: PCAEmbedder, tensors: PoolTensors, seed: int, *, max_rows: int = PCA_FIT_ROWS,
            progress: Optional[ProgressCallback] = None, cancel: Optional[CancelToken] = None) -> PCAEmbedder:
    """Fit ``embedder``'s mean and components on (a seeded sample of) the pool's readable images.

    Uses scikit-learn's randomized PCA (``svd_solver="randomized"``, seeded). Returns the same
    module, frozen.
    """
    from sklearn.decomposition import PCA

    n = len(tensors.pool)
    report(progress, "pca", 0.0)
    rng = np.random.default_rng(int(np.random.SeedSequence([int(seed), 31]).generate_state(1)[0]))
    rows = np.sort(rng.choice(n, size=min(n, int(max_rows)), replace=False))
    tensors.ensure(rows.tolist(), cancel=cancel)
    rows = rows[tensors.ok(rows)]
    check(cancel)
    x = tensors.batch(rows).reshape(len(rows), -1).numpy().astype(np.float32)
    k = int(min(embedder.num_features, x.shape[0], x.shape[1]))
    pca = PCA(n_components=k, svd_solver="randomized", random_state=int(rng.integers(2 ** 31))).fit(x)
    with torch.no_grad():
        embedder.mean_F.copy_(torch.from_numpy(pca.mean_.astype(np.float32)))
        embedder.components_K_F.zero_()
        embedder.components_K_F[:k] = torch.from_numpy(pca.components_.astype(np.float32))
    for p in embedder.parameters():
        p.requires_grad_(False)
    report(progress, "pca", 1.0)
    return embedder.eval()
