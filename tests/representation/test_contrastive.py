"""Self-supervised training: the loss by hand, seeded views, and resume == uninterrupted."""

from __future__ import annotations

import copy
import math

import pytest
import torch
from torch import nn

from alwidget.progress import CancelToken, CycleCancelled
from alwidget.representation import ContrastiveConfig, contrastive_views, nt_xent_loss, train_contrastive


def test_nt_xent_by_hand_for_two_images():
    # rows 0,1 are image A's two views, rows... no: rows i and i + B pair up. B = 2:
    # z0 = z2 = e1, z1 = z3 = e2 (orthogonal). Row 0: positive z2 (cos 1), negatives z1, z3 (cos 0).
    z = torch.tensor([[1.0, 0.0], [0.0, 1.0], [1.0, 0.0], [0.0, 1.0]])
    t = 0.5
    expected = -math.log(math.exp(1 / t) / (math.exp(1 / t) + 2 * math.exp(0)))
    assert nt_xent_loss(z, t).item() == pytest.approx(expected, rel=1e-6)
    with pytest.raises(ValueError, match="even"):
        nt_xent_loss(z[:3], t)


def test_views_are_seeded_in_range_and_differ():
    x = torch.rand(4, 3, 16, 16)
    a = contrastive_views(x, torch.Generator().manual_seed(1))
    b = contrastive_views(x, torch.Generator().manual_seed(1))
    c = contrastive_views(x, torch.Generator().manual_seed(2))
    assert torch.equal(a, b) and not torch.equal(a, c)
    assert a.shape == x.shape and a.min() >= 0 and a.max() <= 1


class Tiny(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(1, 4, 3, padding=1)
        self.num_features = 4

    def forward(self, x):
        return self.conv(x).mean((2, 3))


def _run(steps, resume=None, on_checkpoint=None, cancel=None, every=3):
    torch.manual_seed(0)
    trunk = Tiny()
    data = torch.rand(20, 1, 8, 8, generator=torch.Generator().manual_seed(9))
    cfg = ContrastiveConfig(steps=steps, batch_size=8, checkpoint_every=every)
    torch.manual_seed(1)
    return train_contrastive(trunk, 20, lambda idx: data[torch.as_tensor(idx)], lambda x: x * 2 - 1, 4, cfg,
                             generator=torch.Generator().manual_seed(3), resume=resume,
                             on_checkpoint=on_checkpoint, cancel=cancel)


def test_resume_from_a_checkpoint_gives_the_uninterrupted_result():
    straight = _run(7)
    checkpoints = []
    # the states are live references: the cache writes them to disk at once, the test copies them
    _run(7, on_checkpoint=lambda state: checkpoints.append(copy.deepcopy(state)))
    assert [c["step"] for c in checkpoints] == [3, 6]
    # a "killed" run resumes from step 3 with fresh objects
    resumed = _run(7, resume=copy.deepcopy(checkpoints[0]))
    for (k, a), (_, b) in zip(straight.state_dict().items(), resumed.state_dict().items()):
        torch.testing.assert_close(a, b, msg=k)
    assert not any(p.requires_grad for p in straight.parameters())


def test_training_changes_the_trunk_and_cancel_stops_it():
    torch.manual_seed(0)
    before = Tiny().conv.weight.detach().clone()
    after = _run(5).conv.weight
    assert not torch.allclose(before, after)
    token = CancelToken()
    token.cancel()
    with pytest.raises(CycleCancelled):
        _run(5, cancel=token)


def test_config_is_validated():
    with pytest.raises(ValueError, match="steps"):
        ContrastiveConfig(steps=0)
    with pytest.raises(ValueError, match="positive"):
        ContrastiveConfig(temperature=0)


def test_default_budget_is_forty_passes_within_its_floor_and_cap():
    from alwidget.representation import default_contrastive_config
    from alwidget.representation.builder import MAX_CONTRASTIVE_STEPS

    assert MAX_CONTRASTIVE_STEPS == 2400
    assert default_contrastive_config(1000).steps == 313  # ceil(40 * 1000 / 128)
    assert default_contrastive_config(100).steps == 100  # the floor: 32 would be too few
    assert default_contrastive_config(10_000).steps == 2400  # 3,125 capped
    assert default_contrastive_config(1000, batch_size=256).steps == 157  # ceil(40 * 1000 / 256)
    assert default_contrastive_config(10_000, steps=50).steps == 50  # an override wins
