"""Least confidence strategy: pick items whose top class is least probable."""

from __future__ import annotations

import numpy as np

from .._common import ScoreStrategy, check_estimate
from ..base import PoolEstimate
from ..registry import register_strategy
from ..scores import least_confidence

__all__ = ["LeastConfidenceStrategy"]


@register_strategy
class LeastConfidenceStrategy(ScoreStrategy):
    """Least-confidence sampling: score ``1 - max_c p_c`` on the mean probabilities.

    ``select`` takes the ``k`` selectable items with the highest score, most
    informative first; ties go to the lower pool index (deterministic, ``rng`` unused).
    Requires: nothing beyond ``probs_N_C``.
    """

    name = "least_confidence"
    requires = frozenset()

    def score(self, estimate: PoolEstimate) -> np.ndarray:
        """``1 - max_c p_c`` of ``probs_N_C``.

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
        return least_confidence(estimate.probs_N_C)
