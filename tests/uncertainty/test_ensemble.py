"""Deep ensembles / query by committee: K heads, their loss, their committee posterior."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from alwidget.strategies import consensus_kl, vote_entropy
from alwidget.uncertainty import EnsembleHead, EnsembleHeads, create_estimator
from alwidget.uncertainty.ensemble import bootstrap_counts, mean_member_log_probs


def _head(k=3, d=4, c=3, hidden=5, seed=0, **kw) -> EnsembleHead:
    torch.manual_seed(seed)
    return EnsembleHead(d, c, k, hidden, **kw)


def reference_member(head: EnsembleHead, m: int) -> nn.Module:
    """Member ``m`` as an ordinary ``nn.Sequential`` of ``nn.Linear`` layers."""
    if head.w1 is None:
        lin = nn.Linear(head.in_features, head.num_classes)
        with torch.no_grad():
            lin.weight.copy_(head.w2[m].T)
            lin.bias.copy_(head.b2[m])
        return lin
    l1, l2 = nn.Linear(head.in_features, head.hidden), nn.Linear(head.hidden, head.num_classes)
    with torch.no_grad():
        l1.weight.copy_(head.w1[m].T), l1.bias.copy_(head.b1[m])
        l2.weight.copy_(head.w2[m].T), l2.bias.copy_(head.b2[m])
    return nn.Sequential(l1, nn.ReLU(), l2)


@pytest.mark.parametrize("hidden", [0, 5])
def test_forward_stacks_the_members(hidden):
    head = _head(hidden=hidden)
    head.eval()
    x = torch.randn(6, 4)
    out = head(x)
    assert out.shape == (6, 3, 3)  # [B, K, C]
    for m in range(3):
        assert torch.allclose(out[:, m], reference_member(head, m)(x), atol=1e-6)
        assert torch.allclose(out[:, m], head.member(m, x), atol=1e-6)


def test_members_are_initialised_differently_and_reproducibly():
    a, b = _head(seed=0), _head(seed=0)
    assert all(torch.equal(p, q) for p, q in zip(a.parameters(), b.parameters()))
    assert not torch.allclose(a.w1[0], a.w1[1]) and not torch.allclose(a.w2[1], a.w2[2])
    assert not torch.equal(_head(seed=1).w1, a.w1)
    # member m's initialisation does not depend on how many follow it
    big = _head(k=5, seed=0)
    assert torch.equal(big.w1[:3], a.w1) and torch.equal(big.b2[:3], a.b2)
    # nn.Linear's default scale: U(-1/sqrt(fan_in), 1/sqrt(fan_in))
    wide = _head(k=4, d=400, hidden=300)
    assert wide.w1.abs().max() <= 1 / math.sqrt(400) and wide.w1.abs().max() > 0.9 / math.sqrt(400)
    assert wide.w2.abs().max() <= 1 / math.sqrt(300)


def test_dropout_only_in_training_and_per_member():
    head = _head(p_in=0.5, p=0.5)
    x = torch.randn(1, 4)
    head.eval()
    assert torch.equal(head(x), head(x))
    head.train()
    torch.manual_seed(3)
    out = head(x.expand(200, 4))
    assert not torch.allclose(out[:, 0], out[:1, 0].expand(200, 3))


def test_loss_is_the_mean_member_cross_entropy():
    head = _head()
    head.eval()
    x, y = torch.randn(8, 4), torch.tensor([0, 1, 2, 0, 1, 2, 2, 2])
    out = head(x)
    est = EnsembleHeads(k=3, hidden=5)
    want = torch.stack([F.cross_entropy(out[:, m], y) for m in range(3)]).mean()
    assert torch.allclose(est.loss(out, y), want)
    w = torch.tensor([0.5, 2.0, 1.0])
    want_w = torch.stack([F.cross_entropy(out[:, m], y, weight=w) for m in range(3)]).mean()
    assert torch.allclose(est.loss(out, y, weight_C=w), want_w)
    est.loss(out, y).backward()
    assert all(p.grad.abs().sum(dim=tuple(range(1, p.dim()))).gt(0).all() for p in head.parameters())


def test_bootstrap_counts():
    c = bootstrap_counts(4, 10, torch.Generator().manual_seed(0))
    assert c.shape == (4, 10) and torch.equal(c.sum(1), torch.full((4,), 10.0))
    assert (c == c.round()).all() and (c >= 0).all()
    assert not torch.equal(c[0], c[1])
    # each item's expected multiplicity is 1
    big = bootstrap_counts(2000, 10, torch.Generator().manual_seed(1))
    assert torch.allclose(big.mean(0), torch.ones(10), atol=0.1)


def test_bootstrap_loss_is_seeded_by_the_global_generator_and_matches_a_hand_computation():
    head = _head()
    head.eval()
    x, y = torch.randn(8, 4), torch.tensor([0, 1, 2, 0, 1, 2, 2, 2])
    out = head(x)
    est = EnsembleHeads(k=3, hidden=5, bootstrap=True)
    w = torch.tensor([0.5, 2.0, 1.0])
    torch.manual_seed(5)
    got = est.loss(out, y, weight_C=w)
    torch.manual_seed(5)
    again = est.loss(out, y, weight_C=w)
    torch.manual_seed(5)
    counts = bootstrap_counts(3, 8)
    ce = torch.stack([F.cross_entropy(out[:, m], y, reduction="none") for m in range(3)])  # [K, B]
    wk = counts * w[y]
    want = ((wk * ce).sum(1) / wk.sum(1)).mean()
    assert torch.equal(got, again)
    assert torch.allclose(got, want)
    assert not torch.allclose(got, EnsembleHeads(k=3, hidden=5).loss(out, y, weight_C=w))


def test_logits_are_the_log_of_the_mean_member_probability():
    # two members: probabilities (0.5, 0.5) and (0.9, 0.1) → mean (0.7, 0.3)
    out = torch.tensor([[[0.0, 0.0], [math.log(9.0), 0.0]]])
    est = EnsembleHeads(k=2)
    assert torch.allclose(est.logits(out), torch.log(torch.tensor([[0.7, 0.3]])), atol=1e-6)
    assert torch.allclose(mean_member_log_probs(out).exp().sum(-1), torch.ones(1))
    # stable for huge logits
    big = torch.tensor([[[1000.0, 0.0], [0.0, 1000.0]]])
    assert torch.allclose(est.logits(big), torch.log(torch.tensor([[0.5, 0.5]])), atol=1e-6)


def test_posterior_is_the_committee_and_ignores_n_samples():
    head = _head(k=4)
    est = EnsembleHeads(k=4, hidden=5)
    x = torch.randn(9, 4)
    g = torch.Generator().manual_seed(0)
    state = g.get_state()
    a = est.posterior(head, x, n_samples=20, generator=g)
    b = est.posterior(head, x, n_samples=1, generator=torch.Generator().manual_seed(99))
    assert torch.equal(g.get_state(), state)
    assert a.samples_T_N_C.shape == (4, 9, 3)
    assert torch.equal(a.samples_T_N_C, b.samples_T_N_C)
    for m in range(4):
        assert torch.allclose(a.samples_T_N_C[m], torch.softmax(head.member(m, x), -1), atol=1e-6)
    assert torch.allclose(a.probs_N_C, a.samples_T_N_C.mean(0))
    assert torch.allclose(est.predict_proba(head, x), a.probs_N_C, atol=1e-6)
    assert a.alpha_N_C is None


def test_committee_scores_on_the_samples():
    """Vote entropy and consensus KL read the members as the committee (hand values)."""
    est = EnsembleHeads(k=2, hidden=0)
    head = est.build_head(2, 2)
    with torch.no_grad():  # member 0 predicts class 0 for x=(1,0); member 1 predicts class 1
        head.w2.copy_(torch.tensor([[[3.0, 0.0], [0.0, 0.0]], [[0.0, 3.0], [0.0, 0.0]]]))
        head.b2.zero_()
    post = est.posterior(head, torch.tensor([[1.0, 0.0], [0.0, 0.0]]), n_samples=0,
                         generator=torch.Generator())
    s = post.samples_T_N_C.numpy().astype(np.float64)
    ve = vote_entropy(s)
    assert ve[0] == pytest.approx(math.log(2))  # one vote each
    assert ve[1] == pytest.approx(0.0)  # both tie at (0.5, 0.5) → both vote class 0
    p = 1 / (1 + math.exp(-3))
    kl = p * math.log(p / 0.5) + (1 - p) * math.log((1 - p) / 0.5)
    assert consensus_kl(s)[0] == pytest.approx(kl, rel=1e-5)
    assert consensus_kl(s)[1] == pytest.approx(0.0, abs=1e-7)


def test_invalid_parameters_and_config():
    with pytest.raises(ValueError, match="k >= 2"):
        EnsembleHeads(k=1)
    with pytest.raises(ValueError, match="p_in"):
        EnsembleHeads(p_in=1.5)
    with pytest.raises(ValueError, match="hidden"):
        EnsembleHeads(hidden=-1)
    est = create_estimator("ensemble", k=3, hidden=0, bootstrap=True)
    assert est.config() == dict(n_samples=20, k=3, hidden=0, p_in=0.0, p=0.0, bootstrap=True)
    head = est.build_head(5, 2)
    assert head.w1 is None and head.w2.shape == (3, 5, 2)
    assert est.produces == frozenset({"samples"})


def test_state_dict_round_trip():
    head = _head()
    again = EnsembleHead(4, 3, 3, 5)
    again.load_state_dict(head.state_dict())
    x = torch.randn(3, 4)
    head.eval(), again.eval()
    assert torch.equal(head(x), again(x))
