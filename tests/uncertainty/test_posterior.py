"""``Posterior.with_class_weights`` against a float64 reference by hand."""

from __future__ import annotations

import torch

from alwidget.uncertainty.base import Posterior


def test_class_weights_reweigh_every_sample_and_average_them():
    g = torch.Generator().manual_seed(0)
    samples = torch.softmax(torch.randn(5, 300, 4, generator=g) * 3, -1)
    before = samples.clone()
    w = [0.25, 1.0, 2.0, 8.0]
    post = Posterior(samples.mean(0), samples).with_class_weights(w)
    ref = samples.double() * torch.tensor(w, dtype=torch.float64)
    ref = ref / ref.sum(-1, keepdim=True)
    assert post.samples_T_N_C.dtype == torch.float32 and post.probs_N_C.dtype == torch.float32
    assert torch.allclose(post.samples_T_N_C.double(), ref, atol=1e-6)
    assert torch.allclose(post.probs_N_C.double(), ref.mean(0), atol=1e-6)
    assert torch.equal(samples, before)  # the input posterior is not changed
    # a hand-checked row: [0.5, 0.5] times [1, 3] is [0.25, 0.75]
    one = Posterior(torch.tensor([[0.5, 0.5]])).with_class_weights([1.0, 3.0])
    assert one.samples_T_N_C is None
    assert torch.allclose(one.probs_N_C, torch.tensor([[0.25, 0.75]]))
    assert Posterior(samples.mean(0)).with_class_weights(None).probs_N_C is not None
