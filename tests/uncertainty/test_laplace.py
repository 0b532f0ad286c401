"""Last-layer Laplace: curvature against brute force, prior by evidence, probit and MC predictives."""

from __future__ import annotations

import math

import pytest
import torch
from torch.distributions import MultivariateNormal
from torch.func import functional_call, jacrev

from alwidget.uncertainty import LaplaceHead, LastLayerLaplace, create_estimator
from alwidget.uncertainty.laplace import (diag_ggn, fit_prior_precision, kfac_factors, log_marginal_likelihood,
                                          probit_probs, with_bias_feature)



def _tiny(hidden=0, n=5, d=3, c=2, seed=0, **kw):
    """A Laplace head on ``n`` items with ``D = d`` features and ``C = c`` classes, float64 inputs."""
    torch.manual_seed(seed)
    est = LastLayerLaplace(hidden=hidden, p_in=0.0, p=0.0, **kw)
    head = est.build_head(d, c).double()
    x = torch.randn(n, d, dtype=torch.float64)
    y = torch.randint(0, c, (n,))
    return est, head, x, y


def brute_force_ggn(head: LaplaceHead, x_N_D: torch.Tensor) -> torch.Tensor:
    """``Σ_n J_nᵀ (diag(p_n) − p_n p_nᵀ) J_n`` over the last layer's ``[W, b]`` (row-major W, then b),
    with ``J_n`` from ``torch.func.jacrev`` of the head's logits."""
    w0, b0 = head.fc2.weight.detach(), head.fc2.bias.detach()
    c, h = w0.shape
    others = {k: v.detach() for k, v in head.named_parameters() if not k.startswith("fc2.")}

    def logits(theta):
        w, b = theta[:c * h].reshape(c, h), theta[c * h:]
        return functional_call(head, {**others, "fc2.weight": w, "fc2.bias": b}, (x_N_D,))

    theta0 = torch.cat([w0.reshape(-1), b0])
    j_N_C_P = jacrev(logits)(theta0)
    p = torch.softmax(logits(theta0), -1)
    lam_N_C_C = torch.diag_embed(p) - p.unsqueeze(2) * p.unsqueeze(1)
    return torch.einsum("ncp,ncd,ndq->pq", j_N_C_P, lam_N_C_C, j_N_C_P)


def to_flat_wb(mat_C_Dt: torch.Tensor) -> torch.Tensor:
    """``[C, D̃]`` (bias last column) → the brute force's order: row-major ``W`` then ``b``."""
    return torch.cat([mat_C_Dt[:, :-1].reshape(-1), mat_C_Dt[:, -1]])


def theta_index_to_mine(c: int, h: int) -> torch.Tensor:
    """Permutation taking the brute force's ``[vec W, b]`` order to ``vec([W, b])`` row-major."""
    idx = []
    for ci in range(c):
        idx += [ci * h + d for d in range(h)] + [c * h + ci]
    return torch.tensor(idx)


@pytest.mark.parametrize("hidden", [0, 4])
def test_diag_ggn_equals_brute_force_jacobian_diagonal(hidden):
    est, head, x, y = _tiny(hidden=hidden)
    est.fit_posterior(head, x, y)
    ggn = brute_force_ggn(head, x)
    assert torch.allclose(to_flat_wb(head.h_diag), torch.diagonal(ggn), atol=1e-12)
    phi = with_bias_feature(head.last_layer_features(x))
    p = torch.softmax(head(x), -1)
    assert torch.allclose(diag_ggn(phi, p), head.h_diag, atol=1e-12)


def test_diag_ggn_hand_example():
    # one item, φ̃ = (2, 1), p = (0.25, 0.75): H = (p − p²) φ̃² = 0.1875 · (4, 1) for both classes
    h = diag_ggn(torch.tensor([[2.0, 1.0]]), torch.tensor([[0.25, 0.75]]))
    assert torch.allclose(h, torch.tensor([[0.75, 0.1875], [0.75, 0.1875]]))


