"""Every training batch is full: a short tail batch would corrupt batch-norm statistics."""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from alwidget.model.train import TrainConfig, fit


def test_no_short_tail_batch():
    sizes = []
    y = np.arange(130) % 10  # 130 = 2 × 64 + 2: the old loop ended each epoch on a batch of 2
    x = torch.randn(130, 4)
    net = torch.nn.Linear(4, 10)

    def forward(idx, training):
        sizes.append(len(idx))
        return net(x[idx])

    for balanced in (True, False):
        sizes.clear()
        fit(net, forward, lambda out, t, f: F.cross_entropy(out, t), y,
            TrainConfig(max_steps=30, batch_size=64, class_balanced=balanced, patience=0),
            generator=torch.Generator().manual_seed(0))
        assert sizes and set(sizes) == {64}
