"""Entropy strategy: pick items with the most uncertain predictive distribution."""

from __future__ import annotations

import numpy as np

from .._common import ScoreStrategy, check_estimate
from ..base import PoolEstimate
from ..registry import register_strategy
from ..scores import entropy

__all__ = ["EntropyStrategy"]


@register_strategy
class EntropyStrategy(ScoreStrategy):
    """Max-entropy sampling: score ``H[p]`` (nats) of the mean probabilities.

    ``select`` takes the ``k`` selectable items with the highest score, most
    informative first; ties go to the lower pool index (deterministic, ``rng`` unused).
    Requires: nothing beyond ``probs_N_C``.
    """

    name = "entropy"
    requires = frozenset()

    def score(self, estimate: PoolEstimate) -> np.ndarray:
        """Predictive entropy ``H[p]`` (nats) of ``probs_N_C``.

        Parameters
        ----------
        estimate : PoolEstimate
            Must carry ``probs_N_C``.

        Returns
        -------
        ndarray of float64, shape (N,)
            Higher = more informative.
        """
        check_estimate(estimate, self.name, self.requires)
        return entropy(estimate.probs_N_C)
