"""Uncertainty estimators: heads on the trunk's features and their posteriors.

Importing this package registers every estimator; pick one by name with
:func:`create_estimator` (``"softmax"``, ``"mc_dropout"``, ...).
"""

from .base import (Posterior, UncertaintyEstimator, available_estimators, create_estimator,
                   register_estimator)
from . import mc_dropout, softmax  # noqa: F401  (registration)
from .mc_dropout import DropoutMLPHead, MCDropout
from .softmax import Softmax

__all__ = ["Posterior", "UncertaintyEstimator", "available_estimators", "create_estimator",
           "register_estimator", "DropoutMLPHead", "MCDropout", "Softmax"]
