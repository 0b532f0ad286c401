"""Evidential (Dirichlet) head, Sensoy et al. 2018: evidence, losses, KL term, posterior."""

from __future__ import annotations

import math

import pytest
import torch
from torch.distributions import Dirichlet, kl_divergence

from alwidget.strategies import edl_vacuity
from alwidget.uncertainty import DropoutMLPHead, Evidential, create_estimator
from alwidget.uncertainty.evidential import (EXP_CLAMP, alpha_of, annealing_coefficient, digamma_loss,
                                             evidence_of, kl_to_uniform_dirichlet, log_loss, misleading_alpha,
                                             mse_loss, sample_dirichlet, vacuity)

GOLDEN = torch.tensor([[2.0, -1.0, 0.0]])  # ReLU evidence (2, 0, 0) → alpha (3, 1, 1), S = 5
Y0 = torch.tensor([[1.0, 0.0, 0.0]])
Y1 = torch.tensor([[0.0, 1.0, 0.0]])


def _linear_identity_head(est: Evidential) -> DropoutMLPHead:
    """A linear head that passes its 3 inputs through as outputs (so inputs are 'logits')."""
    head = est.build_head(3, 3)
    with torch.no_grad():
        head.fc2.weight.copy_(torch.eye(3))
        head.fc2.bias.zero_()
    return head


def test_golden_relu_example():
    alpha = alpha_of(GOLDEN, "relu")
    assert torch.equal(alpha, torch.tensor([[3.0, 1.0, 1.0]]))
    assert vacuity(alpha).item() == pytest.approx(0.6)
    assert edl_vacuity(alpha.numpy())[0] == pytest.approx(0.6)
    est = Evidential(hidden=0, p_in=0.0, evidence="relu")
    assert torch.allclose(est.logits(GOLDEN), torch.log(torch.tensor([[0.6, 0.2, 0.2]])))
    head = _linear_identity_head(est)
    post = est.posterior(head, GOLDEN, n_samples=0, generator=torch.Generator())
    assert torch.allclose(post.alpha_N_C, torch.tensor([[3.0, 1.0, 1.0]]))
    assert torch.allclose(post.probs_N_C, torch.tensor([[0.6, 0.2, 0.2]]))
    assert post.samples_T_N_C is None
    assert torch.allclose(est.predict_proba(head, GOLDEN), post.probs_N_C)


def test_evidence_functions():
    o = torch.tensor([[-1.0, 0.0, 2.0, 100.0, -100.0]])
    assert torch.equal(evidence_of(o, "relu"), torch.tensor([[0.0, 0.0, 2.0, 100.0, 0.0]]))
    assert torch.allclose(evidence_of(o, "softplus")[0, :3], torch.log1p(torch.exp(o[0, :3])))
    ex = evidence_of(o, "exp")
    assert torch.allclose(ex[0, :3], torch.exp(o[0, :3]))
    assert ex[0, 3].item() == pytest.approx(math.exp(EXP_CLAMP), rel=1e-6)  # clamped, finite
    assert ex[0, 4].item() == pytest.approx(math.exp(-EXP_CLAMP), rel=1e-6)
    with pytest.raises(ValueError, match="evidence"):
        evidence_of(o, "square")


def test_mse_loss_by_hand():
    # p = (0.6, 0.2, 0.2), S = 5: (0.4² + 0.2² + 0.2²) + (0.24 + 0.16 + 0.16) / 6 = 0.24 + 0.56/6
    alpha = torch.tensor([[3.0, 1.0, 1.0]])
    assert mse_loss(alpha, Y0).item() == pytest.approx(0.24 + 0.56 / 6)
    # wrong label: (0.6² + 0.8² + 0.2²) + 0.56/6
    assert mse_loss(alpha, Y1).item() == pytest.approx(1.04 + 0.56 / 6)


def test_log_loss_by_hand():
    alpha = torch.tensor([[3.0, 1.0, 1.0]])
    assert log_loss(alpha, Y0).item() == pytest.approx(math.log(5) - math.log(3))
    assert log_loss(alpha, Y1).item() == pytest.approx(math.log(5))


