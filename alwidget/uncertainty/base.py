"""The estimator interface: a head on top of the trunk's features, and how to sample it.

An estimator owns the classification head. The trunk runs once per item; the estimator's
:meth:`UncertaintyEstimator.posterior` turns features ``[N, D]`` into the predictive mean
``probs_N_C`` and, where it has one, a posterior: samples ``samples_T_N_C`` or Dirichlet
concentrations ``alpha_N_C``.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Callable, ClassVar, Dict, List, Optional, Sequence, Type

import torch
import torch.nn.functional as F
from torch import nn


DEFAULT_SAMPLES = 20
"""Posterior samples ``T`` a pool is scored with when an estimator is given none."""


def check_samples(n_samples: int) -> int:
    """``n_samples`` as an int, or ``ValueError`` below 1."""
    if int(n_samples) < 1:
        raise ValueError(f"n_samples must be at least 1, got {n_samples}")
    return int(n_samples)


@dataclass
class Posterior:
    """An estimator's beliefs over ``N`` items, as CPU float32 tensors.

    Attributes
    ----------
    probs_N_C : Tensor (N, C)
        Predictive mean probabilities.
    samples_T_N_C : Tensor (T, N, C) or None
        Posterior samples of the class probabilities.
    alpha_N_C : Tensor (N, C) or None
        Dirichlet concentrations (evidential heads).
    """

    probs_N_C: torch.Tensor
    samples_T_N_C: Optional[torch.Tensor] = None
    alpha_N_C: Optional[torch.Tensor] = None

    def with_class_weights(self, weights_C: Optional[Sequence[float]]) -> "Posterior":
        """The posterior with each sample's class probabilities multiplied by ``weights_C`` ``[C]``
        and renormalised (Bayes' rule for new class priors: a head trained on class-balanced
        batches, times the priors); the mean is then the mean of the new samples. ``None``: this
        posterior. Concentrations (``alpha_N_C``) are left as they are."""
        if weights_C is None:
            return self
        w = torch.as_tensor([float(x) for x in weights_C], dtype=torch.float32)

        def weigh(p: torch.Tensor) -> torch.Tensor:  # float32 throughout, one new tensor
            q = p.float() * w
            q /= q.sum(-1, keepdim=True).clamp_min_(1e-30)
            return q

        if self.samples_T_N_C is not None:
            samples = weigh(self.samples_T_N_C)
            return Posterior(samples.mean(0), samples, self.alpha_N_C)
        return Posterior(weigh(self.probs_N_C), None, self.alpha_N_C)


class UncertaintyEstimator(ABC):
    """Builds the head, defines its training loss, and samples its posterior.

    Subclasses set :attr:`name` and :attr:`produces` (a subset of ``{"samples", "alpha"}``).
    """

    name: ClassVar[str] = ""
    produces: ClassVar[frozenset] = frozenset()
    n_samples: int = DEFAULT_SAMPLES
    """Posterior samples ``T`` the learner scores the pool with (where the estimator samples:
    MC dropout's masks, Laplace's weights, Dirichlet draws; a committee's ``T`` is its size).
    Every built-in estimator takes it as a constructor argument, e.g. ``MCDropout(n_samples=30)``
    or ``create_estimator("mc_dropout", n_samples=30)``; memory for the samples grows as
    ``N × T × C`` float32."""

    @abstractmethod
    def build_head(self, in_features: int, num_classes: int) -> nn.Module:
        """A fresh head mapping features ``[B, in_features]`` to outputs for :meth:`loss`."""

    def loss(self, head_out: torch.Tensor, y_B: torch.Tensor, *, weight_C: Optional[torch.Tensor] = None,
             progress: float = 1.0) -> torch.Tensor:
        """Training loss of one batch; ``progress`` in ``[0, 1]`` is the share of training done
        (for annealed terms). The default is cross entropy on logits."""
        return F.cross_entropy(head_out, y_B, weight=weight_C)

    def predict_proba(self, head: nn.Module, features_N_D: torch.Tensor) -> torch.Tensor:
        """Deterministic class probabilities ``[N, C]`` (dropout off)."""
        head.eval()
        with torch.no_grad():
            return torch.softmax(head(features_N_D), dim=-1)

    def fit_posterior(self, head: nn.Module, features_L_D: torch.Tensor, y_L: torch.Tensor) -> None:
        """Called after training with the labelled features (for post-hoc posteriors such as
        Laplace). The default does nothing."""

    @abstractmethod
    def posterior(self, head: nn.Module, features_N_D: torch.Tensor, *, n_samples: int,
                  generator: torch.Generator) -> Posterior:
        """The posterior over ``N`` items; ``n_samples`` is ``T`` where the estimator samples."""

    def config(self) -> Dict[str, object]:
        """Constructor arguments, for checkpoints and reports."""
        return {}

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.config().items())
        return f"{type(self).__name__}({args})"


_ESTIMATORS: Dict[str, Type[UncertaintyEstimator]] = {}


def register_estimator(cls: Type[UncertaintyEstimator]) -> Type[UncertaintyEstimator]:
    """Class decorator adding an estimator to the registry under ``cls.name``."""
    if not cls.name:
        raise ValueError(f"{cls.__name__} has no name")
    _ESTIMATORS[cls.name] = cls
    return cls


def available_estimators() -> List[str]:
    """Names accepted by :func:`create_estimator`."""
    return sorted(_ESTIMATORS)


def create_estimator(name, **params) -> UncertaintyEstimator:
    """Create an estimator by registry name (an estimator instance passes through unchanged)."""
    if isinstance(name, UncertaintyEstimator):
        return name
    if name not in _ESTIMATORS:
        raise ValueError(f"unknown uncertainty estimator {name!r}; choose one of {available_estimators()}")
    try:
        return _ESTIMATORS[name](**params)
    except TypeError as exc:
        raise TypeError(f"bad parameters for estimator {name!r}: {exc}") from None


def batched(fn: Callable[[torch.Tensor], torch.Tensor], x_N_D: torch.Tensor, batch: int = 8192,
            dim: int = 0) -> torch.Tensor:
    """Apply ``fn`` to row chunks of ``x_N_D`` and concatenate the results along ``dim``."""
    return torch.cat([fn(x_N_D[i:i + batch]) for i in range(0, len(x_N_D), batch)], dim=dim)
