"""Last-layer Laplace approximation (MacKay 1992; Ritter et al. 2018; Daxberger et al. 2021).

The head is the dropout MLP of :mod:`~alwidget.uncertainty.mc_dropout` (or a single linear
layer with ``hidden=0``), trained as usual to a MAP estimate. Afterwards a Gaussian posterior
is put on the **last linear layer only** — its weight ``W [C, H]`` and bias ``b [C]`` —
around the trained values. Everything before it is a fixed feature map
``φ(x) = relu(fc1(x))`` (or ``x``), and the bias is folded in as a constant feature:
``φ̃ = [φ, 1]`` of length ``D̃ = H + 1`` and ``θ = W̃ = [W, b]`` of shape ``[C, D̃]``
(flattened row-major: index ``c·D̃ + d``).

Curvature (generalised Gauss–Newton, equal to the Fisher for softmax cross entropy), summed
over the ``L`` labelled items, with ``p_n = softmax(W̃ φ̃_n)`` and ``Λ_n = diag(p_n) − p_n p_nᵀ``:

* per item ``J_nᵀ Λ_n J_n = Λ_n ⊗ φ̃_n φ̃_nᵀ`` (``J_n = I_C ⊗ φ̃_nᵀ``, the logits' Jacobian);
* ``hessian="diag"``: its diagonal ``H_cd = Σ_n (p_nc − p_nc²) φ̃_nd²`` — no Jacobian is built;
* ``hessian="kfac"``: the Kronecker factorisation ``H ≈ L · G ⊗ A`` with
  ``A = (1/L) Σ_n φ̃_n φ̃_nᵀ`` and ``G = (1/L) Σ_n Λ_n``; with the eigendecompositions
  ``G = Q_G diag(g) Q_Gᵀ``, ``A = Q_A diag(a) Q_Aᵀ`` the posterior precision
  ``L·G⊗A + δI`` has eigenvalues ``L g_i a_j + δ`` and inverts in closed form.

Prior: ``θ ~ N(0, δ⁻¹ I)``. With ``prior_precision=None`` (the default) ``δ`` maximises the
Laplace approximation of the marginal likelihood over a log-spaced grid of ``grid_size``
values in ``[prior_min, prior_max]``::

    log p(D | δ) ≈ log p(D | θ*) − δ/2 ‖θ*‖² + P/2 log δ − 1/2 Σ_i log(λ_i + δ)

(``P = C·D̃`` parameters, ``λ_i`` the eigenvalues of the curvature: the ``H_cd`` themselves for
``diag``, ``L g_i a_j`` for ``kfac``; the first term does not depend on ``δ``). Its maximiser
satisfies MacKay's fixed point ``δ = γ / ‖θ*‖²`` with ``γ = Σ_i λ_i / (λ_i + δ)`` the number of
well-determined parameters. So for a given MAP, fewer labelled items (less curvature, smaller
``γ``) give a *smaller* ``δ`` — a broader prior — and, together with the weaker curvature, wider
predictive variances. The default grid has 81 points over ``[1e-4, 1e4]`` (ten per decade), so
``δ`` is found to within a factor ``10^0.05`` of the grid's best; the result is always finite.

Predictive, for features ``φ̃``: mean logits ``f̄ = W̃* φ̃`` and per-class logit variances
``σ²_c = Var[f_c]`` (for ``diag``: ``Σ_d φ̃_d² / (H_cd + δ)``; for ``kfac``:
``Σ_i Q_G[c, i]² Σ_j ψ_j² / (L g_i a_j + δ)`` with ``ψ = Q_Aᵀ φ̃``).

``link="probit"``
    ``probs = softmax(κ ⊙ f̄)`` with ``κ_c = 1 / sqrt(1 + π/8 · σ²_c)`` (the multi-class
    probit approximation; MacKay 1992, Lu et al. 2020).
``link="mc"``
    ``probs`` is the mean of the samples below.

With ``n_samples = T > 0`` the posterior also returns ``samples_T_N_C``: ``T`` last-layer
weights drawn from the Gaussian with the given generator, each applied to the whole pool (so
each sample is one function, as BatchBALD needs), through a softmax. ``link="mc"`` needs
``T >= 1``.

The curvature, ``δ`` and the number of items live in the head's buffers, so a saved
checkpoint carries its posterior and a loaded head scores without refitting.
"""