def test_digamma_loss_by_hand():
    # ψ(n + 1) = ψ(n) + 1/n, so ψ(5) − ψ(3) = 1/3 + 1/4 and ψ(5) − ψ(1) = 1 + 1/2 + 1/3 + 1/4
    alpha = torch.tensor([[3.0, 1.0, 1.0]])
    assert digamma_loss(alpha, Y0).item() == pytest.approx(1 / 3 + 1 / 4, rel=1e-5)
    assert digamma_loss(alpha, Y1).item() == pytest.approx(1 + 1 / 2 + 1 / 3 + 1 / 4, rel=1e-5)


def test_kl_term_closed_form():
    # KL(Dir(3,1,1) || Dir(1,1,1)) = log Γ(5) − log Γ(3) − log Γ(3) + 2 (ψ(3) − ψ(5)) = log 6 − 7/6
    alpha = torch.tensor([[3.0, 1.0, 1.0]])
    assert kl_to_uniform_dirichlet(alpha).item() == pytest.approx(math.log(6) - 7 / 6, rel=1e-5)
    assert kl_to_uniform_dirichlet(torch.ones(2, 4)).abs().max().item() < 1e-6
    g = torch.Generator().manual_seed(0)
    for c in (2, 3, 10):
        a = 0.2 + 5 * torch.rand(6, c, generator=g, dtype=torch.float64)
        ref = kl_divergence(Dirichlet(a), Dirichlet(torch.ones_like(a)))
        assert torch.allclose(kl_to_uniform_dirichlet(a), ref, rtol=1e-10, atol=1e-10)


def test_misleading_alpha_removes_the_true_class_evidence():
    alpha = torch.tensor([[3.0, 1.0, 1.0], [3.0, 2.0, 4.0]])
    y = torch.tensor([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]])
    assert torch.equal(misleading_alpha(alpha, y), torch.tensor([[1.0, 1.0, 1.0], [3.0, 1.0, 4.0]]))


def test_annealing_coefficient():
    assert annealing_coefficient(0.0, 0.5) == 0.0
    assert annealing_coefficient(0.25, 0.5) == pytest.approx(0.5)
    assert annealing_coefficient(0.5, 0.5) == 1.0 and annealing_coefficient(0.9, 0.5) == 1.0
    assert annealing_coefficient(0.0, 0.0) == 1.0


@pytest.mark.parametrize("loss, data_term", [
    ("mse", 1.04 + 0.56 / 6), ("log", math.log(5)), ("digamma", 1 + 1 / 2 + 1 / 3 + 1 / 4)])
def test_total_loss_adds_the_annealed_kl(loss, data_term):
    est = Evidential(evidence="relu", loss=loss, anneal_fraction=0.5)
    y = torch.tensor([1])  # the wrong class for GOLDEN: α̃ = (3, 1, 1)
    kl = math.log(6) - 7 / 6
    assert est.loss(GOLDEN, y, progress=0.0).item() == pytest.approx(data_term, rel=1e-5)
    assert est.loss(GOLDEN, y, progress=0.25).item() == pytest.approx(data_term + 0.5 * kl, rel=1e-5)
    assert est.loss(GOLDEN, y, progress=1.0).item() == pytest.approx(data_term + kl, rel=1e-5)
    half = Evidential(evidence="relu", loss=loss, anneal_fraction=0.5, kl_weight=0.5)
    assert half.loss(GOLDEN, y, progress=1.0).item() == pytest.approx(data_term + 0.5 * kl, rel=1e-5)
    # the right class carries no misleading evidence: no KL
    assert est.loss(GOLDEN, torch.tensor([0]), progress=1.0).item() == pytest.approx(
        {"mse": 0.24 + 0.56 / 6, "log": math.log(5 / 3), "digamma": 1 / 3 + 1 / 4}[loss], rel=1e-5)


def test_class_weights_give_a_weighted_mean():
    est = Evidential(evidence="relu", loss="log")
    out = torch.cat([GOLDEN, GOLDEN])
    y = torch.tensor([0, 1])
    per = torch.tensor([math.log(5 / 3), math.log(5) + math.log(6) - 7 / 6])
    w = torch.tensor([3.0, 1.0, 1.0])
    assert est.loss(out, y, weight_C=w).item() == pytest.approx(((3 * per[0] + per[1]) / 4).item(), rel=1e-5)
    assert est.loss(out, y).item() == pytest.approx(per.mean().item(), rel=1e-5)


