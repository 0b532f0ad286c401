"""The slow cycle of a pretrained trunk: adapt its features to the labels, on a CPU's budget.

Fine-tuning a pretrained network at its own input size is out of reach here: one pass of
EfficientNet-Lite0 at 224 px embeds about 24 images a second on one core, so every re-embedding
of a 10,000-image pool would cost 7 minutes. The trunk therefore stays frozen, and what adapts
is what sits on its features: their standardisation
(:class:`~alwidget.model.features.Standardize`) is kept, and a residual block

``z -> z + W2 · GELU(W1 · dropout(z))``   (``W2`` starts at zero: the block starts as the identity)

is trained with a linear classifier on the labels plus the fast cycle's confident pseudo-labels
(cross-entropy, class-balanced batches, input dropout as the augmentation), a few hundred steps
on cached features: a few seconds. The adapted features ``[N, D]`` become one more candidate
representation (``"pretrained+adapted"``); the labels keep it only when the cross-validated
accuracy on the validation labels (never trained on here) says it helps
(:func:`~alwidget.semi.choice.choose_representation`).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Dict, Optional

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ..model.features import Standardize
from ..model.init import seeded_linear
from ..model.train import TrainConfig, fit
from ..progress import CancelToken, ProgressCallback
from .builder import Representation

__all__ = ["AdaptConfig", "AdaptedNorm", "ResidualAdapter", "adapt_representation", "norm_from_state"]


@dataclass(frozen=True)
class AdaptConfig:
    """Settings of the adapter's training.

    Attributes
    ----------
    hidden : int
        Width of the residual block's hidden layer.
    steps : int
        Optimiser steps (batches of ``batch_size``).
    lr : float
        Peak AdamW learning rate (one-cycle schedule).
    weight_decay : float
    batch_size : int
    dropout : float
        Dropout on the block's input while training.
    """

    hidden: int = 256
    steps: int = 300
    lr: float = 3e-3
    weight_decay: float = 1e-2
    batch_size: int = 128
    dropout: float = 0.3

    def __post_init__(self) -> None:
        if int(self.hidden) < 1 or int(self.steps) < 1 or int(self.batch_size) < 1 or not self.lr > 0:
            raise ValueError("AdaptConfig.hidden, steps and batch_size must be at least 1 and lr positive")
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"AdaptConfig.dropout must be in [0, 1), got {self.dropout}")


class ResidualAdapter(nn.Module):
    """``z + W2 · GELU(W1 · dropout(z))``: ``[B, D] -> [B, D]``, the identity at initialisation.

    Parameters
    ----------
    dim : int
        ``D``.
    hidden : int
    dropout : float
        On the block's input, in training mode only.
    generator : torch.Generator, optional
        Seeds ``W1`` (``W2`` and the biases start at zero).
    """

    def __init__(self, dim: int, hidden: int, dropout: float = 0.0,
                 generator: Optional[torch.Generator] = None) -> None:
        super().__init__()
        self.dropout = float(dropout)
        self.fc1 = seeded_linear(int(dim), int(hidden), generator)
        self.fc2 = nn.Linear(int(hidden), int(dim))
        nn.init.zeros_(self.fc2.weight)
        nn.init.zeros_(self.fc2.bias)

        self.noise: Optional[torch.Generator] = None
        """Draws the training dropout masks when set (never torch's global generator, which the
        cycle thread seeds and draws from meanwhile); ``None``: the global one."""

    def forward(self, z_B_D: torch.Tensor) -> torch.Tensor:
        x = z_B_D
        if self.training and self.dropout > 0:
            keep = 1.0 - self.dropout
            x = x * (torch.rand(x.shape, generator=self.noise) < keep).to(x.dtype) / keep
        return z_B_D + self.fc2(F.gelu(self.fc1(x)))


class AdaptedNorm(nn.Module):
    """``adapter(base(h))``: the representation's own standardisation, then the
    adapter. What a :class:`~alwidget.representation.builder.Representation` calls ``norm``, so
    new images and checkpoints go through the same steps.

    Parameters
    ----------
    base : Standardize
        The pretrained representation's standardisation.
    adapter : ResidualAdapter
    """

    def __init__(self, base: Standardize, adapter: ResidualAdapter) -> None:
        super().__init__()
        self.base = base
        self.adapter = adapter

    @property
    def out_features(self) -> int:
        """The width of the adapted features ``D``."""
        return int(self.adapter.fc2.out_features)

    @classmethod
    def from_state(cls, state: Dict[str, torch.Tensor]) -> "AdaptedNorm":
        """Rebuild from a ``state_dict`` (as :func:`norm_from_state` does)."""
        base = norm_from_state({k[len("base."):]: v for k, v in state.items() if k.startswith("base.")})
        hidden, dim = state["adapter.fc1.weight"].shape
        out = cls(base, ResidualAdapter(int(dim), int(hidden)))
        out.load_state_dict(state)
        return out.eval()

    def forward(self, h_B_D: torch.Tensor) -> torch.Tensor:
        return self.adapter(self.base(h_B_D))


def adapt_representation(base: Representation, positions_L: np.ndarray, y_L: np.ndarray, n_classes: int,
                         config: AdaptConfig = AdaptConfig(), *, seed: int,
                         progress: Optional[ProgressCallback] = None,
                         cancel: Optional[CancelToken] = None) -> Representation:
    """A new representation: ``base``'s features passed through a residual adapter trained on
    ``(positions_L, y_L)``.

    Parameters
    ----------
    base : Representation
        The pretrained representation (left untouched; its trunk is shared, not copied).
    positions_L, y_L : arrays of int, shape (L,)
        Training items (labels and pseudo-labels together) and their classes; never the
        validation labels, which judge the result.
    n_classes : int
    config : AdaptConfig
    seed : int
        Seeds the adapter's and the classifier's initialisation and the batches (explicit
        generators only: this runs beside the cycle thread).
    progress, cancel
        Step ``"adapt"``.

    Returns
    -------
    Representation
        Same trunk and raw features; ``norm`` is an :class:`AdaptedNorm`, ``features_N_D`` the
        adapted features ``[N, D]``; ``seconds`` is the wall time.
    """
    t0 = time.perf_counter()
    positions_L = np.asarray(positions_L, dtype=np.int64)
    y_L = np.asarray(y_L, dtype=np.int64)
    if len(positions_L) == 0:
        raise ValueError("adapting a representation needs at least one label")
    feats = base.features_N_D
    init = torch.Generator().manual_seed(int(seed))
    adapter = ResidualAdapter(feats.shape[1], config.hidden, config.dropout, init)
    adapter.noise = torch.Generator().manual_seed(int(seed) + 2)
    head = seeded_linear(feats.shape[1], int(n_classes), init)
    module = nn.ModuleDict({"adapter": adapter, "head": head})
    x_L = feats[torch.as_tensor(positions_L)]

    def forward(idx: np.ndarray, training: bool) -> torch.Tensor:
        return head(adapter(x_L[torch.as_tensor(idx)]))

    cfg = TrainConfig(max_steps=config.steps, max_epochs=10 ** 6, batch_size=config.batch_size, lr=config.lr,
                      weight_decay=config.weight_decay, augment="none", patience=0)
    fit(module, forward, lambda out, y, frac: F.cross_entropy(out, y), y_L, cfg,
        generator=torch.Generator().manual_seed(int(seed) + 1),
        progress=(lambda step, f: progress("adapt", f)) if progress else None, cancel=cancel)
    adapter.eval()
    adapter.noise = None
    for p in adapter.parameters():
        p.requires_grad_(False)
    norm = AdaptedNorm(base.norm, adapter).eval()
    with torch.no_grad():
        adapted = adapter(feats)
        zero = feats.abs().sum(1) == 0  # unreadable images stay rows of zeros
        adapted[zero] = 0.0
    return Representation(base.trunk, base.raw_N_D, norm, adapted, time.perf_counter() - t0, False)


def norm_from_state(state: Dict[str, torch.Tensor]) -> nn.Module:
    """The :class:`~alwidget.model.features.Standardize` (or the slow cycle's :class:`AdaptedNorm`)
    a saved ``state_dict`` came from."""
    if any(k.startswith("adapter.") for k in state):
        return AdaptedNorm.from_state(state)
    norm = Standardize(int(state["mean"].shape[0]))
    norm.load_state_dict(state)
    return norm
