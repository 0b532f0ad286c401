"""Per-item strategies: ``select`` is the top-``k`` of a score from :mod:`..scores`.

One module per strategy class; each registers itself on import. Ties in the score go
to the lower pool index, so these strategies never use ``rng``.
"""

from __future__ import annotations

from .bald import BALDStrategy
from .consensus_kl import ConsensusKLStrategy
from .edl_vacuity import EDLVacuityStrategy
from .entropy import EntropyStrategy
from .least_confidence import LeastConfidenceStrategy
from .margin import MarginStrategy
from .mean_std import MeanStdStrategy
from .variation_ratios import VariationRatiosStrategy
from .vote_entropy import VoteEntropyStrategy

__all__ = [
    "LeastConfidenceStrategy",
    "MarginStrategy",
    "EntropyStrategy",
    "BALDStrategy",
    "VariationRatiosStrategy",
    "MeanStdStrategy",
    "EDLVacuityStrategy",
    "VoteEntropyStrategy",
    "ConsensusKLStrategy",
]
