"""Deep ensembles / query by committee: ``K`` heads trained side by side (Lakshminarayanan et al. 2017).

The ``K`` members are small MLP heads stored as stacked weights (one ``[K, D, H]`` tensor
per layer), so a forward pass of the whole committee is a pair of batched matrix products.
Each member is initialised independently from torch's global generator, which the learner
seeds, so the committee is reproducible.

Where the members sit depends on the learner's mode:

``embed``
    The backbone is frozen and its features cached; every member trains on the same cached
    features. The members differ by their initialisation (and, with ``bootstrap=True``, by
    the weights of the items in each batch) — a true, cheap deep ensemble of heads.
``finetune``
    The trunk is trained too, and it is *shared*: the ``K`` heads sit on one trunk, whose
    gradient is the mean of the members' gradients (the loss is the members' mean). The committee's disagreement then comes
    from the heads only; a trunk-level ensemble would cost ``K`` full trainings per cycle.

The posterior samples are the members' softmax outputs, ``T = K``: ``n_samples`` does not
apply and is ignored. Vote entropy and consensus KL (the ``vote_entropy`` and
``consensus_kl`` strategies) score these committees; BALD and BatchBALD work too, as each
member is one whole function over the pool.
"""

from __future__ import annotations

import math
from typing import Dict, Optional

import torch
import torch.nn.functional as F
from torch import nn

from .base import batched, check_samples, DEFAULT_SAMPLES, Posterior, register_estimator, UncertaintyEstimator


def _linear_init_(weight: torch.Tensor, bias: torch.Tensor, fan_in: int) -> None:
    """PyTorch's default ``nn.Linear`` initialisation: ``U(-1/√fan_in, 1/√fan_in)`` for both
    weight and bias (what ``kaiming_uniform_(a=√5)`` works out to), from the global generator."""
    bound = 1.0 / math.sqrt(fan_in) if fan_in > 0 else 0.0
    with torch.no_grad():
        weight.uniform_(-bound, bound)
        bias.uniform_(-bound, bound)


class EnsembleHead(nn.Module):
    """``K`` independent heads ``dropout(p_in) → Linear(D, H) → ReLU → dropout(p) → Linear(H, C)``.

    Parameters
    ----------
    in_features : int
        ``D``.
    num_classes : int
        ``C``.
    k : int
        Number of members ``K``.
    hidden : int
        ``H``; 0 gives ``K`` linear heads.
    p_in, p : float
        Dropout on the features and on the hidden layer (training only; each member draws
        its own masks).

    Attributes
    ----------
    w1_K_D_H, b1_K_H, w2_K_H_C, b2_K_C : Parameter
        Stacked member weights (``w1``/``b1`` only when ``hidden > 0``; otherwise the last
        layer is ``w2_K_D_C``).
    """

    def __init__(self, in_features: int, num_classes: int, k: int = 5, hidden: int = 128,
                 p_in: float = 0.0, p: float = 0.0) -> None:
        super().__init__()
        self.in_features, self.num_classes, self.k, self.hidden = in_features, num_classes, k, hidden
        self.p_in, self.p = p_in, p
        last_in = hidden if hidden > 0 else in_features
        if hidden > 0:
            self.w1 = nn.Parameter(torch.empty(k, in_features, hidden))
            self.b1 = nn.Parameter(torch.empty(k, hidden))
        else:
            self.register_parameter("w1", None)
            self.register_parameter("b1", None)
        self.w2 = nn.Parameter(torch.empty(k, last_in, num_classes))
        self.b2 = nn.Parameter(torch.empty(k, num_classes))
        for m in range(k):  # member by member, in order: member m's init does not depend on K
            if hidden > 0:
                _linear_init_(self.w1[m], self.b1[m], in_features)
            _linear_init_(self.w2[m], self.b2[m], last_in)

    def forward(self, h_B_D: torch.Tensor) -> torch.Tensor:
        """Member logits ``[B, K, C]``; dropout is active in training mode only."""
        if self.p_in > 0 and self.training:
            x_K_B_D = F.dropout(h_B_D.unsqueeze(0).expand(self.k, -1, -1), self.p_in, True)
        else:
            x_K_B_D = h_B_D.unsqueeze(0).expand(self.k, -1, -1)
        if self.w1 is not None:
            z_K_B_H = torch.relu(torch.baddbmm(self.b1.unsqueeze(1), x_K_B_D, self.w1))
            x_K_B_D = F.dropout(z_K_B_H, self.p, self.training) if self.p > 0 else z_K_B_H
        logits_K_B_C = torch.baddbmm(self.b2.unsqueeze(1), x_K_B_D, self.w2)
        return logits_K_B_C.transpose(0, 1)

    def member(self, m: int, h_B_D: torch.Tensor) -> torch.Tensor:
        """Logits ``[B, C]`` of member ``m`` alone, without dropout (a reference for tests)."""
        x = h_B_D
        if self.w1 is not None:
            x = torch.relu(x @ self.w1[m] + self.b1[m])
        return x @ self.w2[m] + self.b2[m]


def mean_member_log_probs(logits_B_K_C: torch.Tensor) -> torch.Tensor:
    """``log((1/K) Σ_k softmax(logits_k))``, shape ``[B, C]``, computed stably with logsumexp.

    These are the logits of the committee's predictive mean (softmax of them gives the mean
    member probability back), as the learner's validation loss wants.
    """
    k = logits_B_K_C.shape[1]
    return torch.logsumexp(torch.log_softmax(logits_B_K_C, dim=-1), dim=1) - math.log(k)


