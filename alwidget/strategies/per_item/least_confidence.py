"""Least confidence strategy: pick items whose top class is least probable."""

from __future__ import annotations

from .._common import ScoreStrategy
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
    score_of = staticmethod(least_confidence)