from __future__ import annotations

import math
from typing import Dict, Optional, Tuple

import torch
from torch import nn

from .base import check_samples, DEFAULT_SAMPLES, Posterior, register_estimator, UncertaintyEstimator
from .mc_dropout import DropoutMLPHead

HESSIANS = ("diag", "kfac")
LINKS = ("probit", "mc")


# ----------------------------------------------------------------------------- pure functions
def with_bias_feature(phi_N_D: torch.Tensor) -> torch.Tensor:
    """``φ̃ = [φ, 1]``, shape ``[N, D + 1]``."""
    return torch.cat([phi_N_D, torch.ones(len(phi_N_D), 1, dtype=phi_N_D.dtype)], dim=1)


def diag_ggn(phi_N_D: torch.Tensor, probs_N_C: torch.Tensor) -> torch.Tensor:
    """Diagonal of the summed GGN of a linear layer ``[C, D]``: ``Σ_n (p_nc − p_nc²) φ_nd²``.

    ``phi_N_D`` are the layer's inputs (append a 1 for the bias, see :func:`with_bias_feature`).
    """
    return (probs_N_C - probs_N_C ** 2).T @ (phi_N_D ** 2)


def kfac_factors(phi_N_D: torch.Tensor, probs_N_C: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
    """Kronecker factors ``(A [D, D], G [C, C])`` with ``A = E_n[φ φᵀ]``, ``G = E_n[diag(p) − p pᵀ]``.

    The summed GGN is approximated by ``N · G ⊗ A`` (row-major flattening of ``[C, D]``).
    """
    n = max(len(phi_N_D), 1)
    a = phi_N_D.T @ phi_N_D / n
    g = torch.diag(probs_N_C.sum(0)) / n - probs_N_C.T @ probs_N_C / n
    return a, g


def log_marginal_likelihood(eigs_P: torch.Tensor, theta_sq_norm: float, delta: torch.Tensor,
                            log_lik: float = 0.0) -> torch.Tensor:
    """Laplace log evidence ``log p(D|θ*) − δ/2 ‖θ*‖² + P/2 log δ − 1/2 Σ_i log(λ_i + δ)``.

    Parameters
    ----------
    eigs_P : Tensor (P,)
        Eigenvalues ``λ_i >= 0`` of the data curvature.
    theta_sq_norm : float
        ``‖θ*‖²`` of the MAP parameters.
    delta : Tensor (G,)
        Prior precisions at which to evaluate.
    log_lik : float
        ``log p(D|θ*)`` (a constant in ``δ``; 0 when only the argmax matters).

    Returns
    -------
    Tensor (G,)
        The log evidence at each ``δ`` (the ``2π`` terms cancel between prior and posterior).
    """
    eigs = eigs_P.double().clamp_min(0).reshape(1, -1)
    d = delta.double().reshape(-1, 1)
    p = eigs.shape[1]
    return (log_lik - 0.5 * d.squeeze(1) * float(theta_sq_norm) + 0.5 * p * torch.log(d.squeeze(1))
            - 0.5 * torch.log(eigs + d).sum(1))


def fit_prior_precision(eigs_P: torch.Tensor, theta_sq_norm: float, prior_min: float = 1e-4,
                        prior_max: float = 1e4, grid_size: int = 81) -> float:
    """The ``δ`` on a log-spaced grid over ``[prior_min, prior_max]`` that maximises
    :func:`log_marginal_likelihood` (ties: the smallest)."""
    grid = torch.logspace(math.log10(prior_min), math.log10(prior_max), int(grid_size), dtype=torch.float64)
    lml = log_marginal_likelihood(eigs_P, theta_sq_norm, grid)
    return float(grid[int(torch.argmax(lml))])


def probit_probs(mean_N_C: torch.Tensor, var_N_C: torch.Tensor) -> torch.Tensor:
    """``softmax(f̄_c / sqrt(1 + π/8 · σ²_c))``: the probit approximation of ``E[softmax(f)]``."""
    kappa = torch.rsqrt(1.0 + math.pi / 8.0 * var_N_C.clamp_min(0))
    return torch.softmax(mean_N_C * kappa, dim=-1)


# ----------------------------------------------------------------------------- the head
class LaplaceHead(DropoutMLPHead):
    """The dropout MLP head plus buffers holding the last layer's Gaussian posterior.

    Attributes
    ----------
    h_diag : Tensor (C, D̃)
        Buffer: the diagonal GGN ``H_cd`` (``diag``). All buffers are float64 except ``fitted``.
    a_eigvals, a_eigvecs : Tensor (D̃,), (D̃, D̃)
        Buffers: eigendecomposition of the KFAC factor ``A`` (``kfac``).
    g_eigvals, g_eigvecs : Tensor (C,), (C, C)
        Buffers: eigendecomposition of the KFAC factor ``G`` (``kfac``).
    n_data : Tensor ()
        Buffer: ``L``, the number of labelled items used.
    prior_precision : Tensor ()
        Buffer: ``δ``.
    fitted : Tensor () of bool
        Buffer: whether :meth:`LastLayerLaplace.fit_posterior` has run.
    """

    def __init__(self, in_features: int, num_classes: int, hidden: int = 128, p_in: float = 0.25,
                 p: float = 0.5) -> None:
        super().__init__(in_features, num_classes, hidden, p_in, p)
        d = (hidden if hidden > 0 else in_features) + 1
        f64 = dict(dtype=torch.float64)
        self.register_buffer("h_diag", torch.zeros(num_classes, d, **f64))
        self.register_buffer("a_eigvals", torch.zeros(d, **f64))
        self.register_buffer("a_eigvecs", torch.eye(d, **f64))
        self.register_buffer("g_eigvals", torch.zeros(num_classes, **f64))
        self.register_buffer("g_eigvecs", torch.eye(num_classes, **f64))
        self.register_buffer("n_data", torch.zeros((), **f64))
        self.register_buffer("prior_precision", torch.ones((), **f64))
        self.register_buffer("fitted", torch.zeros((), dtype=torch.bool))

    def last_layer_features(self, h_N_D: torch.Tensor) -> torch.Tensor:
        """``φ(x)``, the last layer's input ``[N, H]`` (no dropout), in the head's dtype."""
        h_N_D = h_N_D.to(self.fc2.weight.dtype)
        return torch.relu(self.fc1(h_N_D)) if self.fc1 is not None else h_N_D

    def map_weights(self) -> torch.Tensor:
        """``W̃* = [W, b]``, shape ``[C, D̃]`` (float64)."""
        return torch.cat([self.fc2.weight, self.fc2.bias.unsqueeze(1)], dim=1).detach().double()


# ----------------------------------------------------------------------------- the estimator
@register_estimator
class LastLayerLaplace(UncertaintyEstimator):
    """Laplace approximation over the head's last linear layer (see the module docstring).

    Parameters
    ----------
    hidden, p_in, p
        The head, as for :class:`~alwidget.uncertainty.mc_dropout.MCDropout` (dropout is used
        in training only; the posterior is over ``fc2``'s weight and bias).
    hessian : {"diag", "kfac"}
        Diagonal GGN or its Kronecker factorisation.
    link : {"probit", "mc"}
        How ``probs_N_C`` is computed (see the module docstring).
    prior_precision : float, optional
        ``δ``; ``None`` fits it by the marginal likelihood on the labelled data.
    prior_min, prior_max, grid_size
        The log-spaced grid searched when fitting ``δ``.
    n_samples : int
        Posterior samples ``T`` the learner scores the pool with (default 20).
    """

    name = "laplace"
    produces = frozenset({"samples"})

    def __init__(self, hidden: int = 128, p_in: float = 0.25, p: float = 0.5, hessian: str = "diag",
                 link: str = "probit", prior_precision: Optional[float] = None, prior_min: float = 1e-4,
                 prior_max: float = 1e4, grid_size: int = 81, n_samples: int = DEFAULT_SAMPLES) -> None:
        self.n_samples = check_samples(n_samples)
        if hessian not in HESSIANS:
            raise ValueError(f"hessian must be one of {HESSIANS}, got {hessian!r}")
        if link not in LINKS:
            raise ValueError(f"link must be one of {LINKS}, got {link!r}")
        for label, value in (("p_in", p_in), ("p", p)):
            if not 0.0 <= value < 1.0:
                raise ValueError(f"{label} must be in [0, 1), got {value}")
        if prior_precision is not None and not prior_precision > 0:
            raise ValueError(f"prior_precision must be positive, got {prior_precision}")
        if not 0 < prior_min < prior_max or int(grid_size) < 2:
            raise ValueError("need 0 < prior_min < prior_max and grid_size >= 2")
        self.hidden, self.p_in, self.p = int(hidden), float(p_in), float(p)
        self.hessian, self.link = hessian, link
        self.prior_precision = None if prior_precision is None else float(prior_precision)
        self.prior_min, self.prior_max, self.grid_size = float(prior_min), float(prior_max), int(grid_size)

    def build_head(self, in_features: int, num_classes: int) -> nn.Module:
        return LaplaceHead(in_features, num_classes, self.hidden, self.p_in, self.p)

    # ---------------------------------------------------------------- fitting
    def curvature_eigenvalues(self, head: LaplaceHead) -> torch.Tensor:
        """Eigenvalues ``λ_i`` of the stored data curvature, shape ``(P,)``."""
        if self.hessian == "diag":
            return head.h_diag.reshape(-1)
        return (head.n_data * torch.outer(head.g_eigvals.clamp_min(0), head.a_eigvals.clamp_min(0))).reshape(-1)

    def fit_posterior(self, head: nn.Module, features_L_D: torch.Tensor, y_L: torch.Tensor) -> None:
        """Store the curvature of the labelled items and the prior precision in ``head``'s buffers.

        ``y_L`` is not needed: the GGN of the softmax cross entropy depends on the predicted
        probabilities only.
        """
        head.eval()
        with torch.no_grad():
            phi = with_bias_feature(head.last_layer_features(features_L_D).double())
            probs = torch.softmax(phi @ head.map_weights().T, dim=-1)
            head.n_data.fill_(len(phi))
            if self.hessian == "diag":
                head.h_diag.copy_(diag_ggn(phi, probs))
            else:
                a, g = kfac_factors(phi, probs)
                a_vals, a_vecs = torch.linalg.eigh(a)
                g_vals, g_vecs = torch.linalg.eigh(g)
                head.a_eigvals.copy_(a_vals.clamp_min(0))
                head.a_eigvecs.copy_(a_vecs)
                head.g_eigvals.copy_(g_vals.clamp_min(0))
                head.g_eigvecs.copy_(g_vecs)
            if self.prior_precision is not None:
                delta = self.prior_precision
            else:
                theta_sq = float((head.map_weights() ** 2).sum())
                delta = fit_prior_precision(self.curvature_eigenvalues(head), theta_sq, self.prior_min,
                                            self.prior_max, self.grid_size)
            head.prior_precision.fill_(delta)
            head.fitted.fill_(True)

    # ---------------------------------------------------------------- predictive
    def _check_fitted(self, head: nn.Module) -> None:
        if not isinstance(head, LaplaceHead):
            raise TypeError(f"the laplace estimator needs the head it built, got {type(head).__name__}")
        if not bool(head.fitted):
            raise RuntimeError("the Laplace posterior is not fitted: call fit_posterior(head, features, labels) "
                               "after training")

    def logit_moments(self, head: LaplaceHead, features_N_D: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
        """Mean logits and per-class logit variances, both ``[N, C]`` float64."""
        phi = with_bias_feature(head.last_layer_features(features_N_D).double())
        mean = phi @ head.map_weights().T
        delta = head.prior_precision
        if self.hessian == "diag":
            var = (phi ** 2) @ (1.0 / (head.h_diag + delta)).T
        else:
            inv_C_D = 1.0 / (head.n_data * torch.outer(head.g_eigvals, head.a_eigvals) + delta)
            v_N_C = ((phi @ head.a_eigvecs) ** 2) @ inv_C_D.T  # v_ni, over G's eigen-directions i
            var = v_N_C @ (head.g_eigvecs ** 2).T
        return mean, var

    def sample_weights(self, head: LaplaceHead, n_samples: int, generator: torch.Generator) -> torch.Tensor:
        """``T`` last-layer weights ``[T, C, D̃]`` drawn from the Gaussian posterior."""
        z = torch.randn((n_samples,) + tuple(head.h_diag.shape), generator=generator, dtype=torch.float64)
        delta = head.prior_precision
        if self.hessian == "diag":
            eps = z * torch.rsqrt(head.h_diag + delta)
        else:
            scale_C_D = torch.rsqrt(head.n_data * torch.outer(head.g_eigvals, head.a_eigvals) + delta)
            eps = head.g_eigvecs @ (z * scale_C_D) @ head.a_eigvecs.T
        return head.map_weights().unsqueeze(0) + eps

    def predict_proba(self, head: nn.Module, features_N_D: torch.Tensor) -> torch.Tensor:
        """The probit predictive ``[N, C]`` once fitted, the MAP softmax before."""
        head.eval()
        with torch.no_grad():
            if not (isinstance(head, LaplaceHead) and bool(head.fitted)):
                return torch.softmax(head(features_N_D), dim=-1)
            return probit_probs(*self.logit_moments(head, features_N_D)).float()

    def posterior(self, head: nn.Module, features_N_D: torch.Tensor, *, n_samples: int,
                  generator: torch.Generator) -> Posterior:
        """Probit (or MC) predictive ``probs_N_C`` and, for ``n_samples > 0``, weight samples
        ``samples_T_N_C`` (see the module docstring)."""
        self._check_fitted(head)
        if self.link == "mc" and n_samples < 1:
            raise ValueError(f"link='mc' needs n_samples >= 1, got {n_samples}")
        head.eval()
        c = head.num_classes
        with torch.no_grad():
            weights_T_C_D = self.sample_weights(head, n_samples, generator) if n_samples > 0 else None
            probs_chunks, sample_chunks = [], []
            for i in range(0, len(features_N_D), 4096):
                x = features_N_D[i:i + 4096]
                if self.link == "probit":
                    probs_chunks.append(probit_probs(*self.logit_moments(head, x)))
                if weights_T_C_D is not None:
                    phi = with_bias_feature(head.last_layer_features(x).double())
                    sample_chunks.append(torch.softmax(torch.einsum("nd,tcd->tnc", phi, weights_T_C_D), dim=-1))
            samples = None
            if weights_T_C_D is not None:
                samples = torch.cat(sample_chunks, dim=1).float() if sample_chunks else torch.zeros((n_samples, 0, c))
            if self.link == "probit":
                probs = torch.cat(probs_chunks).float() if probs_chunks else torch.zeros((0, c))
            else:
                probs = samples.double().mean(0).float() if samples.shape[1] else torch.zeros((0, c))
        return Posterior(probs_N_C=probs, samples_T_N_C=samples)

    def config(self) -> Dict[str, object]:
        return dict(n_samples=self.n_samples, hidden=self.hidden, p_in=self.p_in, p=self.p, hessian=self.hessian,
                    link=self.link, prior_precision=self.prior_precision, prior_min=self.prior_min,
                    prior_max=self.prior_max, grid_size=self.grid_size)
