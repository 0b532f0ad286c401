"""The posterior of a head over the whole pool, in one call or in chunks on an engine.

:func:`score_pool` is the one place a pool is scored (each cycle, and a loaded model): a pool
held in memory is scored in one call of the :class:`~alwidget.engine.tasks.ScoreTask`; a pool
past the memory budget, or on a remote engine, in chunks of ``chunk_rows`` rows, assembled in
place. The task seeds every chunk alike, so the result does not depend on the chunking.
"""

from __future__ import annotations

from typing import Any, Optional, Tuple

import numpy as np

from .._threads import torch_threads
from ..progress import CancelToken, ProgressCallback
from .local import Engine
from .tasks import ScoreTask, chunk_ranges

__all__ = ["score_pool"]


def score_pool(task: ScoreTask, features: Any, n_items: int, *, engine: Engine, chunk_rows: int, in_one_call: bool,
               threads: Optional[int] = None, progress: Optional[ProgressCallback] = None,
               cancel: Optional[CancelToken] = None
               ) -> Tuple[np.ndarray, Optional[np.ndarray], Optional[np.ndarray]]:
    """``(probs [N, C] float64, samples [T, N, C] float32 or None, alpha [N, C] float32 or None)``.

    Parameters
    ----------
    task : ScoreTask
        The head, its estimator, ``T``, the seed, whether samples are kept.
    features : tensor ``[N, D]``, or features on disk
        A tensor or array (sliced by rows), or an object whose ``array.read(start, stop)`` gives
        rows (:class:`~alwidget.engine.features.DiskFeatures`).
    in_one_call : bool
        Score ``features`` (a tensor in memory) in one call on this process, with ``threads``
        torch threads (``None``: as they are); else in chunks on ``engine``.
    """
    if in_one_call:
        with torch_threads(threads):
            out = task(features)
        return out["probs"], out["samples"], out["alpha"]
    bounds = chunk_ranges(n_items, chunk_rows)
    array = getattr(features, "array", None)
    if array is not None and hasattr(array, "read"):
        items = ((c, array.read(s, e)) for c, s, e in bounds)
    else:
        items = ((c, features[s:e]) for c, s, e in bounds)
    probs = samples = alpha = None
    for c, out in engine.map_arrays(task, items, len(bounds), progress=progress, cancel=cancel or CancelToken()):
        _, s, e = bounds[c]
        if probs is None:
            probs = np.zeros((n_items, out["probs"].shape[1]), dtype=np.float64)
        probs[s:e] = out["probs"]
        if out["samples"] is not None:
            if samples is None:
                samples = np.zeros((out["samples"].shape[0], n_items, out["samples"].shape[2]), dtype=np.float32)
            samples[:, s:e] = out["samples"]
        if out["alpha"] is not None:
            if alpha is None:
                alpha = np.zeros((n_items, out["alpha"].shape[1]), dtype=np.float32)
            alpha[s:e] = out["alpha"]
    return probs, samples, alpha
