"""The slow cycle's scheduler: when it is due, inline and background runs, cancel, status."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from alwidget.model.backbone import create_backbone
from alwidget.data.tensors import PoolTensors
from alwidget.representation import PoolRepresentation, RefineConfig, RepresentationCache, SlowCycle


@pytest.fixture
def base(small_pool):
    """A frozen random trunk over 300 digits at 16 px: ready at once, and a real trunk to tune."""
    torch.manual_seed(0)
    trunk, info = create_backbone("alwidget_cnn", in_chans=1)
    tensors = PoolTensors(small_pool, 16, 1, info.mean, info.std)
    rep = PoolRepresentation(tensors, trunk, info.num_features, method="frozen",
                             cache=RepresentationCache({"test": "slow cycle"}, None), seed=0)
    rep.result()
    return rep


def test_due_every_n_new_labels_and_inline_run(base):
    slow = SlowCycle(base, base.tensors, 10, RefineConfig(steps=4, batch_size=16), every=50, where="inline")
    assert not slow.due(49) and slow.due(50) and slow.result is None and slow.labels == 0
    assert slow.status == "slow cycle not run yet"
    pos = np.arange(40)
    y = np.array([int(base.tensors.pool.truth[base.tensors.pool.ids[p]]) for p in pos])
    rep = slow.run(pos, y, n_labels=40, n_pseudo=0, seed=1)
    assert slow.result is rep and slow.labels == 40
    assert slow.status.startswith("slow cycle done on 40 labels + 0 pseudo-labels in ")
    assert not slow.due(89) and slow.due(90)  # 50 new labels since the 40 it was tuned on
    assert rep.features_N_D.shape == base.result().features_N_D.shape
    assert not torch.equal(rep.raw_N_D, base.result().raw_N_D)  # the trunk did change
    # the same seed and set give the same trunk (explicit generators only)
    again = SlowCycle(base, base.tensors, 10, RefineConfig(steps=4, batch_size=16), every=50)
    assert torch.equal(again.run(pos, y, n_labels=40, n_pseudo=0, seed=1).raw_N_D, rep.raw_N_D)
    # a run on fewer labels that ends later (refine() beside a background run) does not replace it
    older = again.run(pos[:30], y[:30], n_labels=30, n_pseudo=0, seed=2)
    assert again.result is not older and again.labels == 40 and again.latest() == (again.result, 40)
    never = SlowCycle(base, base.tensors, 10, RefineConfig(), every=None)
    assert not never.due(10**6)


def test_background_run_is_single_and_a_cancel_keeps_the_previous_result(base):
    slow = SlowCycle(base, base.tensors, 10, RefineConfig(steps=10**6, batch_size=16), every=50, num_threads=1)
    pos = np.arange(20)
    y = pos % 10
    assert slow.start(pos, y, n_labels=20, n_pseudo=5, seed=0)
    assert slow.running and slow.status == "slow cycle running on 20 labels"
    assert not slow.start(pos, y, n_labels=20, n_pseudo=5, seed=0)  # one at a time
    assert slow.cancel(wait=30) and not slow.running
    assert "cancelled" in slow.status and slow.result is None
    assert not slow.cancel()  # nothing runs any more


def test_bad_settings_say_what_to_do(base):
    with pytest.raises(ValueError, match="'background' or 'inline'"):
        SlowCycle(base, base.tensors, 10, RefineConfig(), every=50, where="later")
    with pytest.raises(ValueError, match="positive number of labels or None"):
        SlowCycle(base, base.tensors, 10, RefineConfig(), every=0)
    with pytest.raises(ValueError, match="kind must be one of"):
        SlowCycle(base, base.tensors, 10, RefineConfig(), every=50, kind="distil")


def test_adapt_kind_keeps_the_trunk_and_adapts_the_features(base):
    """``kind="adapt"`` (a pretrained trunk's slow cycle): the same trunk, the features moved by a
    residual block trained on the labels, and its own status lines."""
    from alwidget.representation.adapt import AdaptConfig, AdaptedNorm

    slow = SlowCycle(base, base.tensors, 10, AdaptConfig(steps=20), every=30, where="inline", kind="adapt")
    assert slow.status == "pretrained features not adapted yet" and slow.due(30)
    pos = np.arange(60)
    y = np.array([int(base.tensors.pool.truth[base.tensors.pool.ids[p]]) for p in pos])
    rep = slow.run(pos, y, n_labels=60, n_pseudo=0, seed=4)
    assert rep.trunk is base.result().trunk and isinstance(rep.norm, AdaptedNorm)
    assert rep.features_N_D.shape == base.result().features_N_D.shape
    assert not torch.allclose(rep.features_N_D, base.result().features_N_D)
    assert slow.status.startswith("adapted the pretrained features on 60 labels + 0 pseudo-labels in ")
    assert slow.start(pos, y, n_labels=90, n_pseudo=0, seed=5)  # in the background
    slow._thread.join(60)
    assert slow.labels == 90 and slow.status.startswith("adapted the pretrained features on 90 labels")
