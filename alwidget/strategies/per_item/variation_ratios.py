"""Variation ratios strategy: pick items whose posterior samples disagree on the top class."""

from __future__ import annotations

import numpy as np

from .._common import ScoreStrategy, check_estimate, field_array
from ..base import PoolEstimate
from ..registry import register_strategy
from ..scores import variation_ratios

__all__ = ["VariationRatiosStrategy"]


@register_strategy
class VariationRatiosStrategy(ScoreStrategy):
    """Variation ratios: score ``1 - f_mode / T``.

    ``f_mode`` counts the posterior samples predicting the modal class.

    ``select`` takes the ``k`` selectable items with the highest score, most
    informative first; ties go to the lower pool index (deterministic, ``rng`` unused).
    Requires: ``samples_T_N_C``.
    """

    name = "variation_ratios"
    requires = frozenset({"samples"})

    def score(self, estimate: PoolEstimate) -> np.ndarray:
        """Variation ratio of ``samples_T_N_C``.

        Parameters
        ----------
        estimate : PoolEstimate
            Must carry ``samples_T_N_C``.

        Returns
        -------
        ndarray of float64, shape (N,)
            Higher = more informative.
        """
        check_estimate(estimate, self.name, self.requires)
        return variation_ratios(field_array(estimate, "samples", self.name))
