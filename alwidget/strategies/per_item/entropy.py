"""Entropy strategy: pick items with the most uncertain predictive distribution."""

from __future__ import annotations

from .._common import ScoreStrategy
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
    score_of = staticmethod(entropy)
