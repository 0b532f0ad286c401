"""Evidential deep learning (Sensoy, Kaplan & Kandemir 2018, "Evidential Deep Learning to
Quantify Classification Uncertainty").

The head's outputs ``o`` ``[B, C]`` become non-negative *evidence* ``e = g(o)``; the belief
over the class probabilities is a Dirichlet with concentrations ``alpha = e + 1``. With
``S = Σ_j alpha_j``:

* predictive probabilities ``p = alpha / S``;
* vacuity (uncertainty mass) ``u = C / S``: 1 with no evidence, towards 0 as evidence grows
  (the ``edl_vacuity`` strategy scores it).

Training loss per item (``y`` one-hot), one of the paper's three:

``"mse"`` (their Eq. 5)
    ``Σ_j (y_j − p_j)² + p_j (1 − p_j) / (S + 1)``
``"log"`` (Eq. 3, type-II maximum likelihood)
    ``Σ_j y_j (log S − log alpha_j)``
``"digamma"`` (Eq. 4, expected cross entropy)
    ``Σ_j y_j (ψ(S) − ψ(alpha_j))``

plus ``λ_t · KL(Dir(α̃) ‖ Dir(1))`` on the *misleading* evidence ``α̃ = y + (1 − y)·alpha``
(the true class's concentration replaced by 1), with the annealing coefficient
``λ_t = min(1, progress / anneal_fraction)``; ``progress`` in ``[0, 1]`` is the share of the
training run done (the paper's ``min(1, t/10)`` over epochs, as a share of the budget).

The posterior reports ``probs_N_C = alpha / S`` and ``alpha_N_C``. With ``n_samples > 0`` (the
learner always asks for some) it also returns ``n_samples`` draws from each item's Dirichlet
as ``samples_T_N_C``, so sample-based scores (BALD, variation ratios) can be used. These draws
are independent across items — the head has no parameter posterior — so they are not
"whole functions" and joint scores such as BatchBALD's treat items as unrelated.
"""

from __future__ import annotations

import math
from typing import Dict, Optional

import torch
import torch.nn.functional as F
from torch import nn

from .base import batched, check_samples, DEFAULT_SAMPLES, Posterior, register_estimator, UncertaintyEstimator
from .mc_dropout import DropoutMLPHead

EVIDENCE_FUNCTIONS = ("relu", "softplus", "exp")
LOSSES = ("mse", "log", "digamma")
#: ``exp`` evidence clamps the outputs to ``[-EXP_CLAMP, EXP_CLAMP]`` (evidence ≤ e¹⁰ ≈ 22026).
EXP_CLAMP = 10.0


def evidence_of(out_B_C: torch.Tensor, evidence: str = "relu") -> torch.Tensor:
    """Non-negative evidence ``[B, C]`` from head outputs: ``relu``, ``softplus`` or clamped ``exp``."""
    if evidence == "relu":
        return F.relu(out_B_C)
    if evidence == "softplus":
        return F.softplus(out_B_C)
    if evidence == "exp":
        return torch.exp(out_B_C.clamp(-EXP_CLAMP, EXP_CLAMP))
    raise ValueError(f"evidence must be one of {EVIDENCE_FUNCTIONS}, got {evidence!r}")


def alpha_of(out_B_C: torch.Tensor, evidence: str = "relu") -> torch.Tensor:
    """Dirichlet concentrations ``alpha = evidence + 1``, shape ``[B, C]``."""
    return evidence_of(out_B_C, evidence) + 1.0


def vacuity(alpha_N_C: torch.Tensor) -> torch.Tensor:
    """``u = C / Σ_j alpha_j``, shape ``[N]``."""
    return alpha_N_C.shape[-1] / alpha_N_C.sum(-1)


def mse_loss(alpha_B_C: torch.Tensor, y_B_C: torch.Tensor) -> torch.Tensor:
    """Per-item ``Σ_j (y_j − p_j)² + p_j (1 − p_j) / (S + 1)`` with ``p = alpha / S``; shape ``[B]``."""
    s_B1 = alpha_B_C.sum(-1, keepdim=True)
    p = alpha_B_C / s_B1
    return ((y_B_C - p) ** 2 + p * (1.0 - p) / (s_B1 + 1.0)).sum(-1)


def log_loss(alpha_B_C: torch.Tensor, y_B_C: torch.Tensor) -> torch.Tensor:
    """Per-item ``Σ_j y_j (log S − log alpha_j)``; shape ``[B]``."""
    s_B1 = alpha_B_C.sum(-1, keepdim=True)
    return (y_B_C * (torch.log(s_B1) - torch.log(alpha_B_C))).sum(-1)