def test_exp_evidence_stays_finite_for_huge_outputs():
    est = Evidential(evidence="exp", loss="digamma")
    out = torch.tensor([[500.0, -500.0, 0.0]], requires_grad=True)
    loss = est.loss(out, torch.tensor([1]))
    loss.backward()
    assert torch.isfinite(loss) and torch.isfinite(out.grad).all()
    assert torch.isfinite(est.logits(out)).all()


def test_dirichlet_samples():
    alpha = torch.tensor([[3.0, 1.0, 1.0], [50.0, 50.0, 100.0]])
    s = sample_dirichlet(alpha, 20000, torch.Generator().manual_seed(0))
    assert s.shape == (20000, 2, 3) and s.dtype == torch.float32
    assert torch.allclose(s.sum(-1), torch.ones(20000, 2), atol=1e-5)
    assert torch.allclose(s.mean(0), alpha / alpha.sum(-1, keepdim=True), atol=0.01)
    # Var[p_j] = α_j (S − α_j) / (S² (S + 1))
    a0, s0 = 3.0, 5.0
    assert s[:, 0, 0].var().item() == pytest.approx(a0 * (s0 - a0) / (s0 ** 2 * (s0 + 1)), rel=0.05)
    again = sample_dirichlet(alpha, 20000, torch.Generator().manual_seed(0))
    assert torch.equal(s, again)


def test_posterior_with_samples():
    est = Evidential(hidden=0, p_in=0.0, evidence="relu")
    head = _linear_identity_head(est)
    x = torch.tensor([[2.0, -1.0, 0.0], [0.0, 0.0, 0.0], [30.0, 0.0, 0.0]])
    post = est.posterior(head, x, n_samples=8, generator=torch.Generator().manual_seed(1))
    assert post.samples_T_N_C.shape == (8, 3, 3)
    assert torch.allclose(post.alpha_N_C[1], torch.ones(3))  # no evidence: u = 1
    assert vacuity(post.alpha_N_C).tolist() == pytest.approx([0.6, 1.0, 3 / 33])
    again = est.posterior(head, x, n_samples=8, generator=torch.Generator().manual_seed(1))
    assert torch.equal(post.samples_T_N_C, again.samples_T_N_C)


def test_parameters_and_config():
    with pytest.raises(ValueError, match="evidence"):
        Evidential(evidence="tanh")
    with pytest.raises(ValueError, match="loss"):
        Evidential(loss="ce")
    with pytest.raises(ValueError, match="non-negative"):
        Evidential(anneal_fraction=-1)
    assert Evidential().config() == dict(n_samples=20, hidden=128, p_in=0.25, p=0.5, evidence="softplus", loss="digamma",
                                         anneal_fraction=0.5, kl_weight=1.0)
    est = create_estimator("evidential", evidence="relu", loss="mse", anneal_fraction=0.2)
    assert est.config() == dict(n_samples=20, hidden=128, p_in=0.25, p=0.5, evidence="relu", loss="mse",
                                anneal_fraction=0.2, kl_weight=1.0)
    assert est.produces == frozenset({"alpha", "samples"})


@pytest.mark.parametrize("evidence", ["relu", "softplus", "exp"])
@pytest.mark.parametrize("loss", ["mse", "log", "digamma"])
def test_every_evidence_and_loss_learns_the_blobs(evidence, loss, blobs, head_trainer):
    est = Evidential(hidden=32, evidence=evidence, loss=loss)
    head, _ = head_trainer(est, blobs)
    probs = est.predict_proba(head, blobs.x_N_D)
    assert (probs.argmax(1) == blobs.y_N).float().mean() > 0.9
    post = est.posterior(head, torch.cat([blobs.centres_C_D, blobs.far_M_D]), n_samples=0,
                         generator=torch.Generator())
    u = vacuity(post.alpha_N_C)
    assert u[3:].mean() > u[:3].mean()
