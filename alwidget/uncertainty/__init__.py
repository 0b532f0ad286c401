"""Uncertainty estimators: heads on the trunk's features and their posteriors.

Importing this package registers every estimator; pick one by name with
:func:`create_estimator`:

==============  ===================  ================================================
name            posterior fields     what it is
==============  ===================  ================================================
``softmax``     —                    the head's deterministic softmax
``mc_dropout``  samples              ``T`` dropout masks through the owned head
``ensemble``    samples (``T = K``)  ``K`` heads, each member one sample
``evidential``  alpha, samples       Dirichlet (evidential) head; Dirichlet draws
``laplace``     samples              last-layer Laplace; probit or MC predictive
==============  ===================  ================================================
"""

from .base import (DEFAULT_SAMPLES, Posterior, UncertaintyEstimator, available_estimators, create_estimator,
                   register_estimator)
from . import ensemble, evidential, laplace, mc_dropout, softmax  # noqa: F401  (registration)
from .ensemble import EnsembleHead, EnsembleHeads
from .evidential import Evidential
from .laplace import LaplaceHead, LastLayerLaplace
from .mc_dropout import DropoutMLPHead, MCDropout
from .softmax import Softmax

__all__ = ["DEFAULT_SAMPLES", "Posterior", "UncertaintyEstimator", "available_estimators", "create_estimator",
           "register_estimator", "DropoutMLPHead", "MCDropout", "Softmax", "EnsembleHead", "EnsembleHeads",
           "Evidential", "LaplaceHead", "LastLayerLaplace"]
