"""EDL vacuity strategy: pick items with the least evidence under an evidential head."""

from __future__ import annotations

import numpy as np

from .._common import ScoreStrategy, check_estimate, field_array
from ..base import PoolEstimate
from ..registry import register_strategy
from ..scores import edl_vacuity

__all__ = ["EDLVacuityStrategy"]


@register_strategy
class EDLVacuityStrategy(ScoreStrategy):
    """Evidential vacuity (Sensoy et al. 2018): score ``u = C / sum_c alpha_c``.

    ``select`` takes the ``k`` selectable items with the highest score, most
    informative first; ties go to the lower pool index (deterministic, ``rng`` unused).
    Requires: ``alpha_N_C``.
    """

    name = "edl_vacuity"
    requires = frozenset({"alpha"})

    def score(self, estimate: PoolEstimate) -> np.ndarray:
        """Vacuity ``C / sum_c alpha_c`` of ``alpha_N_C``.

        Parameters
        ----------
        estimate : PoolEstimate
            Must carry ``alpha_N_C``.

        Returns
        -------
        ndarray of float64, shape (N,)
            Higher = more informative.
        """
        check_estimate(estimate, self.name, self.requires)
        return edl_vacuity(field_array(estimate, "alpha", self.name))