def test_kfac_factors_and_exactness_for_one_item():
    est, head, x, y = _tiny(hessian="kfac", n=5)
    est.fit_posterior(head, x, y)
    phi = with_bias_feature(head.last_layer_features(x))
    p = torch.softmax(head(x), -1)
    a, g = kfac_factors(phi, p)
    assert torch.allclose(a, sum(torch.outer(f, f) for f in phi) / 5)
    assert torch.allclose(g, sum(torch.diag(q) - torch.outer(q, q) for q in p) / 5)
    a_rec = head.a_eigvecs @ torch.diag(head.a_eigvals) @ head.a_eigvecs.T
    g_rec = head.g_eigvecs @ torch.diag(head.g_eigvals) @ head.g_eigvecs.T
    assert torch.allclose(a_rec, a, atol=1e-10) and torch.allclose(g_rec, g, atol=1e-10)
    assert float(head.n_data) == 5
    # for a single item the Kronecker product is the exact GGN
    est1, head1, x1, y1 = _tiny(hessian="kfac", n=1)
    est1.fit_posterior(head1, x1, y1)
    a1, g1 = kfac_factors(with_bias_feature(x1), torch.softmax(head1(x1), -1))
    perm = theta_index_to_mine(2, 3)
    exact = brute_force_ggn(head1, x1)[perm][:, perm]
    assert torch.allclose(torch.kron(g1, a1), exact, atol=1e-12)


@pytest.mark.parametrize("hessian", ["diag", "kfac"])
@pytest.mark.parametrize("hidden", [0, 4])
def test_logit_variances_equal_the_explicit_posterior_covariance(hessian, hidden):
    est, head, x, y = _tiny(hessian=hessian, hidden=hidden, n=6, prior_precision=0.7)
    est.fit_posterior(head, x, y)
    x_test = torch.randn(4, 3, dtype=torch.float64)
    mean, var = est.logit_moments(head, x_test)
    phi = with_bias_feature(head.last_layer_features(x))
    p = torch.softmax(head(x), -1)
    if hessian == "diag":
        prec = torch.diag(diag_ggn(phi, p).reshape(-1))
    else:
        a, g = kfac_factors(phi, p)
        prec = len(x) * torch.kron(g, a)
    sigma = torch.linalg.inv(prec + 0.7 * torch.eye(len(prec), dtype=torch.float64))
    phi_t = with_bias_feature(head.last_layer_features(x_test))
    for n in range(len(x_test)):
        j_C_P = torch.kron(torch.eye(2, dtype=torch.float64), phi_t[n:n + 1])  # logits' Jacobian
        cov = j_C_P @ sigma @ j_C_P.T
        assert torch.allclose(var[n], torch.diagonal(cov), atol=1e-10)
    assert torch.allclose(mean, head(x_test), atol=1e-10)


@pytest.mark.parametrize("hessian", ["diag", "kfac"])
def test_weight_samples_have_the_posterior_covariance(hessian):
    est, head, x, y = _tiny(hessian=hessian, n=6, prior_precision=2.0)
    est.fit_posterior(head, x, y)
    w = est.sample_weights(head, 40000, torch.Generator().manual_seed(0))
    assert w.shape == (40000, 2, 4)
    flat = w.reshape(len(w), -1)
    phi = with_bias_feature(x)
    p = torch.softmax(head(x), -1)
    if hessian == "diag":
        prec = torch.diag(diag_ggn(phi, p).reshape(-1))
    else:
        a, g = kfac_factors(phi, p)
        prec = 6 * torch.kron(g, a)
    sigma = torch.linalg.inv(prec + 2.0 * torch.eye(8, dtype=torch.float64))
    assert torch.allclose(flat.mean(0), head.map_weights().reshape(-1), atol=0.02)
    assert torch.allclose(torch.cov(flat.T), sigma, atol=0.02 * sigma.diagonal().max().item())


def test_log_marginal_likelihood_matches_an_explicit_gaussian_computation():
    # log p(D|δ) − log p(D|θ*) = log N(θ*; 0, δ⁻¹I) + P/2 log 2π − 1/2 log det(H + δI)
    est, head, x, y = _tiny(n=5)
    est.fit_posterior(head, x, y)
    h = torch.diagonal(brute_force_ggn(head, x))
    theta = head.map_weights().reshape(-1)
    for delta in (0.01, 0.3, 5.0):
        prior = MultivariateNormal(torch.zeros(8, dtype=torch.float64), torch.eye(8, dtype=torch.float64) / delta)
        want = (prior.log_prob(theta) + 4 * math.log(2 * math.pi)
                - 0.5 * torch.logdet(torch.diag(h) + delta * torch.eye(8, dtype=torch.float64)))
        got = log_marginal_likelihood(h, float(theta @ theta), torch.tensor([delta], dtype=torch.float64))
        assert got.item() == pytest.approx(want.item(), rel=1e-10)


