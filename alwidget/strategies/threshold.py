"""Stream-style threshold strategy: take whatever scores above a fixed threshold."""

from __future__ import annotations

from typing import Union

import numpy as np

from ._common import attach_base, base_scores, check_estimate, check_selection, empty_indices
from .base import PoolEstimate, Strategy
from .registry import register_strategy
from .scores import normalized_entropy

__all__ = ["ThresholdStrategy"]


@register_strategy
class ThresholdStrategy(Strategy):
    """Stream-based selective sampling with a fixed uncertainty threshold.

    The pool is read as a stream in index order; every selectable item whose base
    score is strictly greater than :attr:`threshold` is taken, until ``k`` items are
    taken. **If fewer than ``k`` items exceed the threshold, only those are returned**
    (possibly none): a threshold strategy labels "whatever falls above", it does not
    fill the batch. Hence :attr:`fills_batch` is ``False``. Items are returned in
    stream (index) order, not sorted by score; ``rng`` is unused.

    Parameters
    ----------
    threshold : float, default 0.5
        Items with ``score > threshold`` qualify. Exposed as the attribute
        :attr:`threshold` (may be changed between cycles).
    base : str or Strategy, default "entropy"
        Per-item strategy (registry name or instance) providing the score.
    normalize : bool, default False
        Only with ``base="entropy"``: use the normalised entropy ``H[p] / log C`` in
        ``[0, 1]`` instead of nats, so one threshold works for any number of classes.
    """

    name = "threshold"
    requires = frozenset()
    fills_batch = False

    def __init__(
        self,
        threshold: float = 0.5,
        base: Union[str, Strategy] = "entropy",
        normalize: bool = False,
    ) -> None:
        threshold = float(threshold)
        if np.isnan(threshold):
            raise ValueError("strategy 'threshold': threshold must not be NaN")
        self.threshold = threshold
        self.base = attach_base(self, base)
        if normalize and self.base.name != "entropy":
            raise ValueError(
                "strategy 'threshold': normalize=True is defined for base='entropy' only "
                f"(got base {self.base.name!r})"
            )
        self.normalize = bool(normalize)

    def __repr__(self) -> str:
        return (
            f"ThresholdStrategy(threshold={self.threshold!r}, base={self.base.name!r}, "
            f"normalize={self.normalize!r})"
        )

    def score(self, estimate: PoolEstimate) -> np.ndarray:
        """Return the base score (normalised entropy if ``normalize``), shape ``(N,)``.

        Parameters
        ----------
        estimate : PoolEstimate
            Must carry what the base score needs.

        Returns
        -------
        ndarray of float64, shape (N,)
        """
        check_estimate(estimate, self.name, ())
        if self.normalize:
            return normalized_entropy(estimate.probs_N_C)
        return base_scores(self.base, estimate, self.name)

    def select(
        self,
        estimate: PoolEstimate,
        k: int,
        selectable_N: np.ndarray,
        rng: np.random.Generator,
    ) -> np.ndarray:
        """Take the first ``k`` selectable items, in index order, with ``score > threshold``.

        Parameters
        ----------
        estimate : PoolEstimate
            Must carry what the base score needs.
        k : int
            Maximum number to take.
        selectable_N : ndarray of bool, shape (N,)
            Items that may be picked.
        rng : numpy.random.Generator
            Unused.

        Returns
        -------
        ndarray of int64, shape (m,), ``m <= min(k, selectable_N.sum())``
            Increasing indices (stream order).
        """
        k, candidates = check_selection(estimate, k, selectable_N)
        scores = self.score(estimate)
        if np.any(np.isnan(scores)):
            raise ValueError("strategy 'threshold': base scores contain NaN")
        if k == 0:
            return empty_indices()
        above = candidates[scores[candidates] > self.threshold]
        return above[:k].astype(np.int64)
