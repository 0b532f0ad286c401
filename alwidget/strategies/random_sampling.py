"""Random strategy: uniform sampling without replacement (the baseline)."""

from __future__ import annotations

import numpy as np

from ._common import check_select_args, empty_indices
from .base import PoolEstimate, Strategy
from .registry import register_strategy

__all__ = ["RandomStrategy"]


@register_strategy
class RandomStrategy(Strategy):
    """Pick ``k`` selectable items uniformly at random, without replacement.

    The baseline every other strategy should beat. Has no per-item score
    (:meth:`score` returns ``None``); the order of the returned items is the random
    order drawn from ``rng``. Requires nothing beyond ``probs_N_C`` (used only for ``N``).
    """

    name = "random"
    requires = frozenset()

    def select(
        self,
        estimate: PoolEstimate,
        k: int,
        selectable_N: np.ndarray,
        rng: np.random.Generator,
    ) -> np.ndarray:
        """Draw ``min(k, n_selectable)`` distinct selectable indices with ``rng``.

        Parameters
        ----------
        estimate : PoolEstimate
            Gives the pool size.
        k : int
            How many to pick.
        selectable_N : ndarray of bool, shape (N,)
            Items that may be picked.
        rng : numpy.random.Generator
            Source of the permutation.

        Returns
        -------
        ndarray of int64, shape (min(k, selectable_N.sum()),)
        """
        k, candidates = check_select_args(self, estimate, k, selectable_N)
        if k == 0:
            return empty_indices()
        return rng.permutation(candidates)[:k].astype(np.int64)
