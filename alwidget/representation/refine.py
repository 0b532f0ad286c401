"""The slow cycle: fine-tune the representation's trunk on the labels and confident pseudo-labels.

The self-supervised trunk knows the pool's structure but not the person's classes. Now and then
(every ``refine_every`` new labels, or when asked) a copy of it is fine-tuned, supervised, on
the training labels plus the fast cycle's most confident pseudo-labels, then re-embeds the pool.
The fine-tuning always starts from the self-supervised weights (not from the previous
fine-tuned trunk), so the result depends only on the labels and the seed.
"""

from __future__ import annotations

import copy
import time
from dataclasses import dataclass
from typing import Optional

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ..model.init import seeded_linear
from ..data.tensors import PoolTensors
from ..model.train import TrainConfig, fit
from ..progress import CancelToken, ProgressCallback
from .builder import Representation, StandardizedRaw, embed_pool, one_copy
from .contrastive import use_bf16

__all__ = ["RefineConfig", "refine_representation"]


@dataclass(frozen=True)
class RefineConfig:
    """Settings of the slow cycle.

    Attributes
    ----------
    steps : int
        Optimiser steps of the fine-tuning (600 steps of 64 images take about 35 s on one core
        here with bfloat16).
    lr : float
        Peak AdamW learning rate (one-cycle schedule).
    batch_size : int
    pseudo_fraction : float
        Share of each predicted class's unlabelled items (most confident first) added with the
        predicted class.
    augment : str
        Training augmentation (see :data:`~alwidget.data.augment.AUGMENTATIONS`).
    precision : {"auto", "bf16", "fp32"}
        As for the self-supervised run.
    """

    steps: int = 600
    lr: float = 1e-3
    batch_size: int = 64
    pseudo_fraction: float = 0.5
    augment: str = "shift"
    precision: str = "auto"

    def __post_init__(self) -> None:
        if int(self.steps) < 1 or int(self.batch_size) < 1 or not self.lr > 0:
            raise ValueError("RefineConfig.steps and batch_size must be at least 1 and lr positive")
        if not 0.0 <= self.pseudo_fraction <= 1.0:
            raise ValueError(f"RefineConfig.pseudo_fraction must be in [0, 1], got {self.pseudo_fraction}")


def refine_representation(
    base: Representation,
    tensors: PoolTensors,
    positions_L: np.ndarray,
    y_L: np.ndarray,
    n_classes: int,
    config: RefineConfig,
    *,
    seed: int,
    progress: Optional[ProgressCallback] = None,
    cancel: Optional[CancelToken] = None,
    engine=None,
) -> Representation:
    """A new representation: ``base.trunk`` fine-tuned on ``(positions_L, y_L)``, re-embedding the pool.

    Parameters
    ----------
    base : Representation
        The self-supervised representation (left untouched).
    tensors : PoolTensors
    positions_L, y_L : arrays of int, shape (L,)
        Training items (labels and pseudo-labels together) and their classes; a labelled item
        may appear several times (its weight).
    n_classes : int
    config : RefineConfig
    seed : int
        Seeds the head's initialisation, batch order and augmentation.
    engine : Engine, optional
        Where the pool is re-embedded (see :func:`~alwidget.representation.embed_pool`).

    Returns
    -------
    Representation
        With the fine-tuned trunk and its standardised features; ``seconds`` is the wall time.
    """
    t0 = time.perf_counter()
    positions_L = np.asarray(positions_L, dtype=np.int64)
    y_L = np.asarray(y_L, dtype=np.int64)
    trunk = copy.deepcopy(base.trunk)
    for p in trunk.parameters():
        p.requires_grad_(True)
    # explicit generators only: the slow cycle runs beside the cycle thread, which seeds and draws
    # from torch's global generator (a trunk with dropout of its own still draws from it)
    head = seeded_linear(base.raw_N_D.shape[1], n_classes, torch.Generator().manual_seed(int(seed)))
    module = nn.ModuleDict({"trunk": trunk, "head": head})
    gen = torch.Generator().manual_seed(int(seed) + 1)
    bf16 = use_bf16(config.precision)

    def forward(idx: np.ndarray, training: bool) -> torch.Tensor:
        x = tensors.batch(positions_L[idx], augment=config.augment if training else False, generator=gen)
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            h = trunk(x)
        return head(h.float())

    cfg = TrainConfig(max_steps=config.steps, max_epochs=10**6, batch_size=config.batch_size, lr=config.lr,
                      augment=config.augment, patience=0)
    fit(module, forward, lambda out, y, frac: F.cross_entropy(out, y), y_L, cfg, generator=gen,
        progress=(lambda step, f: progress("refine", f)) if progress else None, cancel=cancel)
    for p in trunk.parameters():
        p.requires_grad_(False)
    trunk.eval()
    one = isinstance(base.raw_N_D, StandardizedRaw)  # a pool past the memory plan: one copy, as its base
    raw, norm, feats = embed_pool(trunk, tensors, progress=progress, cancel=cancel, step="features",
                                   engine=engine, standardize=not one)
    if one:
        raw, feats = one_copy(raw, norm, tensors.failed)
    return Representation(trunk, raw, norm, feats, time.perf_counter() - t0, False)
