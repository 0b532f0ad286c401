"""Vote entropy strategy: query by committee with the entropy of the members' votes."""

from __future__ import annotations

import numpy as np

from .._common import ScoreStrategy, check_estimate, field_array
from ..base import PoolEstimate
from ..registry import register_strategy
from ..scores import vote_entropy

__all__ = ["VoteEntropyStrategy"]


@register_strategy
class VoteEntropyStrategy(ScoreStrategy):
    """Query by committee with vote entropy.

    Each posterior sample (committee member) votes for its argmax class; the score is
    the entropy of the vote distribution.

    ``select`` takes the ``k`` selectable items with the highest score, most
    informative first; ties go to the lower pool index (deterministic, ``rng`` unused).
    Requires: ``samples_T_N_C``.
    """

    name = "vote_entropy"
    requires = frozenset({"samples"})

    def score(self, estimate: PoolEstimate) -> np.ndarray:
        """Vote entropy (nats) of the committee ``samples_T_N_C``.

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
        return vote_entropy(field_array(estimate, "samples", self.name))
