"""Per-item scores: golden values, edge cases and reference implementations."""

from __future__ import annotations

import math
import statistics
from collections import Counter

import numpy as np
import pytest
import scipy.stats
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from alwidget.strategies import (
    bald,
    consensus_kl,
    edl_vacuity,
    entropy,
    least_confidence,
    margin,
    margin_of,
    max_probability,
    mean_std,
    normalized_entropy,
    variation_ratios,
    vote_entropy,
)

TOL = 1e-9


# --------------------------------------------------------------------------- golden


def test_golden_bald(golden_samples: np.ndarray) -> None:
    np.testing.assert_allclose(bald(golden_samples), [0.1820496041, 0.0], atol=TOL)


def test_golden_entropy_of_mean(golden_samples: np.ndarray) -> None:
    probs = golden_samples.mean(axis=0)
    np.testing.assert_allclose(entropy(probs), [0.9265066033, 1.0888999753], atol=TOL)


def test_golden_margin_of_mean(golden_samples: np.ndarray) -> None:
    probs = golden_samples.mean(axis=0)
    np.testing.assert_allclose(margin_of(probs), [0.2, 0.1], atol=TOL)
    np.testing.assert_allclose(margin(probs), [0.8, 0.9], atol=TOL)


def test_golden_max_probability(golden_samples: np.ndarray) -> None:
    probs = golden_samples.mean(axis=0)
    np.testing.assert_allclose(max_probability(probs), [0.55, 0.4], atol=TOL)
    np.testing.assert_allclose(least_confidence(probs), [0.45, 0.6], atol=TOL)


def test_golden_mean_std(golden_samples: np.ndarray) -> None:
    np.testing.assert_allclose(mean_std(golden_samples), [0.1795054936, 0.0], atol=TOL)


def test_golden_committee_scores(golden_samples: np.ndarray) -> None:
    # item 0: votes (0, 0, 0, 1) -> variation ratio 1 - 3/4, vote entropy H(3/4, 1/4)
    expected_vote_entropy = -(0.75 * math.log(0.75) + 0.25 * math.log(0.25))
    np.testing.assert_allclose(variation_ratios(golden_samples), [0.25, 0.0], atol=TOL)
    np.testing.assert_allclose(vote_entropy(golden_samples), [expected_vote_entropy, 0.0], atol=TOL)
    # mean KL to the consensus equals BALD (generalised Jensen-Shannon divergence)
    np.testing.assert_allclose(consensus_kl(golden_samples), [0.1820496041, 0.0], atol=TOL)


def test_golden_edl_vacuity_relu_evidence() -> None:
    logits = np.array([[2.0, -1.0, 0.0]])
    alpha = np.maximum(logits, 0.0) + 1.0  # ReLU evidence + 1
    np.testing.assert_array_equal(alpha, [[3.0, 1.0, 1.0]])
    np.testing.assert_allclose(edl_vacuity(alpha), [0.6], atol=TOL)


# --------------------------------------------------------------------------- edges


def test_exact_zeros_give_no_nan() -> None:
    probs = np.array([[1.0, 0.0, 0.0], [0.5, 0.5, 0.0], [0.0, 0.0, 1.0]])
    samples = np.stack([probs, probs[::-1], probs])
    for values in (
        entropy(probs),
        normalized_entropy(probs),
        margin(probs),
        least_confidence(probs),
        bald(samples),
        consensus_kl(samples),
        vote_entropy(samples),
        variation_ratios(samples),
        mean_std(samples),
    ):
        assert np.all(np.isfinite(values))
    np.testing.assert_allclose(entropy(probs), [0.0, math.log(2), 0.0], atol=TOL)
    np.testing.assert_allclose(normalized_entropy(probs), [0.0, math.log(2) / math.log(3), 0.0])


def test_uniform_maximises_entropy_and_scores() -> None:
    probs = np.full((1, 4), 0.25)
    np.testing.assert_allclose(entropy(probs), [math.log(4)])
    np.testing.assert_allclose(normalized_entropy(probs), [1.0])
    np.testing.assert_allclose(margin(probs), [1.0])
    np.testing.assert_allclose(least_confidence(probs), [0.75])


def test_single_class_is_certain() -> None:
    probs = np.ones((3, 1))
    np.testing.assert_allclose(entropy(probs), 0.0)
    np.testing.assert_allclose(normalized_entropy(probs), 0.0)
    np.testing.assert_allclose(margin_of(probs), 1.0)
    np.testing.assert_allclose(least_confidence(probs), 0.0)


def test_single_sample_has_no_epistemic_uncertainty() -> None:
    samples = np.array([[[0.2, 0.8], [0.5, 0.5]]])
    np.testing.assert_allclose(bald(samples), 0.0, atol=TOL)
    np.testing.assert_allclose(mean_std(samples), 0.0)
    np.testing.assert_allclose(variation_ratios(samples), 0.0)


def test_empty_pool_returns_empty() -> None:
    assert entropy(np.zeros((0, 3))).shape == (0,)
    assert bald(np.zeros((2, 0, 3))).shape == (0,)


def test_wrong_rank_is_rejected() -> None:
    with pytest.raises(ValueError, match="probs_N_C"):
        entropy(np.ones(3))
    with pytest.raises(ValueError, match="samples_T_N_C"):
        bald(np.ones((3, 2)))


def test_scores_return_float64_for_float32_input(golden_samples: np.ndarray) -> None:
    values = bald(golden_samples.astype(np.float32))
    assert values.dtype == np.float64
    np.testing.assert_allclose(values, [0.1820496041, 0.0], atol=1e-6)


# ---------------------------------------------------------------- hypothesis refs


