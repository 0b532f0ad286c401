"""BALD strategy: pick items with the most mutual information between label and parameters."""

from __future__ import annotations

import numpy as np

from .._common import ScoreStrategy, check_estimate, field_array
from ..base import PoolEstimate
from ..registry import register_strategy
from ..scores import bald

__all__ = ["BALDStrategy"]


@register_strategy
class BALDStrategy(ScoreStrategy):
    """BALD (Houlsby et al. 2011): score ``H[mean_t p_t] - mean_t H[p_t]``.

    Computed from posterior samples. Top-``k`` BALD ignores redundancy inside the
    batch; see ``batchbald`` and ``power`` for batch-aware variants.

    ``select`` takes the ``k`` selectable items with the highest score, most
    informative first; ties go to the lower pool index (deterministic, ``rng`` unused).
    Requires: ``samples_T_N_C``.
    """

    name = "bald"
    requires = frozenset({"samples"})

    def score(self, estimate: PoolEstimate) -> np.ndarray:
        """BALD mutual information (nats) of ``samples_T_N_C``.

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
        return bald(field_array(estimate, "samples", self.name))
