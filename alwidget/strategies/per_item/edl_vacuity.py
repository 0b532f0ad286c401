"""EDL vacuity strategy: pick items with the least evidence under an evidential head."""

from __future__ import annotations

from .._common import ScoreStrategy
from ..registry import register_strategy
from ..scores import edl_vacuity

__all__ = ["EDLVacuityStrategy"]


@register_strategy
class EDLVacuityStrategy(ScoreStrategy):
    """Evidential vacuity (Sensoy et al. 2018): score ``u = C / sum_c alpha_c``.

    ``select`` takes the ``k`` selectable items with the highest score, most
    informative first; ties go to the lower pool index (deterministic, ``rng`` unused).
    Requires: ``alpha_N_C``.
    """

    name = "edl_vacuity"
    requires = frozenset({"alpha"})
    score_of = staticmethod(edl_vacuity)
    input_field = "alpha"
