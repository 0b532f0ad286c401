"""The training loop: it learns, stops early on a validation plateau, refuses NaN, can be cancelled."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from alwidget.model.train import TrainConfig, TrainingDiverged, balanced_order, fit
from alwidget.progress import CancelToken, CycleCancelled


def _blobs(n=300, seed=0):
    g = np.random.default_rng(seed)
    y = g.integers(0, 3, n)
    centres = np.array([[3, 0], [-3, 0], [0, 3]], float)
    x = centres[y] + g.normal(0, 0.7, (n, 2))
    return torch.tensor(x, dtype=torch.float32), y


def test_fit_learns_separable_blobs():
    x, y = _blobs()
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Linear(2, 16), torch.nn.ReLU(), torch.nn.Linear(16, 3))
    res = fit(net, lambda idx, tr: net(x[idx]), lambda out, t, f: F.cross_entropy(out, t), y,
              TrainConfig(max_steps=200, batch_size=32), generator=torch.Generator().manual_seed(0))
    acc = (net(x).argmax(1).numpy() == y).mean()
    assert acc > 0.95 and res.steps == 200
    assert res.train_loss[-1] < res.train_loss[0]


def test_early_stopping_restores_the_best_weights():
    x, y = _blobs()
    net = torch.nn.Linear(2, 3)
    seen = []

    def validation():  # a loss that is best at the 3rd evaluation, then gets worse
        seen.append(len(seen))
        return abs(len(seen) - 3) + 1.0

    snapshots = {}
    orig = validation

    def val_and_snapshot():
        v = orig()
        snapshots[len(seen)] = net.weight.detach().clone()
        return v

    res = fit(net, lambda idx, tr: net(x[idx]), lambda out, t, f: F.cross_entropy(out, t), y,
              TrainConfig(max_steps=10_000, batch_size=300, eval_every=1, patience=4, min_fraction=0.0),
              generator=torch.Generator().manual_seed(0), validation=val_and_snapshot)
    assert len(seen) == 3 + 4  # best at 3, then 4 evaluations without improvement
    assert res.steps == 7 and res.best_epoch == 2
    torch.testing.assert_close(net.weight, snapshots[3])


def test_nan_loss_raises_diverged():
    x, y = _blobs(50)
    net = torch.nn.Linear(2, 3)
    with pytest.raises(TrainingDiverged, match="nan"):
        fit(net, lambda idx, tr: net(x[idx]), lambda out, t, f: F.cross_entropy(out, t) * float("nan"), y,
            TrainConfig(max_steps=5), generator=torch.Generator())


def test_cancel_stops_training():
    x, y = _blobs(50)
    net = torch.nn.Linear(2, 3)
    token = CancelToken()
    token.cancel()
    with pytest.raises(CycleCancelled):
        fit(net, lambda idx, tr: net(x[idx]), lambda out, t, f: F.cross_entropy(out, t), y,
            TrainConfig(max_steps=5), generator=torch.Generator(), cancel=token)


def test_balanced_order_draws_classes_equally():
    y = np.array([0] * 90 + [1] * 10)
    idx = balanced_order(y, 20_000, torch.Generator().manual_seed(0))
    share = (y[idx.numpy()] == 1).mean()
    assert share == pytest.approx(0.5, abs=0.02)


@pytest.mark.parametrize("bad, match", [(dict(max_steps=0), "max_steps"), (dict(batch_size=0), "batch_size"),
                                        (dict(lr=0.0), "lr"), (dict(augment="rotate"), "augment must be")])
def test_train_config_refuses_bad_settings(bad, match):
    with pytest.raises(ValueError, match=match):
        TrainConfig(**bad)


def test_default_steps_do_not_shrink_for_few_labels():
    # 20 labels are one batch per epoch: the defaults still train the whole step budget (300),
    # with no early stop although a validation loss is given (it would stop a flat loss at once)
    y = np.arange(20) % 10
    x = torch.randn(20, 4)
    module = torch.nn.Linear(4, 10)
    res = fit(module, lambda idx, training: module(x[idx]), lambda out, t, frac: F.cross_entropy(out, t), y,
              TrainConfig(), generator=torch.Generator().manual_seed(0), validation=lambda: 1.0)
    assert res.steps == TrainConfig().max_steps == 300 and res.epochs == 300 and res.val_loss == []