def bootstrap_counts(k: int, b: int, generator: Optional[torch.Generator] = None) -> torch.Tensor:
    """Bootstrap multiplicities ``[K, B]``: for each member, how often each of the ``B`` batch
    items is drawn in ``B`` draws with replacement (each row sums to ``B``)."""
    draws_K_B = torch.randint(0, b, (k, b), generator=generator)
    counts = torch.zeros(k, b)
    counts.scatter_add_(1, draws_K_B, torch.ones(k, b))
    return counts


@register_estimator
class EnsembleHeads(UncertaintyEstimator):
    """A committee of ``K`` heads; posterior samples are the members' softmax outputs.

    Parameters
    ----------
    k : int
        Committee size ``K`` (at least 2). The posterior has ``T = K`` samples.
    hidden : int
        Width ``H`` of each member's hidden layer (0: linear members).
    p_in, p : float
        Dropout on the features / hidden layer during training (off by default: the members
        differ by initialisation, as in Lakshminarayanan et al.).
    bootstrap : bool
        Weight each member's per-item losses by bootstrap multiplicities drawn afresh for
        every batch (online bagging) from torch's global generator, which the learner seeds.
        Off by default.

    Notes
    -----
    ``loss`` is the mean over members of each member's (class-weighted) cross entropy.
    ``logits`` gives ``log`` of the mean member probability. See the module docstring for
    how the members share (``finetune``) or do not share (``embed``) the trunk.
    n_samples : int
        Posterior samples ``T`` the learner scores the pool with (default 20; a committee ignores
        it: its ``T`` is ``k``).
    """

    name = "ensemble"
    produces = frozenset({"samples"})

    def __init__(self, k: int = 5, hidden: int = 128, p_in: float = 0.0, p: float = 0.0,
                 bootstrap: bool = False, n_samples: int = DEFAULT_SAMPLES) -> None:
        self.n_samples = check_samples(n_samples)
        if int(k) < 2:
            raise ValueError(f"an ensemble needs k >= 2 members, got {k}")
        for label, value in (("p_in", p_in), ("p", p)):
            if not 0.0 <= value < 1.0:
                raise ValueError(f"{label} must be in [0, 1), got {value}")
        if int(hidden) < 0:
            raise ValueError(f"hidden must be >= 0, got {hidden}")
        self.k, self.hidden, self.p_in, self.p = int(k), int(hidden), float(p_in), float(p)
        self.bootstrap = bool(bootstrap)

    def build_head(self, in_features: int, num_classes: int) -> nn.Module:
        return EnsembleHead(in_features, num_classes, self.k, self.hidden, self.p_in, self.p)

    def loss(self, head_out: torch.Tensor, y_B: torch.Tensor, *, weight_C: Optional[torch.Tensor] = None,
             progress: float = 1.0) -> torch.Tensor:
        """Mean over members of the cross entropy of ``head_out`` ``[B, K, C]``.

        Member ``k``'s loss is ``Σ_b w_kb ℓ_kb / Σ_b w_kb`` with ``ℓ_kb`` the cross entropy of
        item ``b`` and ``w_kb = weight_C[y_b]`` (1 without class weights), times the bootstrap
        multiplicity when ``bootstrap=True`` — the weighted mean that ``F.cross_entropy`` uses.
        """
        b, k, c = head_out.shape
        ce_B_K = F.cross_entropy(head_out.reshape(b * k, c), y_B.repeat_interleave(k), reduction="none").view(b, k)
        w_B = weight_C[y_B].to(ce_B_K.dtype) if weight_C is not None else torch.ones(b, dtype=ce_B_K.dtype)
        w_K_B = w_B.unsqueeze(0).expand(k, b)
        if self.bootstrap:
            w_K_B = w_K_B * bootstrap_counts(k, b)
        per_member = (w_K_B * ce_B_K.T).sum(1) / w_K_B.sum(1).clamp_min(1e-12)
        return per_member.mean()

    def logits(self, head_out: torch.Tensor) -> torch.Tensor:
        """``log`` of the mean member probability, ``[B, C]`` (see :func:`mean_member_log_probs`)."""
        return mean_member_log_probs(head_out)

    def predict_proba(self, head: nn.Module, features_N_D: torch.Tensor) -> torch.Tensor:
        """The committee's mean probability ``[N, C]`` (dropout off)."""
        head.eval()
        with torch.no_grad():
            return torch.softmax(head(features_N_D), dim=-1).mean(1)

    def posterior(self, head: nn.Module, features_N_D: torch.Tensor, *, n_samples: int,
                  generator: torch.Generator) -> Posterior:
        """Members' softmax ``samples_T_N_C`` with ``T = K`` and their mean ``probs_N_C``.

        ``n_samples`` and ``generator`` are ignored: the committee is the posterior.
        """
        head.eval()
        with torch.no_grad():
            if len(features_N_D):
                samples = batched(lambda x: torch.softmax(head(x), dim=-1).transpose(0, 1), features_N_D, dim=1)
            else:
                samples = torch.zeros((head.k, 0, head.num_classes))
        samples = samples.float().contiguous()
        return Posterior(probs_N_C=samples.mean(0), samples_T_N_C=samples)

    def config(self) -> Dict[str, object]:
        return dict(n_samples=self.n_samples, k=self.k, hidden=self.hidden, p_in=self.p_in, p=self.p,
                    bootstrap=self.bootstrap)
