"""Margin strategy: pick items whose two top classes are closest."""

from __future__ import annotations

from .._common import ScoreStrategy
from ..registry import register_strategy
from ..scores import margin

__all__ = ["MarginStrategy"]


@register_strategy
class MarginStrategy(ScoreStrategy):
    """Smallest-margin sampling: score ``1 - (p_(1) - p_(2))`` of the mean probabilities.

    See :func:`~alwidget.strategies.scores.margin`.

    ``select`` takes the ``k`` selectable items with the highest score, most
    informative first; ties go to the lower pool index (deterministic, ``rng`` unused).
    Requires: nothing beyond ``probs_N_C``.
    """

    name = "margin"
    requires = frozenset()
    score_of = staticmethod(margin)
