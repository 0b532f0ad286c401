"""Cycle metrics: Wilson interval, normalised entropy, bands, histogram, per-class metrics, stopping."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, strategies as st

from alwidget.report import (CycleReport, normalized_entropy, per_class_metrics, uncertainty_band,
                             uncertainty_histogram, wilson_interval)
from alwidget.stopping import StoppingRule, stop_reason


def test_wilson_golden_values():
    # hand-computed: p=0.8, n=10, z=1.959964 -> centre 0.71675, half 0.22657
    lo, hi = wilson_interval(8, 10)
    assert lo == pytest.approx(0.4901624, abs=1e-6) and hi == pytest.approx(0.9433178, abs=1e-6)
    lo, hi = wilson_interval(100, 100)
    assert lo == pytest.approx(0.9630065, abs=1e-6) and hi == 1.0
    assert all(math.isnan(v) for v in wilson_interval(0, 0))


@given(st.integers(1, 5000), st.data())
def test_wilson_contains_the_proportion(n, data):
    k = data.draw(st.integers(0, n))
    lo, hi = wilson_interval(k, n)
    assert 0 <= lo <= k / n <= hi <= 1


def test_normalized_entropy_and_bands():
    p = np.array([[1.0, 0.0, 0.0], [1 / 3, 1 / 3, 1 / 3], [0.5, 0.5, 0.0]])
    u = normalized_entropy(p)
    np.testing.assert_allclose(u, [0.0, 1.0, math.log(2) / math.log(3)])
    assert list(uncertainty_band([0.0, 0.19, 0.2, 0.49, 0.5, 1.0])) == ["easy", "easy", "medium", "medium",
                                                                           "hard", "hard"]


def test_histogram_splits_labeled_and_counts_bands():
    u = np.array([0.05, 0.15, 0.35, 0.9, 0.95, 0.12])
    labeled = np.array([False, False, False, False, True, True])
    h = uncertainty_histogram(u, labeled, bins=10)
    assert h.unlabeled == [1, 1, 0, 1, 0, 0, 0, 0, 0, 1]
    assert h.labeled == [0, 1, 0, 0, 0, 0, 0, 0, 0, 1]
    assert h.bands == {"easy": 2, "medium": 1, "hard": 1}


def test_per_class_metrics_by_hand():
    m = per_class_metrics([0, 0, 1, 1, 2], [0, 1, 1, 1, 0], ["a", "b", "c"])
    assert m["a"] == {"precision": 0.5, "recall": 0.5, "support": 2}
    assert m["b"]["precision"] == pytest.approx(2 / 3) and m["b"]["recall"] == 1.0
    assert math.isnan(m["c"]["precision"]) and m["c"]["recall"] == 0.0


def _rep(cycle, n, acc, ci=None):
    return CycleReport(cycle=cycle, n_labels=n, accuracy=acc, accuracy_ci=ci or (acc - 0.05, acc + 0.05))


def test_stop_reasons():
    hist = [_rep(1, 20, 0.5), _rep(2, 40, 0.7), _rep(3, 60, 0.8)]
    assert stop_reason(hist, StoppingRule()) is None
    assert "budget of 60" in stop_reason(hist, StoppingRule(label_budget=60))
    assert "target of 75.0%" in stop_reason(hist, StoppingRule(target_accuracy=0.75))
    plateau = hist + [_rep(4, 80, 0.801), _rep(5, 100, 0.799)]
    assert "last 2 cycles" in stop_reason(plateau, StoppingRule(plateau_cycles=2))
    assert stop_reason(plateau, StoppingRule(plateau_cycles=0)) is None
    failed = [CycleReport(cycle=1, error="boom")]
    assert stop_reason(failed, StoppingRule(label_budget=0)) is None
    assert "failed: boom" in failed[0].summary()


def test_cycle_report_by_hand():
    from alwidget.report import cycle_report

    # 6 items, 2 classes: items 0, 1 labelled; 2, 3 validation; 4, 5 selectable
    probs = np.array([[0.9, 0.1], [0.2, 0.8], [0.7, 0.3], [0.4, 0.6], [0.5, 0.5], [0.6, 0.4]])
    unc = np.array([0.1, 0.2, 0.3, 0.4, 1.0, 0.8])
    scores = np.array([0.0, 0.0, 0.0, 0.0, 0.5, 0.9])
    labeled = np.array([True, True, False, False, False, False])
    selectable = np.array([False, False, False, False, True, True])
    report, top = cycle_report(cycle=3, labels_version=7, classes=["a", "b"], probs_N_C=probs, uncertainty_N=unc,
                               scores_N=scores, labeled_N=labeled, selectable_N=selectable,
                               validation_V=np.array([2, 3]), y_validation_V=np.array([0, 0]), k=1,
                               previous_top=np.array([4]), strategy="margin", estimator="softmax",
                               train_steps=10, train_epochs=2)
    assert top.tolist() == [5]  # the higher score
    assert report.topk_overlap == 0.0  # last time item 4 led
    assert report.n_labels == 2 and report.n_validation == 2
    assert report.accuracy == 0.5  # item 2 predicted a (right), item 3 predicted b (wrong)
    assert report.balanced_accuracy == 0.5  # one class present in the validation set, recall 1/2
    assert report.score_gap == pytest.approx((1.0 + 0.8) / 2 - (0.1 + 0.2) / 2)
    assert sum(report.histogram.labeled) == 2 and sum(report.histogram.unlabeled) == 2
    lo, hi = report.accuracy_ci
    assert lo < 0.5 < hi
    empty, _ = cycle_report(cycle=1, labels_version=0, classes=["a", "b"], probs_N_C=probs, uncertainty_N=unc,
                            scores_N=scores, labeled_N=labeled, selectable_N=selectable,
                            validation_V=np.array([], dtype=np.int64), y_validation_V=np.array([], dtype=np.int64),
                            k=2, previous_top=None, strategy="margin", estimator="softmax", train_steps=0,
                            train_epochs=0)
    assert np.isnan(empty.accuracy) and empty.topk_overlap is None


def test_normalized_entropy_in_blocks_equals_one_pass(monkeypatch):
    """Blocks of rows (the last one short) give what one pass over every row gives; hand values:
    a uniform row is 1, a one-hot row 0, (1/2, 1/2, 0) is log 2 / log 3."""
    import alwidget.report as report_module

    rng = np.random.default_rng(0)
    p = rng.dirichlet(np.ones(3), size=1000)
    p[0], p[1], p[2] = [1 / 3] * 3, [0.0, 1.0, 0.0], [0.5, 0.5, 0.0]
    whole = normalized_entropy(p)
    monkeypatch.setattr(report_module, "ENTROPY_CHUNK_ROWS", 64)
    blocks = normalized_entropy(p)
    np.testing.assert_array_equal(blocks, whole)
    np.testing.assert_allclose(blocks[:3], [1.0, 0.0, math.log(2) / math.log(3)], atol=1e-12)
    assert normalized_entropy(np.zeros((0, 3))).shape == (0,)
