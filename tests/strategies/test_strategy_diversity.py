"""Entropy − α·redundancy and k-means cold-start diversity."""

from __future__ import annotations

import dataclasses
from typing import Callable

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from alwidget.strategies import PoolEstimate, create_strategy, entropy
from alwidget.strategies.entropy_redundancy import mean_cosine_redundancy

# -------------------------------------------------------- entropy − α·redundancy


def test_redundancy_hand_example() -> None:
    features = np.array([[1.0, 0.0], [2.0, 0.0], [0.0, 3.0], [0.0, 0.0]])
    # cos: (0,1) = 1, (0,2) = 0, (1,2) = 0; the zero vector has cosine 0 with everything
    redundancy = mean_cosine_redundancy(features, np.arange(4))
    np.testing.assert_allclose(redundancy, [1 / 3, 1 / 3, 0.0, 0.0], atol=1e-15)
    # reference sample {0, 2}: item 0 only sees item 2, item 2 only sees item 0
    redundancy = mean_cosine_redundancy(features, np.array([0, 2]))
    np.testing.assert_allclose(redundancy, [0.0, 0.5, 0.0, 0.0], atol=1e-15)


def explicit_redundancy(features: np.ndarray, reference: np.ndarray) -> np.ndarray:
    out = []
    for i, f in enumerate(features):
        sims = []
        for j in reference:
            if j == i:
                continue
            g = features[j]
            denom = np.linalg.norm(f) * np.linalg.norm(g)
            sims.append(float(f @ g / denom) if denom > 0 else 0.0)
        out.append(np.mean(sims) if sims else 0.0)
    return np.array(out)


@settings(max_examples=40, deadline=None)
@given(st.integers(0, 10_000), st.integers(1, 15), st.integers(1, 4), st.data())
def test_redundancy_matches_explicit(seed: int, n: int, d: int, data: st.DataObject) -> None:
    rng = np.random.default_rng(seed)
    features = rng.normal(size=(n, d))
    features[rng.random(n) < 0.2] = 0.0
    m = data.draw(st.integers(1, n))
    reference = np.sort(rng.choice(n, m, replace=False))
    np.testing.assert_allclose(
        mean_cosine_redundancy(features, reference),
        explicit_redundancy(features, reference),
        atol=1e-12,
    )


def test_entropy_redundancy_uses_m_reference_items(
    make_estimate: Callable[..., PoolEstimate],
) -> None:
    estimate = make_estimate(4, n=30)
    strategy = create_strategy("entropy_redundancy", alpha=2.0, n_reference=5)
    picks = strategy.select(estimate, 4, np.ones(30, bool), np.random.default_rng(7))
    reference = np.sort(np.random.default_rng(7).choice(30, 5, replace=False))
    expected_scores = entropy(estimate.probs_N_C) - 2.0 * explicit_redundancy(
        estimate.features_N_D, reference
    )
    np.testing.assert_array_equal(picks, np.argsort(-expected_scores, kind="stable")[:4])
    # score() uses default_rng(0) for its reference sample
    reference0 = np.sort(np.random.default_rng(0).choice(30, 5, replace=False))
    np.testing.assert_allclose(
        strategy.score(estimate),
        entropy(estimate.probs_N_C) - 2.0 * explicit_redundancy(estimate.features_N_D, reference0),
        atol=1e-12,
    )


def test_greedy_variant_skips_near_duplicates() -> None:
    probs = np.array([[0.5, 0.5], [0.5, 0.5], [0.6, 0.4], [0.9, 0.1]])
    features = np.array([[1.0, 0.0], [1.0, 0.01], [0.0, 1.0], [-1.0, 0.0]])
    estimate = PoolEstimate(probs_N_C=probs, features_N_D=features)
    rng = np.random.default_rng(0)
    plain = create_strategy("entropy_redundancy", alpha=0.1)
    greedy = create_strategy("entropy_redundancy", alpha=0.1, greedy=True)
    assert plain.select(estimate, 2, np.ones(4, bool), rng).tolist() == [0, 1]
    assert greedy.select(estimate, 2, np.ones(4, bool), rng).tolist() == [0, 2]
    # alpha = 0: plain entropy ranking
    zero = create_strategy("entropy_redundancy", alpha=0.0, greedy=True)
    assert zero.select(estimate, 4, np.ones(4, bool), rng).tolist() == [0, 1, 2, 3]


# ------------------------------------------------------------------- k-means


def test_kmeans_picks_one_per_blob() -> None:
    rng = np.random.default_rng(0)
    centres = np.array([[0.0, 0.0], [20.0, 0.0], [0.0, 20.0]])
    sizes = [30, 20, 10]
    features = np.concatenate(
        [c + rng.normal(size=(s, 2)) for c, s in zip(centres, sizes, strict=True)]
    )
    blob = np.repeat([0, 1, 2], sizes)
    estimate = PoolEstimate(probs_N_C=np.full((60, 2), 0.5), features_N_D=features)
    picks = create_strategy("kmeans").select(
        estimate, 3, np.ones(60, bool), np.random.default_rng(1)
    )
    # largest cluster first; each pick is the member nearest its cluster's mean
    assert blob[picks].tolist() == [0, 1, 2]
    for b, pick in zip(range(3), picks, strict=True):
        members = np.flatnonzero(blob == b)
        mean = features[members].mean(axis=0)
        assert pick == members[np.argmin(((features[members] - mean) ** 2).sum(axis=1))]


def test_kmeans_without_features_is_a_clear_error() -> None:
    estimate = PoolEstimate(probs_N_C=np.full((5, 2), 0.5))
    with pytest.raises(ValueError, match=r"'kmeans' needs pool features \(features_N_D\)"):
        create_strategy("kmeans").select(estimate, 2, np.ones(5, bool), np.random.default_rng(0))


def test_kmeans_duplicate_points_still_distinct(make_estimate: Callable[..., PoolEstimate]) -> None:
    estimate = dataclasses.replace(make_estimate(0), features_N_D=np.zeros((12, 3)))
    picks = create_strategy("kmeans").select(
        estimate, 4, np.ones(12, bool), np.random.default_rng(0)
    )
    assert len(set(picks.tolist())) == 4


def test_kmeans_minibatch_path(make_estimate: Callable[..., PoolEstimate]) -> None:
    estimate = make_estimate(1, n=300)
    strategy = create_strategy("kmeans", minibatch_above=100)
    a = strategy.select(estimate, 5, np.ones(300, bool), np.random.default_rng(2))
    b = strategy.select(estimate, 5, np.ones(300, bool), np.random.default_rng(2))
    np.testing.assert_array_equal(a, b)
    assert len(set(a.tolist())) == 5
