"""Vote entropy strategy: query by committee with the entropy of the members' votes."""

from __future__ import annotations

from .._common import ScoreStrategy
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
    score_of = staticmethod(vote_entropy)
    input_field = "samples"