def digamma_loss(alpha_B_C: torch.Tensor, y_B_C: torch.Tensor) -> torch.Tensor:
    """Per-item ``Σ_j y_j (ψ(S) − ψ(alpha_j))``; shape ``[B]``."""
    s_B1 = alpha_B_C.sum(-1, keepdim=True)
    return (y_B_C * (torch.digamma(s_B1) - torch.digamma(alpha_B_C))).sum(-1)


def kl_to_uniform_dirichlet(alpha_B_C: torch.Tensor) -> torch.Tensor:
    """``KL(Dir(alpha) ‖ Dir(1, …, 1))`` per row, shape ``[B]``.

    Closed form, with ``S = Σ_j alpha_j`` and ``C`` classes::

        log Γ(S) − log Γ(C) − Σ_j log Γ(alpha_j) + Σ_j (alpha_j − 1)(ψ(alpha_j) − ψ(S))
    """
    c = alpha_B_C.shape[-1]
    s_B1 = alpha_B_C.sum(-1, keepdim=True)
    return (torch.lgamma(s_B1.squeeze(-1)) - math.lgamma(c) - torch.lgamma(alpha_B_C).sum(-1)
            + ((alpha_B_C - 1.0) * (torch.digamma(alpha_B_C) - torch.digamma(s_B1))).sum(-1))


def misleading_alpha(alpha_B_C: torch.Tensor, y_B_C: torch.Tensor) -> torch.Tensor:
    """``α̃ = y + (1 − y)·alpha``: the concentrations with the true class's evidence removed."""
    return y_B_C + (1.0 - y_B_C) * alpha_B_C


def annealing_coefficient(progress: float, anneal_fraction: float) -> float:
    """``λ_t = min(1, progress / anneal_fraction)``; 1 throughout when ``anneal_fraction <= 0``."""
    if anneal_fraction <= 0:
        return 1.0
    return float(min(1.0, max(0.0, progress) / anneal_fraction))


_DATA_LOSSES = {"mse": mse_loss, "log": log_loss, "digamma": digamma_loss}


def sample_dirichlet(alpha_N_C: torch.Tensor, n_samples: int, generator: torch.Generator) -> torch.Tensor:
    """``n_samples`` independent draws ``[T, N, C]`` from each row's ``Dir(alpha)``, seeded by ``generator``."""
    alpha_T_N_C = alpha_N_C.double().unsqueeze(0).expand(n_samples, -1, -1).contiguous()
    draws = torch._sample_dirichlet(alpha_T_N_C, generator=generator)
    # a draw whose gammas all underflowed is NaN; such rows carry no information: use the mean
    bad = ~torch.isfinite(draws).all(-1, keepdim=True)
    if bad.any():
        draws = torch.where(bad, (alpha_T_N_C / alpha_T_N_C.sum(-1, keepdim=True)), draws)
    return draws.float()


