"""BALD strategy: pick items with the most mutual information between label and parameters."""

from __future__ import annotations

from .._common import ScoreStrategy
from ..registry import register_strategy
from ..scores import bald

__all__ = ["BALDStrategy"]


@register_strategy
class BALDStrategy(ScoreStrategy):
    """BALD (Houlsby et al. 2011): score ``H[mean_t p_t] - mean_t H[p_t]``.

    Computed from posterior samples. Top-``k`` BALD ignores redundancy inside the
    batch; see ``batchbald`` and ``power`` for batch-aware variants.

    ``select`` takes the ``k`` selectable items with the highest score, most
    informative first; ties go to the lower pool index (deterministic, ``rng`` unused).
    Requires: ``samples_T_N_C``.
    """

    name = "bald"
    requires = frozenset({"samples"})
    score_of = staticmethod(bald)
    input_field = "samples"
