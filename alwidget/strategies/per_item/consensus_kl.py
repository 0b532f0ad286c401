"""Consensus KL strategy: query by committee with the members' mean KL from the consensus."""

from __future__ import annotations

import numpy as np

from .._common import ScoreStrategy, check_estimate, field_array
from ..base import PoolEstimate
from ..registry import register_strategy
from ..scores import consensus_kl

__all__ = ["ConsensusKLStrategy"]


@register_strategy
class ConsensusKLStrategy(ScoreStrategy):
    """Query by committee, KL to the consensus: score = ``mean_t KL(p_t || mean_t p_t)``.

    ``select`` takes the ``k`` selectable items with the highest score, most
    informative first; ties go to the lower pool index (deterministic, ``rng`` unused).
    Requires: ``samples_T_N_C``.
    """

    name = "consensus_kl"
    requires = frozenset({"samples"})

    def score(self, estimate: PoolEstimate) -> np.ndarray:
        """Mean KL divergence (nats) of the members from their consensus.

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
        return consensus_kl(field_array(estimate, "samples", self.name))
