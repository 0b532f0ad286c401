"""MC dropout through the owned head: consistent and independent masks, folding, chunking."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from alwidget.uncertainty import DropoutMLPHead, MCDropout, create_estimator


def _head(d=6, c=3, hidden=5, p_in=0.25, p=0.5, seed=0) -> DropoutMLPHead:
    torch.manual_seed(seed)
    head = DropoutMLPHead(d, c, hidden, p_in, p)
    head.eval()
    return head


def _gen(seed=0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def explicit_masked_logits(head: DropoutMLPHead, x_N_D: torch.Tensor, m_in_T_D: torch.Tensor,
                           m_h_T_H: torch.Tensor) -> torch.Tensor:
    """Reference: sample ``t`` is the network run with the (scaled) masks applied to its inputs."""
    out = []
    for t in range(len(m_in_T_D)):
        z = F.relu((x_N_D * m_in_T_D[t]) @ head.fc1.weight.T + head.fc1.bias)
        out.append((z * m_h_T_H[t]) @ head.fc2.weight.T + head.fc2.bias)
    return torch.stack(out)


def test_forward_is_deterministic_in_eval_and_stochastic_in_training():
    head = _head()
    x = torch.randn(4, 6)
    assert torch.equal(head(x), head(x))
    ref = head.fc2(F.relu(head.fc1(x)))
    assert torch.allclose(head(x), ref)
    head.train()
    torch.manual_seed(1)
    assert not torch.equal(head(x), head(x))


def test_folded_weights_equal_explicit_masking():
    head = _head()
    x = torch.randn(7, 6, dtype=torch.float32)
    t = 5
    got = head.sample_logits(x, t, _gen(3), consistent_masks=True)
    # the masks the head draws, in its order: inputs [T, 1, D] then hidden [T, 1, H]
    g = _gen(3)
    m_in = (torch.rand((t, 1, 6), generator=g) < 0.75).float() / 0.75
    m_h = (torch.rand((t, 1, 5), generator=g) < 0.5).float() / 0.5
    want = explicit_masked_logits(head, x, m_in[:, 0], m_h[:, 0])
    assert got.shape == (t, 7, 3)
    assert torch.allclose(got, want, atol=1e-5)


def test_consistent_masks_make_each_sample_one_function():
    head = _head()
    x = torch.randn(9, 6)
    all_items = head.sample_logits(x, 6, _gen(11), consistent_masks=True)
    for i in range(len(x)):
        alone = head.sample_logits(x[i:i + 1], 6, _gen(11), consistent_masks=True)
        assert torch.allclose(all_items[:, i:i + 1], alone, atol=1e-6)
    # an item's samples do not depend on its neighbours, so duplicates get identical samples
    dup = head.sample_logits(torch.stack([x[0], x[0], x[1]]), 6, _gen(11), consistent_masks=True)
    assert torch.equal(dup[:, 0], dup[:, 1])


def test_independent_masks_differ_per_item():
    head = _head()
    x = torch.randn(1, 6).expand(40, 6).contiguous()  # 40 copies of one item
    logits = head.sample_logits(x, 8, _gen(2), consistent_masks=False)
    assert logits.shape == (8, 40, 3)
    assert not torch.allclose(logits[:, 0], logits[:, 1])
    distinct = {tuple(row.round(decimals=5).tolist()) for row in logits[0]}
    assert len(distinct) > 5
    # and they are still masked networks: each equals the explicit masking with its own masks
    g = _gen(2)
    m_in = (torch.rand((8, 40, 6), generator=g) < 0.75).float() / 0.75
    m_h = (torch.rand((8, 40, 5), generator=g) < 0.5).float() / 0.5
    z = F.relu((x.unsqueeze(0) * m_in) @ head.fc1.weight.T + head.fc1.bias)
    assert torch.allclose(logits, (z * m_h) @ head.fc2.weight.T + head.fc2.bias, atol=1e-5)


def test_posterior_chunks_of_4096_do_not_change_consistent_samples():
    head = _head(d=4, c=3, hidden=6)
    est = MCDropout(hidden=6, p_in=0.25, p=0.5, consistent_masks=True)
    x = torch.randn(4096 + 300, 4, generator=_gen(5))
    whole = est.posterior(head, x, n_samples=4, generator=_gen(9))
    tail = est.posterior(head, x[4096:], n_samples=4, generator=_gen(9))
    head_part = est.posterior(head, x[:50], n_samples=4, generator=_gen(9))
    assert whole.samples_T_N_C.shape == (4, 4396, 3)
    assert torch.allclose(whole.samples_T_N_C[:, 4096:], tail.samples_T_N_C, atol=1e-6)
    assert torch.allclose(whole.samples_T_N_C[:, :50], head_part.samples_T_N_C, atol=1e-6)
    # item 4100 (second chunk) and item 4 (first chunk) — same input, same samples
    x2 = x.clone()
    x2[4100] = x2[4]
    both = est.posterior(head, x2, n_samples=4, generator=_gen(9)).samples_T_N_C
    assert torch.allclose(both[:, 4100], both[:, 4], atol=1e-6)


def test_independent_masks_across_chunks_are_fresh():
    head = _head(d=4, c=3, hidden=6)
    est = MCDropout(hidden=6, consistent_masks=False)
    x = torch.randn(1, 4).expand(4100, 4).contiguous()
    s = est.posterior(head, x, n_samples=3, generator=_gen(1)).samples_T_N_C
    assert not torch.allclose(s[:, 4099], s[:, 3])


def test_samples_average_to_the_predictive_mean():
    head = _head()
    est = MCDropout(hidden=5)
    post = est.posterior(head, torch.randn(10, 6), n_samples=12, generator=_gen(0))
    assert torch.allclose(post.probs_N_C, post.samples_T_N_C.mean(0))
    # inverted dropout is unbiased: for a linear head, the mean sampled logit is the eval logit
    lin = _head(hidden=0, p_in=0.3)
    x = torch.randn(3, 6)
    sampled = lin.sample_logits(x, 40000, _gen(4), consistent_masks=True).mean(0)
    assert torch.allclose(sampled, lin(x), atol=0.05)


def test_without_dropout_every_sample_is_the_deterministic_softmax():
    head = _head(p_in=0.0, p=0.0)
    est = MCDropout(hidden=5, p_in=0.0, p=0.0)
    x = torch.randn(6, 6)
    post = est.posterior(head, x, n_samples=5, generator=_gen(0))
    want = torch.softmax(head(x), -1)
    assert torch.allclose(post.samples_T_N_C, want.expand(5, -1, -1), atol=1e-6)
    assert torch.allclose(post.probs_N_C, want, atol=1e-6)


@pytest.mark.parametrize("consistent", [True, False])
def test_seeded_generator_gives_identical_samples(consistent):
    head = _head()
    est = MCDropout(hidden=5, consistent_masks=consistent)
    x = torch.randn(20, 6)
    a = est.posterior(head, x, n_samples=7, generator=_gen(42)).samples_T_N_C
    b = est.posterior(head, x, n_samples=7, generator=_gen(42)).samples_T_N_C
    c = est.posterior(head, x, n_samples=7, generator=_gen(43)).samples_T_N_C
    assert torch.equal(a, b)
    assert not torch.equal(a, c)


def test_posterior_leaves_head_in_eval_and_ignores_training_mode():
    head = _head()
    est = MCDropout(hidden=5)
    x = torch.randn(5, 6)
    head.train()
    a = est.posterior(head, x, n_samples=3, generator=_gen(0)).samples_T_N_C
    assert not head.training
    b = est.posterior(head, x, n_samples=3, generator=_gen(0)).samples_T_N_C
    assert torch.equal(a, b)


def test_linear_head_samples_are_masked_inputs():
    head = _head(hidden=0, p_in=0.5)
    x = torch.randn(4, 6)
    got = head.sample_logits(x, 3, _gen(8), consistent_masks=True)
    m = (torch.rand((3, 1, 6), generator=_gen(8)) < 0.5).float() / 0.5
    assert torch.allclose(got, (x.unsqueeze(0) * m) @ head.fc2.weight.T + head.fc2.bias, atol=1e-6)


def test_invalid_parameters():
    with pytest.raises(ValueError, match="p_in"):
        MCDropout(p_in=1.0)
    with pytest.raises(ValueError, match="p must"):
        MCDropout(p=-0.1)
    with pytest.raises(ValueError, match="n_samples"):
        MCDropout(hidden=5).posterior(_head(), torch.randn(2, 6), n_samples=0, generator=_gen())


def test_build_head_and_config():
    est = create_estimator("mc_dropout", hidden=7, p_in=0.1, p=0.2, consistent_masks=False)
    head = est.build_head(4, 2)
    assert isinstance(head, DropoutMLPHead) and head.fc1.out_features == 7 and head.fc2.out_features == 2
    assert est.config() == dict(n_samples=20, hidden=7, p_in=0.1, p=0.2, consistent_masks=False)
    assert est.produces == frozenset({"samples"})


@pytest.mark.parametrize("consistent", [True, False])
def test_without_input_dropout_the_first_layer_runs_once(consistent):
    """``p_in=0``: only hidden masks are drawn ([T, 1, H] or [T, N, H]), and the samples equal the
    network run explicitly with those masks and all inputs kept."""
    head = _head(p_in=0.0)
    x = torch.randn(7, 6)
    t = 4
    got = head.sample_logits(x, t, _gen(5), consistent_masks=consistent)
    g = _gen(5)
    if consistent:
        m_h = (torch.rand((t, 1, 5), generator=g) < 0.5).float() / 0.5
        want = explicit_masked_logits(head, x, torch.ones(t, 6), m_h[:, 0])
    else:
        m_h = (torch.rand((t, 7, 5), generator=g) < 0.5).float() / 0.5
        z = F.relu(head.fc1(x))
        want = (z.unsqueeze(0) * m_h) @ head.fc2.weight.T + head.fc2.bias
    torch.testing.assert_close(got, want, atol=1e-5, rtol=1e-5)


def test_default_input_dropout_depends_on_the_width():
    from alwidget.uncertainty.mc_dropout import INPUT_DROPOUT_UP_TO

    est = MCDropout()
    assert est.input_dropout(128) == 0.25 and est.input_dropout(INPUT_DROPOUT_UP_TO) == 0.25
    assert est.input_dropout(1280) == 0.0
    assert est.build_head(1280, 3).p_in == 0.0 and est.build_head(64, 3).p_in == 0.25
    assert MCDropout(p_in=0.1).input_dropout(1280) == 0.1  # an explicit value is kept
