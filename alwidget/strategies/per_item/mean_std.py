"""Mean STD strategy: pick items whose class probabilities vary most across posterior samples."""

from __future__ import annotations

from .._common import ScoreStrategy
from ..registry import register_strategy
from ..scores import mean_std

__all__ = ["MeanStdStrategy"]


@register_strategy
class MeanStdStrategy(ScoreStrategy):
    """Mean STD (Kendall et al. 2015): mean per-class standard deviation over samples.

    The standard deviation is the population one (``ddof=0``).

    ``select`` takes the ``k`` selectable items with the highest score, most
    informative first; ties go to the lower pool index (deterministic, ``rng`` unused).
    Requires: ``samples_T_N_C``.
    """

    name = "mean_std"
    requires = frozenset({"samples"})
    score_of = staticmethod(mean_std)
    input_field = "samples"
