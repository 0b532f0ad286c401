"""The pool's representation: a trunk learned from the unlabelled pool, and its cached features.

See :mod:`alwidget.representation.builder` (what is built, when, and how it is cached),
:mod:`alwidget.representation.contrastive` (the self-supervised method) and
:mod:`alwidget.representation.cache` (the disk cache), :mod:`alwidget.representation.refine`
(the slow cycle's fine-tuning) and :mod:`alwidget.representation.slow_cycle` (when and where it runs).
"""

from .builder import METHODS, PoolRepresentation, Representation, default_contrastive_config, representation_key
from .cache import RepresentationCache, cache_digest
from .contrastive import ContrastiveConfig, contrastive_views, nt_xent_loss, train_contrastive
from .refine import RefineConfig, refine_representation
from .slow_cycle import WHERE, SlowCycle, SlowCycles

__all__ = [
    "METHODS",
    "ContrastiveConfig",
    "PoolRepresentation",
    "RefineConfig",
    "Representation",
    "RepresentationCache",
    "SlowCycle",
    "SlowCycles",
    "WHERE",
    "cache_digest",
    "contrastive_views",
    "default_contrastive_config",
    "nt_xent_loss",
    "refine_representation",
    "representation_key",
    "train_contrastive",
]
