"""Power (stochastic batch) and stream-style threshold strategies."""

from __future__ import annotations

from typing import Callable

import numpy as np
import pytest

from alwidget.strategies import PoolEstimate, Strategy, create_strategy, entropy
from alwidget.strategies.power import gumbel_top_k


class FixedScore(Strategy):
    """A per-item base strategy returning given scores (not registered)."""

    name = "fixed_score"

    def __init__(self, scores: np.ndarray) -> None:
        self.scores = np.asarray(scores, dtype=float)

    def score(self, estimate: PoolEstimate) -> np.ndarray:
        return self.scores

    def select(self, estimate, k, selectable_N, rng):  # type: ignore[no-untyped-def]
        raise NotImplementedError


def _estimate(n: int) -> PoolEstimate:
    return PoolEstimate(probs_N_C=np.full((n, 2), 0.5))


def test_power_first_draw_probabilities_follow_score_power() -> None:
    scores = np.array([1.0, 2.0, 3.0])
    for beta, expected in ((1.0, scores / 6), (2.0, scores**2 / 14), (0.0, np.full(3, 1 / 3))):
        strategy = create_strategy("power", base=FixedScore(scores), beta=beta)
        rng = np.random.default_rng(0)
        firsts = [strategy.select(_estimate(3), 1, np.ones(3, bool), rng)[0] for _ in range(6000)]
        frequencies = np.bincount(firsts, minlength=3) / 6000
        np.testing.assert_allclose(frequencies, expected, atol=0.025)


def test_gumbel_top_k_without_replacement_probabilities() -> None:
    # P(first two draws = (2, 1)) = 3/6 * 2/(1+2) = 1/3 for weights (1, 2, 3)
    log_w = np.log([1.0, 2.0, 3.0])
    rng = np.random.default_rng(1)
    hits = sum(gumbel_top_k(log_w, 2, rng).tolist() == [2, 1] for _ in range(6000))
    assert hits / 6000 == pytest.approx(1 / 3, abs=0.025)


def test_power_large_beta_is_top_k_and_zero_scores_go_last() -> None:
    scores = np.array([0.0, 0.5, 0.9, 0.1, 0.0, 0.7])
    strategy = create_strategy("power", base=FixedScore(scores), beta=200.0)
    picks = strategy.select(_estimate(6), 6, np.ones(6, bool), np.random.default_rng(3))
    np.testing.assert_array_equal(picks[:4], [2, 5, 1, 3])
    assert set(picks[4:].tolist()) == {0, 4}
    # zero-score items are returned in random order among themselves
    orders = {
        tuple(strategy.select(_estimate(6), 6, np.ones(6, bool), np.random.default_rng(s))[4:])
        for s in range(20)
    }
    assert orders == {(0, 4), (4, 0)}


def test_power_rejects_negative_scores() -> None:
    strategy = create_strategy("power", base=FixedScore(np.array([0.1, -0.2])))
    with pytest.raises(ValueError, match="non-negative"):
        strategy.select(_estimate(2), 1, np.ones(2, bool), np.random.default_rng(0))


def test_power_bald_is_seeded_and_spreads(make_estimate: Callable[..., PoolEstimate]) -> None:
    estimate = make_estimate(0, n=40)
    strategy = create_strategy("power", base="bald")
    assert strategy.requires == {"samples"}
    a = strategy.select(estimate, 5, np.ones(40, bool), np.random.default_rng(9))
    b = strategy.select(estimate, 5, np.ones(40, bool), np.random.default_rng(9))
    c = strategy.select(estimate, 5, np.ones(40, bool), np.random.default_rng(10))
    np.testing.assert_array_equal(a, b)
    assert a.tolist() != c.tolist()


# ------------------------------------------------------------------ threshold


def test_threshold_takes_stream_order_and_may_return_fewer() -> None:
    probs = np.array([[0.5, 0.5], [0.99, 0.01], [0.6, 0.4], [0.8, 0.2], [0.55, 0.45]])
    estimate = PoolEstimate(probs_N_C=probs)
    h = entropy(probs)  # 0.693, 0.056, 0.673, 0.500, 0.688
    strategy = create_strategy("threshold", threshold=0.6)
    assert strategy.threshold == 0.6
    assert not strategy.fills_batch
    rng = np.random.default_rng(0)
    np.testing.assert_array_equal(strategy.select(estimate, 10, np.ones(5, bool), rng), [0, 2, 4])
    np.testing.assert_array_equal(strategy.select(estimate, 2, np.ones(5, bool), rng), [0, 2])
    selectable = np.array([False, True, True, True, True])
    np.testing.assert_array_equal(strategy.select(estimate, 10, selectable, rng), [2, 4])
    # strictly above: an item exactly at the threshold is not taken
    strategy.threshold = float(h[3])
    np.testing.assert_array_equal(strategy.select(estimate, 10, np.ones(5, bool), rng), [0, 2, 4])
    strategy.threshold = 1.0
    assert strategy.select(estimate, 10, np.ones(5, bool), rng).size == 0


def test_threshold_normalized_entropy() -> None:
    probs = np.array([[0.25, 0.25, 0.25, 0.25], [0.7, 0.1, 0.1, 0.1], [1.0, 0.0, 0.0, 0.0]])
    strategy = create_strategy("threshold", threshold=0.5, normalize=True)
    scores = strategy.score(PoolEstimate(probs_N_C=probs))
    np.testing.assert_allclose(scores, entropy(probs) / np.log(4))
    picks = strategy.select(
        PoolEstimate(probs_N_C=probs), 3, np.ones(3, bool), np.random.default_rng(0)
    )
    np.testing.assert_array_equal(picks, [0, 1])  # 1.0 and 0.678 > 0.5 > 0


def test_threshold_other_base(make_estimate: Callable[..., PoolEstimate]) -> None:
    estimate = make_estimate(1)
    strategy = create_strategy("threshold", base="bald", threshold=0.0)
    assert strategy.requires == {"samples"}
    picks = strategy.select(estimate, 100, np.ones(12, bool), np.random.default_rng(0))
    from alwidget.strategies import bald

    np.testing.assert_array_equal(picks, np.flatnonzero(bald(estimate.samples_T_N_C) > 0))
