"""Class priors from the labels, probabilities that follow them, and propagation with priors:
hand-computed values and properties."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import sparse

from alwidget.semi import propagate
from alwidget.semi.graph import KNNGraph
from alwidget.semi.priors import estimate_priors, prior_weights, reweight


def test_priors_from_the_validation_set_with_add_one_smoothing():
    # 20 validation labels (>= 2 per class for 3 classes): 14, 4, 2 -> (15, 5, 3) / 23
    y_v = np.array([0] * 14 + [1] * 4 + [2] * 2)
    y_t = np.array([2] * 50)  # actively chosen labels are ignored once the validation set suffices
    np.testing.assert_allclose(estimate_priors(y_v, y_t, 3), np.array([15, 5, 3]) / 23)


def test_priors_from_every_label_while_the_validation_set_is_small():
    # 3 validation labels < 2 x 3 classes: every label counts, (1 + 1, 2 + 1, 0 + 1) + smoothing
    np.testing.assert_allclose(estimate_priors([0, 1], [1], 3), np.array([2, 3, 1]) / 6)


def test_prior_weights_by_hand_on_undecided_rows():
    # every row (0.5, 0.5) and priors (0.75, 0.25): normalize(p * w) = prior needs w0 / w1 = 3;
    # with geometric mean 1, w = (sqrt 3, 1 / sqrt 3)
    w = prior_weights(np.full((4, 2), 0.5), np.array([0.75, 0.25]))
    np.testing.assert_allclose(w, [np.sqrt(3), 1 / np.sqrt(3)], rtol=1e-6)
    np.testing.assert_allclose(reweight(np.full((4, 2), 0.5), w), np.tile([0.75, 0.25], (4, 1)), rtol=1e-6)


def test_uniform_priors_leave_balanced_beliefs_alone():
    p = np.array([[0.9, 0.1], [0.1, 0.9], [0.6, 0.4], [0.4, 0.6]])
    w = prior_weights(p, np.array([0.5, 0.5]))
    np.testing.assert_allclose(w, [1.0, 1.0], atol=1e-9)


@settings(max_examples=40, deadline=None)
@given(st.integers(0, 10_000), st.integers(2, 6), st.integers(5, 60))
def test_reweighted_rows_average_to_the_priors(seed, c, n):
    rng = np.random.default_rng(seed)
    p = rng.dirichlet(np.ones(c), size=n)
    prior = rng.dirichlet(np.ones(c) * 2) * 0.9 + 0.1 / c
    q = reweight(p, prior_weights(p, prior, iters=2000, tol=1e-9))
    np.testing.assert_allclose(q.sum(1), 1.0, atol=1e-12)
    np.testing.assert_allclose(q.mean(0), prior, atol=1e-5)
    # reweighting never changes the order of two classes' probabilities in a row by more than the weights' ratio
    assert np.all(np.isfinite(q)) and q.min() >= 0


def _star(n_free: int) -> KNNGraph:
    """Labelled hubs 0 (class 0) and 1 (class 1); every free node linked to both with weight 1."""
    n = n_free + 2
    rows, cols = [], []
    for i in range(2, n):
        rows += [i, i, 0, 1]
        cols += [0, 1, i, i]
    w = sparse.csr_matrix((np.ones(len(rows)), (rows, cols)), shape=(n, n))
    return KNNGraph(w, np.zeros((n, 1), dtype=np.int64), np.zeros((n, 1), dtype=np.float32), 1)


def test_propagation_follows_the_priors_by_hand():
    # by symmetry every free node is undecided, (0.5, 0.5), without priors; with priors
    # (0.8, 0.2) the free rows must average to them, and being equal, each is (0.8, 0.2)
    graph = _star(6)
    plain = propagate(graph, [0, 1], [0, 1], 2)
    np.testing.assert_allclose(plain[2:], 0.5, atol=1e-9)
    tilted = propagate(graph, [0, 1], [0, 1], 2, prior_C=np.array([0.8, 0.2]))
    np.testing.assert_allclose(tilted[2:], np.tile([0.8, 0.2], (6, 1)), atol=1e-6)
    np.testing.assert_allclose(tilted[:2], np.eye(2))  # labelled items keep their labels


def test_bad_priors_are_refused():
    with pytest.raises(ValueError, match="positive and sum to 1"):
        prior_weights(np.full((2, 2), 0.5), np.array([1.0, 0.0]))
    with pytest.raises(ValueError, match=r"probs must be \[N, 3\]"):
        prior_weights(np.full((2, 2), 0.5), np.ones(3) / 3)


@settings(max_examples=30, deadline=None)
@given(st.integers(0, 10_000), st.integers(2, 8), st.integers(1, 80))
def test_reweighted_sum_equals_the_sum_of_reweighted_rows(seed, c, n):
    """The EM loops' two matrix-vector products give ``reweight(p, w).sum(0)``."""
    from alwidget.semi.priors import _reweighted_sum

    rng = np.random.default_rng(seed)
    p = rng.dirichlet(np.ones(c) * 0.5, size=n)
    w = rng.uniform(0.01, 100.0, size=c)
    np.testing.assert_allclose(_reweighted_sum(p, w), reweight(p, w).sum(0), rtol=1e-10, atol=1e-12)
