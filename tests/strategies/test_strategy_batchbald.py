"""BatchBALD: hand-computed cases and an explicit enumeration of joint configurations."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from alwidget.strategies import PoolEstimate, bald, create_strategy
from alwidget.strategies.batchbald import (
    batchbald_batch,
    conditional_entropy,
    exact_joint_entropy,
)


def enumerated_joint_entropy(samples_T_n_C: np.ndarray) -> float:
    """H[y_1..y_n] by listing every configuration with itertools.product (reference)."""
    t, n, c = samples_T_n_C.shape
    total = 0.0
    for config in itertools.product(range(c), repeat=n):
        p = sum(math.prod(samples_T_n_C[s, i, config[i]] for i in range(n)) for s in range(t)) / t
        if p > 0:
            total -= p * math.log(p)
    return total


def enumerated_batchbald(samples_T_N_C: np.ndarray, batch: list) -> float:
    """a(B) = H[y_B] - sum_i mean_t H[p_t(y_i)], by enumeration."""
    sub = samples_T_N_C[:, batch, :]
    cond = 0.0
    for i in range(len(batch)):
        for s in range(sub.shape[0]):
            cond -= sum(p * math.log(p) for p in sub[s, i] if p > 0) / sub.shape[0]
    return enumerated_joint_entropy(sub) - cond


def random_samples(seed: int, t: int, n: int, c: int, concentration: float = 0.7) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return rng.dirichlet(np.full(c, concentration), size=(t, n))


# --------------------------------------------------------------- hand-made cases


def test_batch_of_one_is_bald_top_one(golden_samples: np.ndarray) -> None:
    result = batchbald_batch(golden_samples, 1)
    np.testing.assert_array_equal(result.indices, [0])
    np.testing.assert_allclose(result.scores, [0.1820496041], atol=1e-9)
    for seed in range(5):
        samples = random_samples(seed, t=8, n=30, c=4)
        result = batchbald_batch(samples, 1)
        assert result.indices[0] == int(np.argmax(bald(samples)))
        np.testing.assert_allclose(result.scores[0], bald(samples).max(), atol=1e-12)


def test_duplicate_item_is_not_picked_twice() -> None:
    item = [[0.7, 0.2, 0.1], [0.6, 0.3, 0.1], [0.8, 0.1, 0.1], [0.1, 0.8, 0.1]]
    # a different item: the samples disagree at t=0 instead of t=3, a little less sharply
    other = [[0.25, 0.1, 0.65], [0.7, 0.2, 0.1], [0.6, 0.3, 0.1], [0.8, 0.1, 0.1]]
    quiet = [[0.4, 0.3, 0.3]] * 4
    samples = np.array([item, item, other, quiet]).transpose(1, 0, 2)  # (T=4, N=4, C=3)
    scores = bald(samples)
    assert scores[0] == scores[1] > scores[2] > scores[3] == 0
    np.testing.assert_array_equal(np.argsort(-scores, kind="stable")[:2], [0, 1])  # top-k BALD
    # hand check by enumeration: the pair (0, 2) is worth more than the duplicate pair
    assert enumerated_batchbald(samples, [0, 2]) > enumerated_batchbald(samples, [0, 1])
    for lazy in (True, False):
        result = batchbald_batch(samples, 2, lazy=lazy)
        np.testing.assert_array_equal(result.indices, [0, 2])
        np.testing.assert_allclose(
            result.scores,
            [enumerated_batchbald(samples, [0]), enumerated_batchbald(samples, [0, 2])],
            atol=1e-9,
        )
    # a duplicate adds no information beyond the first copy only if samples are one-hot;
    # here it adds a little, so with nothing else informative it is still picked
    assert list(batchbald_batch(samples[:, [0, 1, 3]], 2).indices) == [0, 1]


def test_deterministic_items_add_nothing() -> None:
    samples = np.array([[[1.0, 0.0], [0.5, 0.5]], [[1.0, 0.0], [0.5, 0.5]]])
    result = batchbald_batch(samples, 2)
    np.testing.assert_allclose(result.scores, [0.0, 0.0], atol=1e-12)
    np.testing.assert_array_equal(result.indices, [0, 1])  # all ties: lowest index first


def test_candidates_restrict_the_batch() -> None:
    samples = random_samples(3, t=6, n=12, c=3)
    candidates = np.array([1, 4, 5, 8, 11])
    result = batchbald_batch(samples, 3, candidates)
    assert set(result.indices.tolist()) <= set(candidates.tolist())
    assert len(set(result.indices.tolist())) == 3


def test_strategy_uses_selectable_mask() -> None:
    samples = random_samples(4, t=6, n=10, c=3)
    estimate = PoolEstimate(probs_N_C=samples.mean(axis=0), samples_T_N_C=samples)
    selectable = np.ones(10, bool)
    selectable[int(np.argmax(bald(samples)))] = False
    picks = create_strategy("batchbald").select(estimate, 3, selectable, np.random.default_rng(0))
    assert np.all(selectable[picks])
    expected = batchbald_batch(samples, 3, np.flatnonzero(selectable)).indices
    np.testing.assert_array_equal(picks, expected)


# ------------------------------------------------------- reference: enumeration


@settings(max_examples=40, deadline=None)
@given(
    st.integers(0, 10_000),
    st.integers(1, 4),
    st.integers(1, 3),
    st.integers(2, 3),
)
def test_exact_joint_entropy_matches_enumeration(seed: int, t: int, n: int, c: int) -> None:
    samples = random_samples(seed, t, n, c)
    assert exact_joint_entropy(samples) == pytest.approx(
        enumerated_joint_entropy(samples), abs=1e-12
    )


@settings(max_examples=25, deadline=None)
@given(
    st.integers(0, 10_000),
    st.integers(1, 5),
    st.integers(3, 7),
    st.integers(2, 3),
    st.booleans(),
)
def test_greedy_batch_matches_enumeration(seed: int, t: int, n: int, c: int, lazy: bool) -> None:
    """Each pick maximises the enumerated BatchBALD value given the earlier picks."""
    samples = random_samples(seed, t, n, c)
    batch_size = min(3, n)
    result = batchbald_batch(samples, batch_size, lazy=lazy)
    assert len(set(result.indices.tolist())) == batch_size
    picked: list = []
    for step, index in enumerate(result.indices.tolist()):
        values = {
            j: enumerated_batchbald(samples, picked + [j]) for j in range(n) if j not in picked
        }
        assert values[index] == pytest.approx(max(values.values()), abs=1e-9)
        assert result.scores[step] == pytest.approx(values[index], abs=1e-9)
        picked.append(index)


@settings(max_examples=20, deadline=None)
@given(st.integers(0, 10_000), st.integers(2, 6), st.integers(6, 20), st.integers(2, 4))
def test_lazy_equals_full_evaluation_for_exact_joint(seed: int, t: int, n: int, c: int) -> None:
    samples = random_samples(seed, t, n, c)
    lazy = batchbald_batch(samples, 4, lazy=True)
    full = batchbald_batch(samples, 4, lazy=False)
    np.testing.assert_array_equal(lazy.indices, full.indices)
    np.testing.assert_allclose(lazy.scores, full.scores, atol=1e-12)


# ----------------------------------------------------------- sampled joint


def test_sampled_joint_approximates_exact() -> None:
    samples = random_samples(7, t=8, n=10, c=3)
    exact = batchbald_batch(samples, 4, lazy=False)
    # force sampling from the second pick on (C^2 = 9 > 3), with many configurations
    sampled = batchbald_batch(
        samples,
        4,
        max_exact_configurations=3,
        num_samples=40_000,
        rng=np.random.default_rng(1),
        lazy=False,
    )
    np.testing.assert_array_equal(sampled.indices, exact.indices)
    np.testing.assert_allclose(sampled.scores, exact.scores, atol=0.02)
    np.testing.assert_allclose(sampled.scores[0], exact.scores[0], atol=1e-12)  # one pick: exact


def test_sampled_joint_is_seeded_and_survives_long_batches() -> None:
    samples = random_samples(8, t=10, n=60, c=10, concentration=0.3).astype(np.float32)
    # 200 joint samples left the last score 0.33 off log T for this seed (0.07 and 0.30 for
    # seeds 6 and 7): too noisy for the bound; with 4,000 all three are within 0.15
    first = batchbald_batch(samples, 25, num_samples=4000, rng=np.random.default_rng(5))
    second = batchbald_batch(samples, 25, num_samples=4000, rng=np.random.default_rng(5))
    np.testing.assert_array_equal(first.indices, second.indices)
    assert np.all(np.isfinite(first.scores))
    # with T = 10 very different samples, a long batch identifies the sample: the
    # information saturates at H[w] = log T (the greedy max over noisy estimates may
    # overshoot it slightly)
    assert abs(first.scores[-1] - math.log(10)) < 0.3
    assert len(set(first.indices.tolist())) == 25


def test_conditional_entropy_golden(golden_samples: np.ndarray) -> None:
    probs = golden_samples.mean(axis=0)
    entropy_of_mean = -(probs * np.log(probs)).sum(axis=1)
    np.testing.assert_allclose(
        entropy_of_mean - conditional_entropy(golden_samples), [0.1820496041, 0.0], atol=1e-9
    )
