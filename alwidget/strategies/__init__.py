"""Acquisition strategies: pure functions and classes on arrays.

Inputs are numpy arrays named by shape (``probs_N_C``, ``samples_T_N_C``,
``features_N_D``, ``alpha_N_C``) gathered in a :class:`PoolEstimate`; outputs are
per-item scores ``(N,)`` or selected indices. Nothing here knows about widgets, files
or models. Importing this package registers every built-in strategy:

========================  ==================  ===========================================
name                      requires            what it picks
========================  ==================  ===========================================
``random``                —                   uniform random
``least_confidence``      —                   lowest top-class probability
``margin``                —                   smallest top-two margin
``entropy``               —                   highest predictive entropy
``bald``                  samples             highest mutual information (BALD)
``variation_ratios``      samples             most disagreement on the top class
``mean_std``              samples             largest mean per-class std
``edl_vacuity``           alpha               least evidence ``C / sum(alpha)``
``vote_entropy``          samples             committee vote entropy
``consensus_kl``          samples             committee KL to the consensus
``batchbald``             samples             greedy BatchBALD batch
``power``                 (base's)            stochastic batch, ``p ∝ score^β``
``coreset``               features            greedy k-center
``badge``                 features            k-means++ on gradient embeddings
``entropy_redundancy``    features            entropy − α·feature redundancy
``kmeans``                features            nearest item to each k-means centroid
``threshold``             (base's)            stream: items above a score threshold
``typiclust``             features            most typical item of each uncovered cluster
``budget_aware``          features            typiclust while labels are few, then margin
========================  ==================  ===========================================

Examples
--------
>>> import numpy as np
>>> from alwidget.strategies import PoolEstimate, create_strategy
>>> est = PoolEstimate(probs_N_C=np.array([[0.9, 0.1], [0.5, 0.5], [0.6, 0.4]]))
>>> create_strategy("entropy").select(est, 2, np.ones(3, bool), np.random.default_rng(0))
array([1, 2])
"""

from __future__ import annotations

from .badge import BADGEStrategy
from .budget_aware import BudgetAwareStrategy
from .base import PoolEstimate, Strategy
from .batchbald import BatchBALDStrategy, CandidateBatch, batchbald_batch
from .coreset import CoresetStrategy
from .entropy_redundancy import EntropyRedundancyStrategy
from .kmeans import KMeansStrategy
from .per_item import (
    BALDStrategy,
    ConsensusKLStrategy,
    EDLVacuityStrategy,
    EntropyStrategy,
    LeastConfidenceStrategy,
    MarginStrategy,
    MeanStdStrategy,
    VariationRatiosStrategy,
    VoteEntropyStrategy,
)
from .power import PowerStrategy
from .random_sampling import RandomStrategy
from .registry import (
    available_strategies,
    create_strategy,
    get_strategy_class,
    register_strategy,
    strategy_requires,
)
from .scores import (
    bald,
    consensus_kl,
    edl_vacuity,
    entropy,
    least_confidence,
    margin,
    margin_of,
    max_probability,
    mean_std,
    normalized_entropy,
    variation_ratios,
    vote_entropy,
)
from .threshold import ThresholdStrategy
from .typiclust import TypiClustStrategy, typicality

__all__ = [
    # interface
    "PoolEstimate",
    "Strategy",
    # registry
    "register_strategy",
    "create_strategy",
    "available_strategies",
    "strategy_requires",
    "get_strategy_class",
    # scores
    "entropy",
    "normalized_entropy",
    "least_confidence",
    "max_probability",
    "margin_of",
    "margin",
    "bald",
    "variation_ratios",
    "mean_std",
    "edl_vacuity",
    "vote_entropy",
    "consensus_kl",
    # batch helpers
    "batchbald_batch",
    "CandidateBatch",
    # strategy classes
    "RandomStrategy",
    "LeastConfidenceStrategy",
    "MarginStrategy",
    "EntropyStrategy",
    "BALDStrategy",
    "VariationRatiosStrategy",
    "MeanStdStrategy",
    "EDLVacuityStrategy",
    "VoteEntropyStrategy",
    "ConsensusKLStrategy",
    "BatchBALDStrategy",
    "PowerStrategy",
    "CoresetStrategy",
    "BADGEStrategy",
    "EntropyRedundancyStrategy",
    "KMeansStrategy",
    "ThresholdStrategy",
    "TypiClustStrategy",
    "BudgetAwareStrategy",
    "typicality",
]
