"""Plain softmax: the head's deterministic predictive distribution, no posterior samples."""

from __future__ import annotations

from typing import Dict

import torch
from torch import nn

from .base import batched, check_samples, DEFAULT_SAMPLES, Posterior, register_estimator, UncertaintyEstimator
from .mc_dropout import DropoutMLPHead


@register_estimator
class Softmax(UncertaintyEstimator):
    """Deterministic softmax of the owned head (its dropout regularises training only).

    Parameters
    ----------
    hidden, p_in, p
        As for :class:`~alwidget.uncertainty.mc_dropout.MCDropout`.
    n_samples : int
        Posterior samples ``T`` the learner scores the pool with (default 20).
    """

    name = "softmax"
    produces = frozenset()

    def __init__(self, hidden: int = 128, p_in: float = 0.25, p: float = 0.5,
                 n_samples: int = DEFAULT_SAMPLES) -> None:
        self.n_samples = check_samples(n_samples)
        self.hidden, self.p_in, self.p = int(hidden), float(p_in), float(p)

    def build_head(self, in_features: int, num_classes: int) -> nn.Module:
        return DropoutMLPHead(in_features, num_classes, self.hidden, self.p_in, self.p)

    def posterior(self, head: nn.Module, features_N_D: torch.Tensor, *, n_samples: int,
                  generator: torch.Generator) -> Posterior:
        head.eval()
        with torch.no_grad():
            probs = batched(lambda x: torch.softmax(head(x), -1), features_N_D) if len(features_N_D) else \
                torch.zeros((0, head.num_classes))
        return Posterior(probs_N_C=probs)

    def config(self) -> Dict[str, object]:
        return dict(n_samples=self.n_samples, hidden=self.hidden, p_in=self.p_in, p=self.p)
