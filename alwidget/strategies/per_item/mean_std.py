"""Mean STD strategy: pick items whose class probabilities vary most across posterior samples."""

from __future__ import annotations

import numpy as np

from .._common import ScoreStrategy, check_estimate, field_array
from ..base import PoolEstimate
from ..registry import register_strategy
from ..scores import mean_std

__all__ = ["MeanStdStrategy"]


@register_strategy
class MeanStdStrategy(ScoreStrategy):
    """Mean STD (Kendall et al. 2015): mean per-class standard deviation over samples.

    The standard deviation is the population one (``ddof=0``).

    ``select`` takes the ``k`` selectable items with the highest score, most
    informative first; ties go to the lower pool index (deterministic, ``rng`` unused).
    Requires: ``samples_T_N_C``.
    """

    name = "mean_std"
    requires = frozenset({"samples"})

    def score(self, estimate: PoolEstimate) -> np.ndarray:
        """Mean per-class standard deviation (``ddof=0``) of ``samples_T_N_C``.

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
        return mean_std(field_array(estimate, "samples", self.name))
