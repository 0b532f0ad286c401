"""Core-set (greedy k-center) and BADGE (k-means++ on gradient embeddings)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from alwidget.strategies import PoolEstimate, create_strategy
from alwidget.strategies.badge import (
    badge_kmeanspp,
    gradient_embedding_factors,
    gradient_sq_distances,
)
from alwidget.strategies.coreset import k_center_greedy, min_sq_distances

# ------------------------------------------------------------------ core-set


def test_coreset_hand_example() -> None:
    #            L=(0,0)  A=(1,0)  B=(10,0)  C=(10,1)  D=(0,5)
    features = np.array([[0, 0], [1, 0], [10, 0], [10, 1], [0, 5]], dtype=float)
    estimate = PoolEstimate(probs_N_C=np.full((5, 2), 0.5), features_N_D=features)
    selectable = np.array([False, True, True, True, True])
    # squared distances to L: A 1, B 100, C 101, D 25            -> pick C
    # after C: A min(1, 82) = 1, B min(100, 1) = 1, D min(25, 116) -> pick D
    # after D: A min(1, 26) = 1, B min(1, 125) = 1: tie            -> lower index, A
    picks = create_strategy("coreset").select(estimate, 3, selectable, np.random.default_rng(0))
    np.testing.assert_array_equal(picks, [3, 4, 1])


def explicit_k_center(features: np.ndarray, k: int, selectable: np.ndarray) -> list:
    """Reference: full N x N distance matrix, centres = non-selectable items."""
    diff = features[:, None, :] - features[None, :, :]
    dist2 = (diff**2).sum(axis=-1)
    centres = list(np.flatnonzero(~selectable))
    picks: list = []
    for _ in range(k):
        best, best_d = -1, -1.0
        for i in np.flatnonzero(selectable):
            if i in picks:
                continue
            d = min(dist2[i, c] for c in centres + picks)
            if d > best_d:
                best, best_d = int(i), d
        picks.append(best)
    return picks


@settings(max_examples=40, deadline=None)
@given(
    arrays(
        np.int64, st.tuples(st.integers(2, 14), st.integers(1, 3)), elements=st.integers(-20, 20)
    ),
    st.data(),
)
def test_coreset_matches_explicit_k_center(points: np.ndarray, data: st.DataObject) -> None:
    n = points.shape[0]
    selectable = np.array(data.draw(st.lists(st.booleans(), min_size=n, max_size=n)))
    selectable[0] = False  # at least one initial centre: no random first pick
    if not selectable.any():
        selectable[-1] = True
    k = data.draw(st.integers(1, int(selectable.sum())))
    features = points.astype(np.float64)  # integer coordinates: exact arithmetic, exact ties
    estimate = PoolEstimate(probs_N_C=np.full((n, 2), 0.5), features_N_D=features)
    picks = create_strategy("coreset").select(estimate, k, selectable, np.random.default_rng(0))
    assert picks.tolist() == explicit_k_center(features, k, selectable)


def test_coreset_cold_start_first_pick_from_rng() -> None:
    rng = np.random.default_rng(0)
    features = rng.normal(size=(30, 4))
    estimate = PoolEstimate(probs_N_C=np.full((30, 2), 0.5), features_N_D=features)
    selectable = np.ones(30, bool)
    firsts = set()
    for seed in range(8):
        picks = create_strategy("coreset").select(
            estimate, 5, selectable, np.random.default_rng(seed)
        )
        firsts.add(int(picks[0]))
        # after the first pick, the rest is the deterministic k-center continuation
        mask = selectable.copy()
        mask[picks[0]] = False
        rest = k_center_greedy(features, 4, np.flatnonzero(mask), picks[:1])
        np.testing.assert_array_equal(picks[1:], rest)
    assert len(firsts) > 1


def test_min_sq_distances_chunking_is_exact() -> None:
    rng = np.random.default_rng(1)
    points, centres = rng.normal(size=(37, 6)), rng.normal(size=(11, 6))
    explicit = ((points[:, None] - centres[None]) ** 2).sum(-1).min(axis=1)
    for chunk in (1, 7, 50, 10_000):
        np.testing.assert_allclose(min_sq_distances(points, centres, chunk), explicit, atol=1e-10)
    assert np.all(np.isinf(min_sq_distances(points, centres[:0])))


def test_coreset_float32_agrees_with_float64() -> None:
    rng = np.random.default_rng(2)
    features = rng.normal(size=(200, 8))
    selectable = np.ones(200, bool)
    selectable[:10] = False
    picks = []
    for dtype in (np.float64, np.float32):
        est = PoolEstimate(probs_N_C=np.full((200, 2), 0.5), features_N_D=features.astype(dtype))
        picks.append(
            create_strategy("coreset").select(est, 10, selectable, np.random.default_rng(0))
        )
    np.testing.assert_array_equal(picks[0], picks[1])


def test_coreset_in_place_and_copied_layouts_agree() -> None:
    rng = np.random.default_rng(5)
    features = rng.normal(size=(80, 6))
    centres = np.arange(0, 80, 7)
    candidates = np.setdiff1d(np.arange(80), centres)  # most of the pool: in-place path
    in_place = k_center_greedy(features, 12, candidates, centres)
    copied = k_center_greedy(np.asfortranarray(features), 12, candidates, centres)
    np.testing.assert_array_equal(in_place, copied)
    cold_a = k_center_greedy(features, 5, candidates, centres[:0], np.random.default_rng(1))
    cold_b = k_center_greedy(
        np.asfortranarray(features), 5, candidates, centres[:0], np.random.default_rng(1)
    )
    np.testing.assert_array_equal(cold_a, cold_b)


# --------------------------------------------------------------------- BADGE


def test_gradient_factor_hand_example() -> None:
    np.testing.assert_allclose(
        gradient_embedding_factors(np.array([[0.7, 0.2, 0.1], [0.3, 0.3, 0.4]])),
        [[-0.3, 0.2, 0.1], [0.3, 0.3, -0.6]],
        atol=1e-15,
    )


@settings(max_examples=50, deadline=None)
@given(st.integers(0, 10_000), st.integers(1, 8), st.integers(1, 5), st.integers(1, 6))
def test_factorised_distance_equals_explicit(seed: int, n: int, c: int, d: int) -> None:
    rng = np.random.default_rng(seed)
    probs = rng.dirichlet(np.ones(c), size=n)
    a = gradient_embedding_factors(probs)
    h = rng.normal(size=(n, d))
    g = np.einsum("nc,nd->ncd", a, h).reshape(n, c * d)  # explicit gradient embeddings
    explicit = ((g[:, None, :] - g[None, :, :]) ** 2).sum(axis=-1)
    np.testing.assert_allclose(gradient_sq_distances(a, h, a, h), explicit, atol=1e-10)


def explicit_badge(
    probs: np.ndarray, features: np.ndarray, k: int, rng: np.random.Generator
) -> list:
    """Reference k-means++ on the explicit N x (C*D) gradient embeddings (Ash et al.)."""
    onehot = np.eye(probs.shape[1])[probs.argmax(axis=1)]
    g = np.einsum("nc,nd->ncd", probs - onehot, features).reshape(len(probs), -1)
    picks = [int(np.argmax(np.linalg.norm(g, axis=1)))]
    while len(picks) < k:
        d2 = np.min(((g[:, None, :] - g[None, picks, :]) ** 2).sum(-1), axis=1)
        d2[picks] = 0.0
        picks.append(int(rng.choice(len(g), p=d2 / d2.sum())))
    return picks


@pytest.mark.parametrize("seed", range(6))
def test_badge_matches_explicit_kmeanspp(seed: int) -> None:
    rng = np.random.default_rng(seed)
    n, c, d = 25, 4, 3
    probs = rng.dirichlet(np.ones(c), size=n)
    features = rng.normal(size=(n, d))
    estimate = PoolEstimate(probs_N_C=probs, features_N_D=features)
    picks = create_strategy("badge").select(
        estimate, 6, np.ones(n, bool), np.random.default_rng(seed)
    )
    assert picks.tolist() == explicit_badge(probs, features, 6, np.random.default_rng(seed))


def test_badge_first_pick_is_largest_gradient_norm() -> None:
    probs = np.array([[0.9, 0.1], [0.5, 0.5], [0.6, 0.4], [0.99, 0.01]])
    features = np.array([[1.0, 0.0], [1.0, 0.0], [3.0, 0.0], [100.0, 0.0]])
    # ||g||² = ||a||² ||h||²: 0.02, 0.5, 0.32·9 = 2.88, 0.0002·10^4 = 2
    a, h = gradient_embedding_factors(probs), features
    np.testing.assert_allclose(
        np.diag(gradient_sq_distances(a, h, np.zeros_like(a), h)),
        [0.02, 0.5, 2.88, 2.0],
        atol=1e-12,
    )
    assert badge_kmeanspp(a, h, 1, np.random.default_rng(0))[0] == 2


def test_badge_duplicates_fall_back_to_uniform() -> None:
    probs = np.tile([[0.6, 0.4]], (5, 1))
    features = np.ones((5, 3))
    picks = badge_kmeanspp(gradient_embedding_factors(probs), features, 5, np.random.default_rng(0))
    assert sorted(picks.tolist()) == [0, 1, 2, 3, 4]
    assert picks[0] == 0


def test_badge_respects_selectable() -> None:
    rng = np.random.default_rng(3)
    probs = rng.dirichlet(np.ones(3), size=40)
    est = PoolEstimate(probs_N_C=probs, features_N_D=rng.normal(size=(40, 4)))
    selectable = rng.random(40) < 0.5
    picks = create_strategy("badge").select(est, 8, selectable, np.random.default_rng(0))
    assert np.all(selectable[picks]) and len(set(picks.tolist())) == 8


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_badge_reads_the_pools_features_in_place_with_the_same_picks(dtype) -> None:
    """``rows_n``: the candidates' rows of the whole feature array, not a copy of them; the
    picks are those of the copy (float64 and float32), and BADGE's select allocates no copy of
    the features (tracemalloc: under a tenth of their size beyond the factors)."""
    import tracemalloc

    rng = np.random.default_rng(5)
    n, d, c = 20_000, 64, 10
    feats = rng.normal(size=(n, d)).astype(dtype)
    probs = rng.dirichlet(np.ones(c), size=n)
    selectable = rng.random(n) < 0.9
    rows = np.flatnonzero(selectable)
    a = gradient_embedding_factors(probs[rows]).astype(dtype)
    copied = badge_kmeanspp(a, np.ascontiguousarray(feats[rows]), 15, np.random.default_rng(1))
    in_place = badge_kmeanspp(a, feats, 15, np.random.default_rng(1), rows_n=rows)
    np.testing.assert_array_equal(in_place, copied)
    est = PoolEstimate(probs_N_C=probs, features_N_D=feats)
    tracemalloc.start()
    picks = create_strategy("badge").select(est, 15, selectable, np.random.default_rng(1))
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    np.testing.assert_array_equal(picks, rows[copied])
    # the factors in the features' precision, and one block of 52,428 rows (all 18,000 here) of
    # probabilities and factors in float64 with its cast
    factors = len(rows) * c * (8 + 8 + 2 * np.dtype(dtype).itemsize)
    assert peak < factors + feats.nbytes / 10, (peak, feats.nbytes)
    from alwidget.strategies import badge as badge_module

    badge_module.FACTOR_CHUNK_ELEMENTS = 10_000  # blocks of 1,000 rows: the same picks, a smaller peak
    try:
        tracemalloc.start()
        blocked = create_strategy("badge").select(est, 15, selectable, np.random.default_rng(1))
        small = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    finally:
        badge_module.FACTOR_CHUNK_ELEMENTS = 1 << 19
    np.testing.assert_array_equal(blocked, picks)
    # the float64 copies of every candidate's row are gone: 2 × 18,000 × 10 × 8 B = 2.9 MB less at most
    assert small < peak - len(rows) * c * 8, (small, peak)
