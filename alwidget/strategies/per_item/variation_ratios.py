"""Variation ratios strategy: pick items whose posterior samples disagree on the top class."""

from __future__ import annotations

from .._common import ScoreStrategy
from ..registry import register_strategy
from ..scores import variation_ratios

__all__ = ["VariationRatiosStrategy"]


@register_strategy
class VariationRatiosStrategy(ScoreStrategy):
    """Variation ratios: score ``1 - f_mode / T``.

    ``f_mode`` counts the posterior samples predicting the modal class.

    ``select`` takes the ``k`` selectable items with the highest score, most
    informative first; ties go to the lower pool index (deterministic, ``rng`` unused).
    Requires: ``samples_T_N_C``.
    """

    name = "variation_ratios"
    requires = frozenset({"samples"})
    score_of = staticmethod(variation_ratios)
    input_field = "samples"
