"""MC dropout through a head alwidget owns (Gal & Ghahramani 2016).

timm applies dropout functionally inside its models, so there is no module to switch into
training mode; and running the whole network ``T`` times is wasteful. The trunk therefore
runs once, deterministically, and only this head is sampled: dropout on its input features
and on its hidden layer, ``T`` masks. With ``consistent_masks=True`` (the default) the mask of
sample ``t`` is the same for every pool item, so the ``T`` samples are ``T`` whole functions:
what BatchBALD's joint entropies need, and cheaper (each mask folds into the weights).
"""

from __future__ import annotations

from typing import Dict, Optional

import torch
import torch.nn.functional as F
from torch import nn

from .base import check_samples, DEFAULT_SAMPLES, Posterior, register_estimator, UncertaintyEstimator


DEFAULT_INPUT_DROPOUT = 0.25
"""Feature dropout of a head on features up to :data:`INPUT_DROPOUT_UP_TO` wide."""

INPUT_DROPOUT_UP_TO = 512
"""Wider features (a pretrained trunk's) get no feature dropout by default (see :class:`MCDropout`)."""


class DropoutMLPHead(nn.Module):
    """``dropout(p_in) → Linear(D, H) → ReLU → dropout(p) → Linear(H, C)``.

    Parameters
    ----------
    in_features : int
        ``D``.
    num_classes : int
        ``C``.
    hidden : int
        ``H``; 0 gives a linear head with input dropout only.
    p_in, p : float
        Dropout probabilities on the features and on the hidden layer.
    """

    def __init__(self, in_features: int, num_classes: int, hidden: int = 128, p_in: float = 0.25,
                 p: float = 0.5) -> None:
        super().__init__()
        self.in_features, self.num_classes, self.hidden = in_features, num_classes, hidden
        self.p_in, self.p = p_in, p
        if hidden > 0:
            self.fc1 = nn.Linear(in_features, hidden)
            self.fc2 = nn.Linear(hidden, num_classes)
        else:
            self.fc1 = None
            self.fc2 = nn.Linear(in_features, num_classes)

    def forward(self, h_B_D: torch.Tensor) -> torch.Tensor:
        """Logits ``[B, C]``; dropout is active in training mode only."""
        x = F.dropout(h_B_D, self.p_in, self.training) if self.p_in > 0 else h_B_D
        if self.fc1 is not None:
            x = F.dropout(F.relu(self.fc1(x)), self.p, self.training)
        return self.fc2(x)

    def sample_logits(self, h_N_D: torch.Tensor, n_samples: int, generator: torch.Generator,
                      consistent_masks: bool = True) -> torch.Tensor:
        """Logits ``[T, N, C]`` under ``T`` dropout masks drawn from ``generator``."""
        t, (n, d) = n_samples, h_N_D.shape
        if self.p_in == 0 and self.fc1 is not None:  # no input mask: the first layer runs once for all samples
            keep = 1.0 - self.p
            shape_h = (t, 1, self.hidden) if consistent_masks else (t, n, self.hidden)
            m_h = (torch.rand(shape_h, generator=generator) < keep).float() / max(keep, 1e-12)
            z = torch.relu(self.fc1(h_N_D))
            if consistent_masks:
                return torch.baddbmm(self.fc2.bias, z.unsqueeze(0).expand(t, n, self.hidden),
                                     m_h.transpose(1, 2) * self.fc2.weight.T.unsqueeze(0))
            return (z.unsqueeze(0) * m_h) @ self.fc2.weight.T + self.fc2.bias
        keep_in = 1.0 - self.p_in
        shape_in = (t, 1, d) if consistent_masks else (t, n, d)
        m_in = (torch.rand(shape_in, generator=generator) < keep_in).float() / max(keep_in, 1e-12)
        if self.fc1 is None:
            return (h_N_D.unsqueeze(0) * m_in) @ self.fc2.weight.T + self.fc2.bias
        keep = 1.0 - self.p
        shape_h = (t, 1, self.hidden) if consistent_masks else (t, n, self.hidden)
        m_h = (torch.rand(shape_h, generator=generator) < keep).float() / max(keep, 1e-12)
        if consistent_masks and keep_in >= 0.5:
            # each sample drops a few inputs (a quarter by default): its first layer is the full
            # layer, computed once, minus what the dropped inputs contribute, (x W - x_d W_d) / keep:
            # at 128 inputs about 3× fewer multiply-adds than T masked layers (BENCHMARKS.md)
            w1_D_H = self.fc1.weight.T
            full_N_H = h_N_D @ w1_D_H
            w2_T_H_C = m_h.transpose(1, 2) * self.fc2.weight.T.unsqueeze(0)
            out = []
            for s in range(t):
                dropped = torch.nonzero(m_in[s, 0] == 0).flatten()
                z = full_N_H - h_N_D[:, dropped] @ w1_D_H[dropped] if len(dropped) else full_N_H.clone()
                z.mul_(1.0 / keep_in).add_(self.fc1.bias).relu_()
                out.append(torch.addmm(self.fc2.bias, z, w2_T_H_C[s]))
            return torch.stack(out)
        if consistent_masks:
            # fold each sample's masks into the weights: T small weight matrices, no [T, N, D] tensor,
            # and the biases added inside the batched products (no extra [T, N, H] pass)
            w1_T_D_H = m_in.transpose(1, 2) * self.fc1.weight.T.unsqueeze(0)
            w2_T_H_C = m_h.transpose(1, 2) * self.fc2.weight.T.unsqueeze(0)
            z = torch.baddbmm(self.fc1.bias, h_N_D.unsqueeze(0).expand(t, n, d), w1_T_D_H).relu_()
            return torch.baddbmm(self.fc2.bias, z, w2_T_H_C)
        z = torch.relu((h_N_D.unsqueeze(0) * m_in) @ self.fc1.weight.T + self.fc1.bias)
        return (z * m_h) @ self.fc2.weight.T + self.fc2.bias


