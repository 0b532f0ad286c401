"""The kNN graph: hand-computed weights, symmetry, duplicates and bad input."""

from __future__ import annotations

import math

import numpy as np
import pytest

from alwidget.semi import knn_graph, neighbor_weights, propagate, pseudo_labels


def test_one_neighbour_weights_by_hand():
    # points 0, 1, 3 on a line, k = 1: 0->1 (d 1), 1->0 (d 1), 3->1 (d 2); each directed weight is
    # exp(-4 (d / d_1)^2) = exp(-4); symmetrised: (0,1) = exp(-4), (1,2) = exp(-4) / 2
    g = knn_graph(np.array([[0.0], [1.0], [3.0]]), k=1)
    W = g.weights_N_N.toarray()
    e = math.exp(-4)
    np.testing.assert_allclose(W, [[0, e, 0], [e, 0, e / 2], [0, e / 2, 0]], rtol=1e-6)
    np.testing.assert_array_equal(g.neighbors_N_K.ravel(), [1, 0, 1])


def test_graph_is_symmetric_without_self_loops():
    x = np.random.default_rng(0).normal(size=(200, 5))
    g = knn_graph(x, k=7)
    W = g.weights_N_N
    assert abs(W - W.T).max() < 1e-12
    assert np.all(W.diagonal() == 0)
    assert np.all(g.neighbors_N_K != np.arange(200)[:, None])
    assert g.neighbors_N_K.shape == (200, 7)
    assert np.all(np.diff(g.distances_N_K, axis=1) >= 0)


def test_duplicate_points_are_not_their_own_neighbours():
    x = np.repeat(np.array([[0.0, 0.0], [5.0, 5.0]]), 6, axis=0)
    g = knn_graph(x, k=3)
    assert np.all(g.neighbors_N_K != np.arange(12)[:, None])
    assert np.all(np.isfinite(g.weights_N_N.data))
    # each item's neighbours are its duplicates
    assert np.all((g.neighbors_N_K < 6) == (np.arange(12) < 6)[:, None])


def test_too_few_items_or_broken_features_are_refused():
    with pytest.raises(ValueError, match="at least 4 items"):
        knn_graph(np.zeros((3, 2)), k=3)
    with pytest.raises(ValueError, match="NaN"):
        knn_graph(np.array([[0.0], [np.nan], [1.0], [2.0]]), k=2)


def test_neighbor_weights_rows_sum_to_one():
    w = neighbor_weights(np.array([[0.0, 1.0, 2.0], [1.0, 1.0, 1.0]]))
    np.testing.assert_allclose(w.sum(1), 1.0)
    assert w[0, 0] > w[0, 1] > w[0, 2]
    np.testing.assert_allclose(w[1], 1 / 3)


def test_propagation_recovers_two_clusters_and_pseudo_labels_pick_the_sure_ones():
    rng = np.random.default_rng(1)
    x = np.concatenate([rng.normal(0, 0.3, (50, 2)), rng.normal(4, 0.3, (50, 2))])
    g = knn_graph(x, k=8)
    for method in ("poisson", "laplace"):
        p = propagate(g, [0, 99], [0, 1], 2, method=method)
        np.testing.assert_allclose(p.sum(1), 1.0)
        np.testing.assert_array_equal(p.argmax(1), [0] * 50 + [1] * 50)
        np.testing.assert_array_equal(p[[0, 99]], [[1, 0], [0, 1]])
    cand = np.ones(100, bool)
    cand[[0, 99]] = False
    pos, y = pseudo_labels(p, cand, 0.5)
    assert len(pos) == 48  # floor(0.5 * 49) per predicted class
    np.testing.assert_array_equal(y, (pos >= 50).astype(int))
    assert not set(pos.tolist()) & {0, 99}
    assert len(pseudo_labels(p, cand, 0.0)[0]) == 0
    with pytest.raises(ValueError, match="fraction"):
        pseudo_labels(p, cand, 1.5)
    with pytest.raises(ValueError, match="propagation"):
        propagate(g, [0], [0], 2, method="spread")


def test_the_hnsw_graph_agrees_with_the_exact_one():
    """hnswlib's approximate neighbours (used above EXACT_UP_TO items) on clustered features:
    at least 98 % of the exact edges, and the same weights where they agree."""
    from alwidget.semi.graph import EXACT_UP_TO

    rng = np.random.default_rng(0)
    x = (rng.normal(0, 1, (20, 16))[rng.integers(0, 20, 3000)] + rng.normal(0, 0.5, (3000, 16))).astype(np.float32)
    exact = knn_graph(x, k=10, method="exact")
    approx = knn_graph(x, k=10, method="hnsw")
    recall = np.mean([len(set(a) & set(e)) / 10 for a, e in zip(approx.neighbors_N_K, exact.neighbors_N_K)])
    assert recall >= 0.98
    same = approx.neighbors_N_K == exact.neighbors_N_K
    np.testing.assert_allclose(approx.distances_N_K[same], exact.distances_N_K[same], rtol=1e-4, atol=1e-5)
    assert EXACT_UP_TO >= 10_000
    with pytest.raises(ValueError, match="method"):
        knn_graph(x, method="annoy")