@st.composite
def prob_rows(draw: st.DrawFn, shape: tuple) -> np.ndarray:
    """Probability vectors along the last axis, often with exact zeros."""
    raw = draw(
        arrays(
            np.float64,
            shape,
            elements=st.one_of(st.just(0.0), st.floats(0.0, 1.0, allow_subnormal=False)),
        )
    )
    sums = raw.sum(axis=-1, keepdims=True)
    raw = np.where(sums > 0, raw, 1.0)  # an all-zero row becomes uniform
    return raw / raw.sum(axis=-1, keepdims=True)


@st.composite
def probs_N_C(draw: st.DrawFn) -> np.ndarray:
    n = draw(st.integers(1, 6))
    c = draw(st.integers(1, 5))
    return draw(prob_rows((n, c)))


@st.composite
def samples_T_N_C(draw: st.DrawFn) -> np.ndarray:
    t = draw(st.integers(1, 5))
    n = draw(st.integers(1, 4))
    c = draw(st.integers(1, 4))
    return draw(prob_rows((t, n, c)))


def _entropy_loop(p: list) -> float:
    return -sum(x * math.log(x) for x in p if x > 0)


@settings(max_examples=60, deadline=None)
@given(probs_N_C())
def test_entropy_matches_scipy(probs: np.ndarray) -> None:
    expected = [scipy.stats.entropy(row) for row in probs]
    np.testing.assert_allclose(entropy(probs), expected, atol=1e-12)


@settings(max_examples=60, deadline=None)
@given(probs_N_C())
def test_confidence_and_margin_match_sorted_rows(probs: np.ndarray) -> None:
    rows = [sorted(row.tolist(), reverse=True) + [0.0] for row in probs]
    np.testing.assert_allclose(max_probability(probs), [r[0] for r in rows], atol=1e-15)
    np.testing.assert_allclose(least_confidence(probs), [1 - r[0] for r in rows], atol=1e-15)
    np.testing.assert_allclose(margin_of(probs), [r[0] - r[1] for r in rows], atol=1e-15)
    np.testing.assert_allclose(margin(probs), [1 - (r[0] - r[1]) for r in rows], atol=1e-15)


@settings(max_examples=60, deadline=None)
@given(samples_T_N_C())
def test_bald_matches_explicit_loop(samples: np.ndarray) -> None:
    t, n, c = samples.shape
    expected = []
    for i in range(n):
        mean = [sum(samples[s, i, k] for s in range(t)) / t for k in range(c)]
        expected_entropy = sum(_entropy_loop(samples[s, i].tolist()) for s in range(t)) / t
        expected.append(_entropy_loop(mean) - expected_entropy)
    np.testing.assert_allclose(bald(samples), np.maximum(expected, 0.0), atol=1e-12)


@settings(max_examples=60, deadline=None)
@given(samples_T_N_C())
def test_consensus_kl_matches_scipy_and_equals_bald(samples: np.ndarray) -> None:
    t, n, _ = samples.shape
    expected = []
    for i in range(n):
        consensus = samples[:, i].mean(axis=0)
        expected.append(np.mean([scipy.stats.entropy(samples[s, i], consensus) for s in range(t)]))
    np.testing.assert_allclose(consensus_kl(samples), expected, atol=1e-12)
    np.testing.assert_allclose(consensus_kl(samples), bald(samples), atol=1e-12)


@settings(max_examples=60, deadline=None)
@given(samples_T_N_C())
def test_vote_scores_match_counter(samples: np.ndarray) -> None:
    t, n, _ = samples.shape
    ratios, entropies = [], []
    for i in range(n):
        votes = Counter(int(np.argmax(samples[s, i])) for s in range(t))
        ratios.append(1.0 - votes.most_common(1)[0][1] / t)
        entropies.append(scipy.stats.entropy(list(votes.values())))
    np.testing.assert_allclose(variation_ratios(samples), ratios, atol=1e-12)
    np.testing.assert_allclose(vote_entropy(samples), entropies, atol=1e-12)


@settings(max_examples=60, deadline=None)
@given(samples_T_N_C())
def test_mean_std_matches_pstdev(samples: np.ndarray) -> None:
    t, n, c = samples.shape
    expected = [
        sum(statistics.pstdev(samples[:, i, k].tolist()) for k in range(c)) / c for i in range(n)
    ]
    np.testing.assert_allclose(mean_std(samples), expected, atol=1e-12)


@settings(max_examples=60, deadline=None)
@given(
    arrays(
        np.float64,
        st.tuples(st.integers(1, 5), st.integers(1, 5)),
        elements=st.floats(0.01, 100.0),
    )
)
def test_edl_vacuity_matches_definition(alpha: np.ndarray) -> None:
    expected = [alpha.shape[1] / sum(row) for row in alpha.tolist()]
    np.testing.assert_allclose(edl_vacuity(alpha), expected, rtol=1e-12)


@settings(max_examples=60, deadline=None)
@given(samples_T_N_C())
def test_score_ranges(samples: np.ndarray) -> None:
    t, _, c = samples.shape
    probs = samples.mean(axis=0)
    assert np.all(entropy(probs) <= math.log(c) + 1e-12)
    assert np.all((normalized_entropy(probs) >= -1e-12) & (normalized_entropy(probs) <= 1 + 1e-12))
    assert np.all(bald(samples) >= 0) and np.all(bald(samples) <= entropy(probs) + 1e-12)
    assert np.all((mean_std(samples) >= 0) & (mean_std(samples) <= 0.5 + 1e-12))
    assert np.all(variation_ratios(samples) <= 1 - 1 / min(t, c) + 1e-12)
