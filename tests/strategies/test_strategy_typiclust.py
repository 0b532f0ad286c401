"""TypiClust and the budget-aware default: hand-made pools with a known answer."""

from __future__ import annotations

import numpy as np
import pytest

from alwidget.strategies import PoolEstimate, create_strategy, typicality


def test_typicality_by_hand():
    # 1-NN distances of 0, 1, 3 on a line: 1, 1, 2 -> typicality 1, 1, 0.5
    np.testing.assert_allclose(typicality(np.array([[0.0], [1.0], [3.0]]), n_neighbors=1), [1, 1, 0.5])
    np.testing.assert_allclose(typicality(np.array([[0.0], [1.0], [3.0]]), n_neighbors=5), [1 / 2, 1 / 1.5, 1 / 2.5])
    assert typicality(np.zeros((1, 2))).tolist() == [1.0]


def _blobs():
    rng = np.random.default_rng(0)
    centres = np.array([[0.0, 0.0], [10.0, 0.0], [0.0, 10.0]])
    pts = [c + rng.normal(0, 1.0, (30, 2)) for c in centres]
    for b, c in enumerate(centres):
        pts[b][0] = c  # one item exactly at each centre: the most typical of its blob
    return np.concatenate(pts)


def test_picks_the_typical_item_of_each_uncovered_cluster():
    x = _blobs()
    labeled = np.zeros(90, bool)
    labeled[5] = True  # blob 0 is covered
    est = PoolEstimate(probs_N_C=np.full((90, 3), 1 / 3), features_N_D=x, labeled_N=labeled)
    picked = create_strategy("typiclust").select(est, 2, ~labeled, np.random.default_rng(0))
    # three clusters (1 label + 2 picks): the uncovered blobs 1 and 2 give one item each, and it is
    # a central one (the exact centre or one of its nearest neighbours)
    blobs = sorted(int(p) // 30 for p in picked)
    assert blobs == [1, 2]
    for p in picked:
        centre = x[int(p) // 30 * 30]
        assert np.linalg.norm(x[p] - centre) < 0.8


def test_cold_start_covers_every_blob():
    x = _blobs()
    est = PoolEstimate(probs_N_C=np.full((90, 3), 1 / 3), features_N_D=x)
    picked = create_strategy("typiclust").select(est, 3, np.ones(90, bool), np.random.default_rng(1))
    assert sorted(int(p) // 30 for p in picked) == [0, 1, 2]


def test_large_clusters_are_sampled_and_still_give_central_items():
    """Past ``max_kmeans_points`` k-means fits on a sample and assigns every point; past
    ``max_typicality_points`` typicality is computed within a sample of the cluster (both seeded):
    the picks still cover every blob with a central item, the same for the same seed."""
    rng = np.random.default_rng(0)
    centres = np.array([[0.0, 0.0], [10.0, 0.0], [0.0, 10.0]])
    x = np.concatenate([c + rng.normal(0, 1.0, (400, 2)) for c in centres])
    est = PoolEstimate(probs_N_C=np.full((1200, 3), 1 / 3), features_N_D=x)
    small = create_strategy("typiclust", max_kmeans_points=300, max_typicality_points=100)
    picked = small.select(est, 3, np.ones(1200, bool), np.random.default_rng(1))
    assert sorted(int(p) // 400 for p in picked) == [0, 1, 2]
    assert all(np.linalg.norm(x[p] - centres[int(p) // 400]) < 0.8 for p in picked)
    again = small.select(est, 3, np.ones(1200, bool), np.random.default_rng(1))
    assert picked.tolist() == again.tolist()
    assert "max_kmeans_points=300" in repr(small)


def test_a_large_pool_is_never_copied_whole_to_float64():
    """Past ``max_kmeans_points`` rows become float64 as they are read (the same picks as a
    float64 copy of the whole pool, which is 1 GB of 128-d features at a million items)."""
    import tracemalloc

    rng = np.random.default_rng(0)
    n = 200_000
    x = (rng.normal(size=(n, 32)) + rng.integers(0, 6, size=(n, 1)) * 4).astype(np.float32)
    est = PoolEstimate(probs_N_C=np.full((n, 2), 0.5, dtype=np.float32), features_N_D=x)
    strategy = create_strategy("typiclust", max_kmeans_points=5000, max_typicality_points=500)
    tracemalloc.start()
    try:
        picked = strategy.select(est, 6, np.ones(n, bool), np.random.default_rng(1))
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < n * 32 * 8 / 2, f"peak {peak / 2**20:.0f} MB: a float64 copy of the pool is {n * 32 * 8 / 2**20:.0f} MB"
    as64 = PoolEstimate(probs_N_C=est.probs_N_C, features_N_D=x.astype(np.float64))
    assert picked.tolist() == strategy.select(as64, 6, np.ones(n, bool), np.random.default_rng(1)).tolist()


def test_budget_aware_switches_when_the_classes_are_covered():
    x = _blobs()
    probs = np.full((90, 3), 0.1)
    probs[:, 0] = 0.8
    probs[30:60] = [0.1, 0.8, 0.1]
    probs[60:] = [0.1, 0.1, 0.8]
    probs[[7, 40, 70]] = [0.34, 0.33, 0.33]  # the least sure items, one per blob
    labeled = np.zeros(90, bool)
    labeled[[0, 1, 30, 31, 60]] = True  # 5 < 3 per class x 3 classes
    strategy = create_strategy("budget_aware")
    est = PoolEstimate(probs_N_C=probs, features_N_D=x, labeled_N=labeled)
    rule, why = strategy.rule(est)
    assert rule == "typiclust" and "5 training labels < 9" in why
    rng = lambda: np.random.default_rng(0)
    np.testing.assert_array_equal(strategy.select(est, 2, ~labeled, rng()),
                                  create_strategy("typiclust").select(est, 2, ~labeled, rng()))
    labeled[[2, 3, 32, 33, 61, 62, 63]] = True  # 12 labels, every class has some
    est = PoolEstimate(probs_N_C=probs, features_N_D=x, labeled_N=labeled)
    rule, why = strategy.rule(est)
    assert rule == "badge" and "every class covered" in why  # the default second phase: uncertain and diverse
    np.testing.assert_array_equal(strategy.select(est, 3, ~labeled, rng()),
                                  create_strategy("badge").select(est, 3, ~labeled, rng()))
    by_margin = create_strategy("budget_aware", high="margin")
    assert by_margin.rule(est)[0] == "margin"
    assert sorted(by_margin.select(est, 3, ~labeled, rng()).tolist()) == [7, 40, 70]
    # a class without any label keeps the low-budget rule
    labeled[60:64] = False
    labeled[[4, 5, 6, 8, 34]] = True
    rule, why = strategy.rule(PoolEstimate(probs_N_C=probs, features_N_D=x, labeled_N=labeled))
    assert rule == "typiclust" and "1 class(es)" in why


def test_budget_aware_counts_the_labels_not_the_models_guesses():
    """Labelled items of a rare class that the model predicts as the common one still cover it."""
    x = _blobs()
    probs = np.full((90, 3), 0.1)
    probs[:, 0] = 0.8  # the model predicts class 0 everywhere, labelled items included
    labeled = np.zeros(90, bool)
    labeled[[0, 1, 2, 3, 30, 31, 32, 60, 61, 62]] = True
    labels = np.full(90, -1)
    labels[labeled] = np.arange(90)[labeled] // 30
    strategy = create_strategy("budget_aware")
    guessed = strategy.rule(PoolEstimate(probs_N_C=probs, features_N_D=x, labeled_N=labeled))
    assert guessed[0] == "typiclust" and "2 class(es)" in guessed[1]
    rule, why = strategy.rule(PoolEstimate(probs_N_C=probs, features_N_D=x, labeled_N=labeled, labels_N=labels))
    assert rule == "badge" and "every class covered" in why
    labels[60:63] = 1  # no label of class 2: keep covering
    labels_only = PoolEstimate(probs_N_C=probs, features_N_D=x, labeled_N=labeled, labels_N=labels)
    assert strategy.rule(labels_only)[0] == "typiclust"


def test_budget_aware_stops_covering_after_max_per_class():
    """A class typical points never find does not keep the low-budget rule forever: at 6 labels
    per class on average (18 for 3 classes) the second phase starts anyway, and says why."""
    x = _blobs()
    probs = np.full((90, 3), 1 / 3)
    labels = np.full(90, -1)
    labels[:17] = 0  # 17 labels, all of class 0
    est = lambda lab: PoolEstimate(probs_N_C=probs, features_N_D=x, labeled_N=lab >= 0, labels_N=lab)
    assert create_strategy("budget_aware").rule(est(labels))[0] == "typiclust"
    labels[30] = 1  # 18 labels, class 2 still has none
    rule, why = create_strategy("budget_aware").rule(est(labels))
    assert rule == "badge" and "18 training labels ≥ 18" in why and "1 class(es) still uncovered" in why
    assert create_strategy("budget_aware", max_per_class=None).rule(est(labels))[0] == "typiclust"
    assert create_strategy("budget_aware", max_per_class=7).rule(est(labels))[0] == "typiclust"
    with pytest.raises(ValueError, match="max_per_class"):
        create_strategy("budget_aware", max_per_class=0)


def test_parameters_are_validated():
    with pytest.raises(ValueError, match="switch_per_class"):
        create_strategy("budget_aware", switch_per_class=0)
    with pytest.raises(ValueError, match="n_neighbors"):
        create_strategy("typiclust", n_neighbors=0)
