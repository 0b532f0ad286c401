"""Pseudo-labels from beliefs: ``confident_items`` (``pseudo_label_threshold``) by hand."""

from __future__ import annotations

import numpy as np
import pytest

from alwidget.semi.propagate import confident_items


def test_confident_items_takes_the_most_confident_candidates_up_to_the_limit():
    probs = np.array([[0.95, 0.05],   # 0: confident, class 0
                      [0.10, 0.90],   # 1: confident, class 1, but not a candidate
                      [0.40, 0.60],   # 2: below the threshold
                      [0.02, 0.98],   # 3: most confident, class 1
                      [0.90, 0.10],   # 4: ties with 5 at 0.90 -> position order
                      [0.10, 0.90]])  # 5
    candidates = np.array([True, False, True, True, True, True])
    pos, y = confident_items(probs, candidates, 0.9, limit=10)
    assert pos.tolist() == [3, 0, 4, 5] and y.tolist() == [1, 0, 0, 1]
    assert pos.dtype == np.int64 and y.dtype == np.int64
    pos, y = confident_items(probs, candidates, 0.9, limit=2)
    assert pos.tolist() == [3, 0] and y.tolist() == [1, 0]
    pos, y = confident_items(probs, candidates, 0.99, limit=5)
    assert pos.size == 0 and y.size == 0


@pytest.mark.parametrize("limit", [0, -3])
def test_no_room_no_items(limit):
    pos, _ = confident_items(np.eye(3), np.ones(3, bool), 0.5, limit=limit)
    assert pos.size == 0