@register_estimator
class Evidential(UncertaintyEstimator):
    """Evidential (Dirichlet) head; see the module docstring for the definitions.

    Parameters
    ----------
    hidden, p_in, p
        The head, as for :class:`~alwidget.uncertainty.mc_dropout.MCDropout`; its outputs are
        turned into evidence instead of being logits.
    evidence : {"relu", "softplus", "exp"}
        Evidence function ``g`` (``exp`` clamps its input to ``[-10, 10]``). The default,
        ``softplus``, never cuts a class's gradient off (``relu`` gives zero gradient to a
        negative output).
    loss : {"mse", "log", "digamma"}
        The data term. The default, ``digamma`` (the expected cross entropy), learns as fast
        as plain cross entropy; the paper's ``mse`` has bounded gradients and, with the short
        training runs of an active-learning cycle, learns much more slowly (fine-tuning the
        default CNN on 50 digits for 150 steps: about 0.55 validation accuracy with
        ``relu``/``mse``, 0.89 with ``softplus``/``digamma``, 0.86 for plain softmax).
    anneal_fraction : float
        Share of training after which the KL term has full weight:
        ``λ_t = min(1, progress / anneal_fraction)``; 0 gives full weight from the start.
    kl_weight : float
        Multiplies the annealed KL term (1 as in the paper; 0 turns the regulariser off).
    n_samples : int
        Posterior samples ``T`` the learner scores the pool with (default 20).
    """

    name = "evidential"
    produces = frozenset({"alpha", "samples"})

    def __init__(self, hidden: int = 128, p_in: float = 0.25, p: float = 0.5, evidence: str = "softplus",
                 loss: str = "digamma", anneal_fraction: float = 0.5, kl_weight: float = 1.0,
                 n_samples: int = DEFAULT_SAMPLES) -> None:
        self.n_samples = check_samples(n_samples)
        if evidence not in EVIDENCE_FUNCTIONS:
            raise ValueError(f"evidence must be one of {EVIDENCE_FUNCTIONS}, got {evidence!r}")
        if loss not in LOSSES:
            raise ValueError(f"loss must be one of {LOSSES}, got {loss!r}")
        for label, value in (("p_in", p_in), ("p", p)):
            if not 0.0 <= value < 1.0:
                raise ValueError(f"{label} must be in [0, 1), got {value}")
        if anneal_fraction < 0 or kl_weight < 0:
            raise ValueError("anneal_fraction and kl_weight must be non-negative")
        self.hidden, self.p_in, self.p = int(hidden), float(p_in), float(p)
        self.evidence, self.loss_type = evidence, loss
        self.anneal_fraction, self.kl_weight = float(anneal_fraction), float(kl_weight)

    def build_head(self, in_features: int, num_classes: int) -> nn.Module:
        return DropoutMLPHead(in_features, num_classes, self.hidden, self.p_in, self.p)

    def alpha(self, head_out: torch.Tensor) -> torch.Tensor:
        """Concentrations ``[B, C]`` of the head's outputs."""
        return alpha_of(head_out, self.evidence)

    def loss(self, head_out: torch.Tensor, y_B: torch.Tensor, *, weight_C: Optional[torch.Tensor] = None,
             progress: float = 1.0) -> torch.Tensor:
        """Mean over the batch (weighted by ``weight_C[y_b]`` if given) of the data term plus
        ``kl_weight · λ_t · KL(Dir(α̃) ‖ Dir(1))``."""
        alpha = self.alpha(head_out)
        y_B_C = F.one_hot(y_B, alpha.shape[-1]).to(alpha.dtype)
        per_item = _DATA_LOSSES[self.loss_type](alpha, y_B_C)
        lam = self.kl_weight * annealing_coefficient(progress, self.anneal_fraction)
        if lam > 0:
            per_item = per_item + lam * kl_to_uniform_dirichlet(misleading_alpha(alpha, y_B_C))
        if weight_C is None:
            return per_item.mean()
        w_B = weight_C[y_B].to(per_item.dtype)
        return (w_B * per_item).sum() / w_B.sum().clamp_min(1e-12)

    def logits(self, head_out: torch.Tensor) -> torch.Tensor:
        """``log(alpha / S)``, ``[B, C]``: logits whose softmax is the expected probability."""
        alpha = self.alpha(head_out)
        return torch.log(alpha) - torch.log(alpha.sum(-1, keepdim=True))

    def predict_proba(self, head: nn.Module, features_N_D: torch.Tensor) -> torch.Tensor:
        """``alpha / S``, ``[N, C]`` (dropout off)."""
        head.eval()
        with torch.no_grad():
            alpha = self.alpha(head(features_N_D))
            return alpha / alpha.sum(-1, keepdim=True)

    def posterior(self, head: nn.Module, features_N_D: torch.Tensor, *, n_samples: int,
                  generator: torch.Generator) -> Posterior:
        """``probs_N_C = alpha / S`` and ``alpha_N_C``; with ``n_samples > 0`` also
        ``samples_T_N_C``, independent Dirichlet draws per item (see module docstring)."""
        head.eval()
        with torch.no_grad():
            if len(features_N_D):
                alpha = batched(lambda x: self.alpha(head(x)), features_N_D).float()
            else:
                alpha = torch.zeros((0, head.num_classes))
        probs = alpha / alpha.sum(-1, keepdim=True) if len(alpha) else alpha.clone()
        samples = sample_dirichlet(alpha, int(n_samples), generator) if n_samples > 0 else None
        return Posterior(probs_N_C=probs, samples_T_N_C=samples, alpha_N_C=alpha)

    def config(self) -> Dict[str, object]:
        return dict(n_samples=self.n_samples, hidden=self.hidden, p_in=self.p_in, p=self.p, evidence=self.evidence,
                    loss=self.loss_type, anneal_fraction=self.anneal_fraction, kl_weight=self.kl_weight)
