"""Consensus KL strategy: query by committee with the members' mean KL from the consensus."""

from __future__ import annotations

from .._common import ScoreStrategy
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
    score_of = staticmethod(consensus_kl)
    input_field = "samples"
