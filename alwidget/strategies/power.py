"""Power acquisition: stochastic batches by sampling items with probability ∝ score^β.

Kirsch, Farquhar, Atighehchian, Jesson, Branchaud-Charron & Gal (2023),
"Stochastic Batch Acquisition: A Simple Baseline for Deep Active Learning" (TMLR;
arXiv 2106.12059, 2021). Top-``k`` of a per-item score picks near-duplicates; sampling
without replacement from ``p_i ∝ s_i^β`` spreads the batch at no extra cost. β → ∞
recovers top-``k``; β = 0 is uniform random.
"""

from __future__ import annotations

from typing import Union

import numpy as np

from ._common import attach_base, base_scores, check_estimate, check_selection, empty_indices
from .base import PoolEstimate, Strategy
from .registry import register_strategy

__all__ = ["PowerStrategy", "gumbel_top_k"]


def gumbel_top_k(log_weights_N: np.ndarray, k: int, rng: np.random.Generator) -> np.ndarray:
    """Sample ``k`` distinct indices without replacement with ``P ∝ exp(log_weights)``.

    The Gumbel-top-k trick (Kool et al. 2019): the ``k`` largest of
    ``log_weights_i + G_i`` with ``G_i ~ Gumbel(0, 1)`` are a sample without
    replacement from the categorical ``softmax(log_weights)``, in draw order.
    Items with weight 0 (``log_weights = -inf``) come after every positive-weight item,
    in uniformly random order among themselves (drawn from the same noise).

    Parameters
    ----------
    log_weights_N : ndarray of float, shape (N,)
        Unnormalised log weights; ``-inf`` allowed, NaN not.
    k : int
        Number of draws, ``0 <= k <= N``.
    rng : numpy.random.Generator
        Source of the Gumbel noise.

    Returns
    -------
    ndarray of int64, shape (k,)
        Indices into ``log_weights_N``, first draw first.
    """
    log_weights = np.asarray(log_weights_N, dtype=np.float64)
    if np.any(np.isnan(log_weights)):
        raise ValueError("log weights contain NaN")
    gumbel_N = rng.gumbel(size=log_weights.shape[0])
    positive = np.isfinite(log_weights)
    keys = np.where(positive, log_weights + gumbel_N, gumbel_N)
    # positive-weight items first (key True sorts last, so negate), then by key, descending
    order = np.lexsort((-keys, ~positive))
    return order[:k].astype(np.int64)


@register_strategy
class PowerStrategy(Strategy):
    """Power sampling of a base score: draw the batch with ``p_i ∝ score_i^β``.

    Stochastic batch acquisition (Kirsch et al. 2021/2023): the ``k`` items are a
    sample without replacement from the selectable items with probability proportional
    to ``score_i ** beta`` (Gumbel-top-k, seeded by ``rng``). With ``base="bald"`` this
    is PowerBALD; the default ``base="entropy"`` ("PowerEntropy") works with a
    deterministic model.

    Parameters
    ----------
    base : str or Strategy, default "entropy"
        A per-item strategy (registry name or instance) whose non-negative
        :meth:`~Strategy.score` is the base score ``s_i``.
    beta : float, default 1.0
        The coldness ``β >= 0``: 0 = uniform random, large = close to top-``k``.

    Notes
    -----
    Items with score exactly 0 have probability 0; they are returned (in random order)
    only after every positive-score item, when ``k`` exceeds the number of those.
    The instance's :attr:`requires` is the base strategy's (the class default,
    ``frozenset()``, is that of the default base).
    """

    name = "power"
    requires = frozenset()

    def __init__(self, base: Union[str, Strategy] = "entropy", beta: float = 1.0) -> None:
        beta = float(beta)
        if not np.isfinite(beta) or beta < 0:
            raise ValueError(f"strategy 'power': beta must be a finite number >= 0, got {beta}")
        self.base = attach_base(self, base)
        self.beta = beta

    def __repr__(self) -> str:
        return f"PowerStrategy(base={self.base.name!r}, beta={self.beta!r})"

    def select(
        self,
        estimate: PoolEstimate,
        k: int,
        selectable_N: np.ndarray,
        rng: np.random.Generator,
    ) -> np.ndarray:
        """Sample ``min(k, n_selectable)`` selectable items with ``P ∝ score^β``.

        Parameters
        ----------
        estimate : PoolEstimate
            Must carry what the base score needs.
        k : int
            How many to pick.
        selectable_N : ndarray of bool, shape (N,)
            Items that may be picked.
        rng : numpy.random.Generator
            Source of the Gumbel noise.

        Returns
        -------
        ndarray of int64, shape (min(k, selectable_N.sum()),)
            In draw order.
        """
        check_estimate(estimate, self.name, ())
        k, candidates = check_selection(estimate, k, selectable_N)
        scores = base_scores(self.base, estimate, self.name)[candidates]
        if np.any(np.isnan(scores)) or np.any(scores < 0):
            raise ValueError(
                f"strategy 'power' needs non-negative base scores; base {self.base.name!r} "
                "gave negative or NaN values"
            )
        if k == 0:
            return empty_indices()
        with np.errstate(divide="ignore"):
            log_weights = self.beta * np.log(scores) if self.beta > 0 else np.zeros_like(scores)
        return candidates[gumbel_top_k(log_weights, k, rng)]
