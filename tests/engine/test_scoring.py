"""score_pool: one call or chunks on an engine give the same posterior."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from alwidget.engine import LocalEngine, ScoreTask
from alwidget.engine.scoring import score_pool
from alwidget.progress import CancelToken, CycleCancelled
from alwidget.uncertainty import create_estimator


@pytest.fixture
def head_and_features():
    torch.manual_seed(0)
    est = create_estimator("mc_dropout")
    head = est.build_head(16, 4)
    return est, head, torch.randn(1000, 16)


@pytest.mark.parametrize("chunk_rows", [256, 333, 1000])
def test_chunks_give_the_one_calls_posterior(head_and_features, chunk_rows):
    est, head, feats = head_and_features
    task = ScoreTask(head, est, 8, seed=5, keep_samples=True, class_weights=[1.0, 2.0, 0.5, 0.5])
    whole = score_pool(task, feats, 1000, engine=LocalEngine(), chunk_rows=chunk_rows, in_one_call=True)
    seen = []
    parts = score_pool(task, feats, 1000, engine=LocalEngine(), chunk_rows=chunk_rows, in_one_call=False,
                       progress=lambda step, f: seen.append((step, f)))
    np.testing.assert_allclose(parts[0], whole[0], atol=1e-6)
    np.testing.assert_allclose(parts[1], whole[1], atol=1e-6)
    assert parts[0].shape == (1000, 4) and parts[0].dtype == np.float64 and parts[1].shape == (8, 1000, 4)
    np.testing.assert_allclose(parts[0].sum(1), 1.0, atol=1e-6)
    assert seen and all(step == "score" for step, _ in seen)


def test_rows_read_from_disk_features_and_samples_left_out(head_and_features):
    est, head, feats = head_and_features

    class OnDisk:  # what DiskFeatures offers: rows through .array.read(start, stop)
        class array:
            @staticmethod
            def read(s, e):
                return feats[s:e].numpy()

    task = ScoreTask(head, est, 8, seed=5, keep_samples=False)
    probs, samples, alpha = score_pool(task, OnDisk(), 1000, engine=LocalEngine(), chunk_rows=256, in_one_call=False)
    want = score_pool(task, feats, 1000, engine=LocalEngine(), chunk_rows=256, in_one_call=True)[0]
    np.testing.assert_allclose(probs, want, atol=1e-6)
    assert samples is None and alpha is None
    cancel = CancelToken()
    cancel.cancel()
    with pytest.raises(CycleCancelled):
        score_pool(task, feats, 1000, engine=LocalEngine(), chunk_rows=256, in_one_call=False, cancel=cancel)