@register_estimator
class MCDropout(UncertaintyEstimator):
    """MC dropout: ``T`` stochastic passes through the owned head.

    Parameters
    ----------
    hidden : int
        Width ``H`` of the head's hidden layer.
    p_in : float, optional
        Dropout on the features. ``None`` (the default): 0.25 for features up to
        :data:`INPUT_DROPOUT_UP_TO` wide, none for wider ones (a pretrained trunk's 1,280): on the
        emoji development split the input dropout made no difference to a head on 1,280 features
        (±0.5 points at 20 and 60 labels, with the class-prior factors), and without it the first
        layer runs once per item instead of once per sample, which makes a 10,000-item fast cycle
        about 3× faster (BENCHMARKS.md).
    p : float
        Dropout on the hidden layer.
    consistent_masks : bool
        Share each sample's mask across all items (see module docstring).
    n_samples : int
        Posterior samples ``T`` the learner scores the pool with (default 20).
    """

    name = "mc_dropout"
    produces = frozenset({"samples"})

    def __init__(self, hidden: int = 128, p_in: Optional[float] = None, p: float = 0.5,
                 consistent_masks: bool = True, n_samples: int = DEFAULT_SAMPLES) -> None:
        self.n_samples = check_samples(n_samples)
        for label, value in (("p_in", p_in), ("p", p)):
            if value is not None and not 0.0 <= value < 1.0:
                raise ValueError(f"{label} must be in [0, 1), got {value}")
        self.hidden, self.p, self.consistent_masks = int(hidden), float(p), bool(consistent_masks)
        self.p_in = None if p_in is None else float(p_in)

    def input_dropout(self, in_features: int) -> float:
        """The feature dropout a head on ``in_features`` features gets (see ``p_in``)."""
        if self.p_in is not None:
            return self.p_in
        return DEFAULT_INPUT_DROPOUT if int(in_features) <= INPUT_DROPOUT_UP_TO else 0.0

    def build_head(self, in_features: int, num_classes: int) -> nn.Module:
        return DropoutMLPHead(in_features, num_classes, self.hidden, self.input_dropout(in_features), self.p)

    def posterior(self, head: nn.Module, features_N_D: torch.Tensor, *, n_samples: int,
                  generator: torch.Generator) -> Posterior:
        if n_samples < 1:
            raise ValueError(f"n_samples must be at least 1 for MC dropout, got {n_samples}")
        head.eval()
        n = len(features_N_D)
        samples = torch.empty((n_samples, n, head.num_classes))  # filled chunk by chunk: no concatenation
        with torch.no_grad():
            # one set of masks for the whole pool: draw them once, then apply chunk by chunk
            state = generator.get_state()
            for i in range(0, n, 4096):
                generator.set_state(state) if self.consistent_masks else None
                logits = head.sample_logits(features_N_D[i:i + 4096], n_samples, generator, self.consistent_masks)
                samples[:, i:i + 4096] = torch.softmax(logits, dim=-1)
        return Posterior(probs_N_C=samples.mean(0), samples_T_N_C=samples)

    def config(self) -> Dict[str, object]:
        return dict(n_samples=self.n_samples, hidden=self.hidden, p_in=self.p_in, p=self.p,
                    consistent_masks=self.consistent_masks)