def test_prior_precision_is_the_grid_maximiser_and_macKays_fixed_point(blobs, head_trainer):
    est = LastLayerLaplace()
    head, _ = head_trainer(est, blobs)
    delta = float(head.prior_precision)
    assert math.isfinite(delta) and est.prior_min < delta < est.prior_max
    eig = est.curvature_eigenvalues(head)
    theta_sq = float((head.map_weights() ** 2).sum())
    grid = torch.logspace(-4, 4, 81, dtype=torch.float64)
    lml = log_marginal_likelihood(eig, theta_sq, grid)
    assert delta == pytest.approx(float(grid[lml.argmax()]))
    assert fit_prior_precision(eig, theta_sq) == pytest.approx(delta)
    # δ = γ / ‖θ*‖² with γ = Σ λ/(λ + δ), up to the grid's spacing (a factor 10^0.1)
    gamma = float((eig / (eig + delta)).sum())
    assert 10 ** -0.15 < delta / (gamma / theta_sq) < 10 ** 0.15


def test_fewer_data_give_a_weaker_prior_and_a_wider_posterior(blobs, head_trainer):
    """For one MAP: the evidence's δ* = γ/‖θ*‖² grows with the number of well-determined
    parameters γ, so fewer labelled items give a *smaller* δ (a broader prior) — and larger
    predictive variances."""
    est = LastLayerLaplace()
    head, _ = head_trainer(est, blobs)
    x, y = blobs.x_N_D, blobs.y_N
    few = torch.cat([torch.arange(0, 2), torch.arange(30, 32), torch.arange(60, 62)])
    est.fit_posterior(head, x[few], y[few])
    delta_few = float(head.prior_precision)
    _, var_few = est.logit_moments(head, blobs.far_M_D)
    est.fit_posterior(head, x, y)
    delta_all = float(head.prior_precision)
    _, var_all = est.logit_moments(head, blobs.far_M_D)
    assert math.isfinite(delta_few) and delta_few > 0
    assert delta_few < delta_all
    assert (var_few > var_all).all()


def test_probit_hand_values_and_zero_variance():
    m = torch.tensor([[1.0, 0.0], [2.0, -1.0]])
    assert torch.allclose(probit_probs(m, torch.zeros_like(m)), torch.softmax(m, -1))
    # σ² = 8/π → κ = 1/√2
    out = probit_probs(torch.tensor([[1.0, 0.0]]), torch.tensor([[8 / math.pi, 0.0]]))
    assert torch.allclose(out, torch.softmax(torch.tensor([[1 / math.sqrt(2), 0.0]]), -1))


def test_zero_variance_posterior_predicts_the_softmax():
    est, head, x, y = _tiny(hidden=4, prior_precision=1e12)
    est.fit_posterior(head, x, y)
    post = est.posterior(head, x.float(), n_samples=4, generator=torch.Generator().manual_seed(0))
    want = torch.softmax(head(x), -1).float()
    assert torch.allclose(post.probs_N_C, want, atol=1e-5)
    assert torch.allclose(post.samples_T_N_C, want.expand(4, -1, -1), atol=1e-5)


def test_mc_predictive_approaches_the_probit_one(blobs, head_trainer):
    probit = LastLayerLaplace(link="probit")
    head, _ = head_trainer(probit, blobs)
    mc = create_estimator("laplace", **{**probit.config(), "link": "mc"})
    x = torch.cat([blobs.x_N_D[::10], blobs.far_M_D])
    p_probit = probit.posterior(head, x, n_samples=0, generator=torch.Generator()).probs_N_C
    post = mc.posterior(head, x, n_samples=3000, generator=torch.Generator().manual_seed(0))
    assert torch.allclose(post.probs_N_C, post.samples_T_N_C.double().mean(0).float(), atol=1e-6)
    # roughly: the probit approximation treats the classes one by one, and with logit variances
    # of several units it stays a little more confident than the Monte Carlo average
    map_probs = torch.softmax(head(x), -1).detach()
    gap_probit = (post.probs_N_C - p_probit).abs()
    gap_map = (post.probs_N_C - map_probs).abs()
    assert gap_probit.max() < 0.1 and gap_probit.mean() < 0.05
    assert gap_probit.mean() < 0.5 * gap_map.mean()  # much closer than the MAP softmax is


