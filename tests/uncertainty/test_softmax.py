"""Plain softmax: the deterministic predictive of the owned head, no posterior."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from alwidget.uncertainty import DropoutMLPHead, Softmax, create_estimator
from alwidget.uncertainty.base import batched


def test_posterior_is_the_eval_mode_softmax_and_has_no_samples():
    torch.manual_seed(0)
    est = Softmax(hidden=4)
    head = est.build_head(3, 2)
    assert isinstance(head, DropoutMLPHead)
    head.train()
    x = torch.randn(5, 3)
    g = torch.Generator().manual_seed(0)
    state = g.get_state()
    post = est.posterior(head, x, n_samples=10, generator=g)
    assert not head.training
    assert torch.equal(g.get_state(), state)  # no randomness used
    want = torch.softmax(head.fc2(F.relu(head.fc1(x))), -1)
    assert torch.allclose(post.probs_N_C, want, atol=1e-6)
    assert post.samples_T_N_C is None and post.alpha_N_C is None
    assert torch.allclose(est.predict_proba(head, x), want, atol=1e-6)


def test_hand_computed_linear_head():
    est = Softmax(hidden=0)
    head = est.build_head(2, 2)
    with torch.no_grad():
        head.fc2.weight.copy_(torch.tensor([[1.0, 0.0], [0.0, 1.0]]))
        head.fc2.bias.zero_()
    post = est.posterior(head, torch.tensor([[0.0, 0.0], [2.0, 0.0]]), n_samples=1,
                         generator=torch.Generator())
    e2 = torch.exp(torch.tensor(2.0))
    assert torch.allclose(post.probs_N_C, torch.tensor([[0.5, 0.5], [e2 / (e2 + 1), 1 / (e2 + 1)]]))


def test_loss_is_cross_entropy():
    est = create_estimator("softmax")
    logits, y = torch.tensor([[2.0, 0.0], [0.0, 1.0]]), torch.tensor([0, 0])
    want = (-torch.log_softmax(logits, -1)[[0, 1], [0, 0]]).mean()
    assert torch.allclose(est.loss(logits, y), want)
    w = torch.tensor([3.0, 1.0])
    assert torch.allclose(est.loss(logits, y, weight_C=w), want)  # one class present: weights cancel


def test_batched_concatenates_chunks():
    x = torch.arange(10.0).reshape(5, 2)
    assert torch.equal(batched(lambda a: a * 2, x, batch=2), x * 2)
    assert torch.equal(batched(lambda a: a.T, x, batch=2, dim=1), x.T)
