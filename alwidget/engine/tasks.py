"""The heavy passes over a pool, as picklable tasks on row ranges.

A task holds what it needs (the trunk, or the head and its estimator) and computes one chunk of
rows at a time. The local engine runs it in the notebook's process; the Ray engine ships it to
actors that keep it (and its model) for many chunks. Both call the same code, so they give the
same numbers.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional, Sequence, Tuple

import numpy as np
import torch
from torch import nn

from ..data.tensors import PoolTensors, load_pool_rows, normalize_inputs
from ..model.features import EMBED_BATCH, embed_batch, rows_like
from ..progress import CancelToken, check

__all__ = ["EmbedTask", "ScoreTask", "EMBED_BATCH", "chunk_ranges", "embed_batch"]

def chunk_ranges(n: int, rows: int) -> List[Tuple[int, int, int]]:
    """``(chunk, start, stop)`` covering ``range(n)`` in chunks of ``rows`` (the last shorter)."""
    return [(c, s, min(s + rows, n)) for c, s in enumerate(range(0, n, rows))]


@dataclass
class EmbedTask:
    """The trunk's features of pool rows, in eval mode, without gradients.

    Attributes
    ----------
    trunk : nn.Module
        Maps normalised inputs ``[B, C, S, S]`` to features ``[B, D]``.
    pool : ImagePool
        Where a worker reads the images when it has no cached copies.
    size, in_chans : int
        Model input side (pixels) and channels.
    mean, std : sequence of float
        Per-channel normalisation of pixels in ``[0, 1]``.
    batch_size : int
        Images per forward pass.
    """

    trunk: nn.Module
    pool: Any
    size: int
    in_chans: int
    mean: Sequence[float]
    std: Sequence[float]
    batch_size: int = EMBED_BATCH
    _ready: bool = field(default=False, repr=False, compare=False)

    @classmethod
    def of(cls, trunk: nn.Module, tensors: PoolTensors) -> "EmbedTask":
        """The task for ``trunk`` on the pool, size, channels and normalisation of ``tensors``."""
        return cls(trunk, tensors.pool, tensors.size, tensors.in_chans, tensors.mean.flatten().tolist(),
                   tensors.std.flatten().tolist(), embed_batch(tensors.size))

    def _setup(self) -> None:
        if not self._ready:
            self.trunk.eval()
            self._mean = torch.tensor(list(self.mean), dtype=torch.float32).view(1, -1, 1, 1)
            self._std = torch.tensor(list(self.std), dtype=torch.float32).view(1, -1, 1, 1)
            self._ready = True

    def __getstate__(self) -> Dict[str, Any]:
        state = self.__dict__.copy()
        state["_ready"] = False
        state.pop("_mean", None)
        state.pop("_std", None)
        return state

    def __call__(self, start: int, stop: int, tensors: Optional[PoolTensors] = None,
                 cancel: Optional[CancelToken] = None) -> Dict[str, Any]:
        """Features of rows ``start:stop``.

        Parameters
        ----------
        start, stop : int
            Pool positions.
        tensors : PoolTensors, optional
            The notebook's cached copies (the local engine); without them the rows are read
            from the pool and resized here.
        cancel : CancelToken, optional
            Polled between batches.

        Returns
        -------
        dict
            ``features``: float32 ``[stop - start, D]`` (zeros for unreadable images);
            ``failed``: ``{position: reason}``.
        """
        self._setup()
        if tensors is not None:
            u8 = tensors.uint8_rows(np.arange(start, stop))
            failed = {p: r for p, r in tensors.failed.items() if start <= p < stop}
        else:
            u8, failed = load_pool_rows(self.pool, start, stop, self.size, self.in_chans)
        out: Optional[torch.Tensor] = None  # allocated once: see rows_like
        with torch.no_grad():
            for b in range(0, len(u8), self.batch_size):
                check(cancel)
                x = normalize_inputs(u8[b:b + self.batch_size].float().div_(255.0), self._mean, self._std)
                y = self.trunk(x)
                if out is None:
                    out = rows_like(y, len(u8))
                out[b:b + len(y)] = y
        feats = out.numpy() if out is not None else np.zeros((0, 0), np.float32)
        if failed:
            feats[np.asarray(sorted(failed), dtype=np.int64) - start] = 0.0
        return {"features": np.ascontiguousarray(feats, dtype=np.float32), "failed": failed}


@dataclass
class ScoreTask:
    """The head's posterior over a chunk of features.

    Every chunk uses a generator seeded with ``seed``, so the posterior samples of a row do not
    depend on how the pool is chunked (for estimators whose samples are drawn per sample, not
    per item: MC dropout with consistent masks, Laplace; ensembles and evidential heads are
    deterministic).

    Attributes
    ----------
    head : nn.Module
        The trained head.
    estimator : UncertaintyEstimator
        Its posterior.
    n_samples : int
        ``T``.
    seed : int
        Seed of the posterior samples.
    keep_samples : bool
        Return ``samples`` ``[T, n, C]`` (else only the mean and concentrations).
    class_weights : sequence of float, optional
        Per-class factors applied to every sample before the mean
        (:meth:`~alwidget.uncertainty.Posterior.with_class_weights`), so the mean is the same
        whether or not the samples are kept.
    """

    head: nn.Module
    estimator: Any
    n_samples: int
    seed: int
    keep_samples: bool = True
    class_weights: Optional[Sequence[float]] = None

    def __call__(self, features_n_D: Any) -> Dict[str, Optional[np.ndarray]]:
        """``probs`` float64 ``[n, C]``, ``samples`` float32 ``[T, n, C]`` or ``None``, ``alpha``
        float32 ``[n, C]`` or ``None``."""
        x = features_n_D if isinstance(features_n_D, torch.Tensor) else torch.from_numpy(np.asarray(features_n_D))
        gen = torch.Generator().manual_seed(int(self.seed))
        post = self.estimator.posterior(self.head, x, n_samples=self.n_samples, generator=gen)
        post = post.with_class_weights(self.class_weights)
        samples = post.samples_T_N_C.numpy() if (self.keep_samples and post.samples_T_N_C is not None) else None
        return {"probs": post.probs_N_C.numpy().astype(np.float64),
                "samples": samples,
                "alpha": None if post.alpha_N_C is None else post.alpha_N_C.numpy()}