def test_samples_are_whole_functions_and_seeded():
    est, head, x, y = _tiny(hidden=4, n=8)
    est.fit_posterior(head, x, y)
    xf = x.float()
    a = est.posterior(head, xf, n_samples=6, generator=torch.Generator().manual_seed(3))
    alone = est.posterior(head, xf[2:3], n_samples=6, generator=torch.Generator().manual_seed(3))
    assert torch.allclose(a.samples_T_N_C[:, 2:3], alone.samples_T_N_C, atol=1e-6)
    b = est.posterior(head, xf, n_samples=6, generator=torch.Generator().manual_seed(3))
    c = est.posterior(head, xf, n_samples=6, generator=torch.Generator().manual_seed(4))
    assert torch.equal(a.samples_T_N_C, b.samples_T_N_C) and not torch.equal(a.samples_T_N_C, c.samples_T_N_C)
    assert est.posterior(head, xf, n_samples=0, generator=torch.Generator()).samples_T_N_C is None


def test_chunking_does_not_change_the_posterior():
    est, head, _, y = _tiny(hidden=4, n=8)
    x = torch.randn(4096 + 50, 3, dtype=torch.float64)
    est.fit_posterior(head, x[:8], y)
    whole = est.posterior(head, x.float(), n_samples=3, generator=torch.Generator().manual_seed(1))
    tail = est.posterior(head, x[4096:].float(), n_samples=3, generator=torch.Generator().manual_seed(1))
    assert torch.allclose(whole.probs_N_C[4096:], tail.probs_N_C)
    assert torch.allclose(whole.samples_T_N_C[:, 4096:], tail.samples_T_N_C)


def test_checkpoint_carries_the_posterior():
    est, head, x, y = _tiny(hidden=4, hessian="kfac")
    est.fit_posterior(head, x, y)
    fresh = est.build_head(3, 2).double()
    with pytest.raises(RuntimeError, match="fit_posterior"):
        est.posterior(fresh, x, n_samples=2, generator=torch.Generator())
    fresh.load_state_dict(head.state_dict())
    a = est.posterior(head, x, n_samples=2, generator=torch.Generator().manual_seed(0))
    b = est.posterior(fresh, x, n_samples=2, generator=torch.Generator().manual_seed(0))
    assert torch.equal(a.probs_N_C, b.probs_N_C) and torch.equal(a.samples_T_N_C, b.samples_T_N_C)


def test_fixed_prior_precision_is_used():
    est, head, x, y = _tiny(prior_precision=3.5)
    est.fit_posterior(head, x, y)
    assert float(head.prior_precision) == 3.5


def test_parameters_and_config():
    with pytest.raises(ValueError, match="hessian"):
        LastLayerLaplace(hessian="full")
    with pytest.raises(ValueError, match="link"):
        LastLayerLaplace(link="logit")
    with pytest.raises(ValueError, match="prior_precision"):
        LastLayerLaplace(prior_precision=0.0)
    with pytest.raises(ValueError, match="prior_min"):
        LastLayerLaplace(prior_min=10.0, prior_max=1.0)
    est, head, x, y = _tiny()
    est.fit_posterior(head, x, y)
    with pytest.raises(ValueError, match="n_samples"):
        LastLayerLaplace(link="mc").posterior(head, x, n_samples=0, generator=torch.Generator())
    with pytest.raises(TypeError, match="head it built"):
        est.posterior(torch.nn.Linear(3, 2), x, n_samples=1, generator=torch.Generator())
    cfg = create_estimator("laplace", hessian="kfac", link="mc", prior_precision=2.0, n_samples=7).config()
    assert cfg == dict(n_samples=7, hidden=128, p_in=0.25, p=0.5, hessian="kfac", link="mc", prior_precision=2.0,
                       prior_min=1e-4, prior_max=1e4, grid_size=81)


@pytest.mark.parametrize("hessian", ["diag", "kfac"])
@pytest.mark.parametrize("link", ["probit", "mc"])
def test_every_variant_is_more_uncertain_far_from_the_data(hessian, link, blobs, head_trainer):
    from alwidget.report import normalized_entropy

    est = LastLayerLaplace(hessian=hessian, link=link)
    head, _ = head_trainer(est, blobs)
    post = est.posterior(head, torch.cat([blobs.centres_C_D, blobs.far_M_D]), n_samples=64,
                         generator=torch.Generator().manual_seed(0))
    u = normalized_entropy(post.probs_N_C.numpy())
    assert u[3:].mean() > u[:3].mean() + 0.1
