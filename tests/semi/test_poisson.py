"""Poisson and Laplace learning against hand-computed values and a dense reference solver."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import sparse

from alwidget.semi import laplace_learning, poisson_learning, scores_to_probs

PATH3 = sparse.csr_matrix(np.array([[0, 1, 0], [1, 0, 1], [0, 1, 0]], dtype=float))


def test_poisson_on_a_path_by_hand():
    # L u = b with b_0 = e_0 - ybar = (0.5, -0.5), b_2 = (-0.5, 0.5), d = (1, 2, 1), d.u = 0:
    # u_0 - u_1 = 0.5, u_2 - u_1 = -0.5, u_0 + 2 u_1 + u_2 = 0  =>  u = (0.5, 0, -0.5) for class 0
    u = poisson_learning(PATH3, [0, 2], [0, 1], 2)
    np.testing.assert_allclose(u, [[0.5, -0.5], [0.0, 0.0], [-0.5, 0.5]], atol=1e-8)


def test_laplace_on_a_path_by_hand():
    u = laplace_learning(PATH3, [0, 2], [0, 1], 2)
    np.testing.assert_allclose(u, [[1, 0], [0.5, 0.5], [0, 1]], atol=1e-8)


def _random_graph(seed: int, n: int) -> sparse.csr_matrix:
    rng = np.random.default_rng(seed)
    a = rng.random((n, n)) * (rng.random((n, n)) < 0.2)
    a = np.triu(a, 1)
    ring = np.roll(np.eye(n), 1, axis=1) * 0.5  # a ring keeps it connected
    a = a + np.triu(ring, 1) + np.triu(ring.T, 1)
    a = a + a.T
    return sparse.csr_matrix(a)


def _dense_poisson(W: np.ndarray, lab, y, c: int) -> np.ndarray:
    d = W.sum(1)
    L = np.diag(d) - W
    onehot = np.eye(c)[y]
    b = np.zeros((len(W), c))
    b[lab] = onehot - onehot.mean(0)
    u = np.linalg.pinv(L) @ b
    u = u - (d @ u) / d.sum()
    u[:, np.bincount(y, minlength=c) == 0] = -np.inf  # a class without labels is never predicted
    return u


def _dense_laplace(W: np.ndarray, lab, y, c: int) -> np.ndarray:
    n = len(W)
    d = W.sum(1)
    L = np.diag(d) - W
    free = np.setdiff1d(np.arange(n), lab)
    u = np.zeros((n, c))
    u[lab] = np.eye(c)[y]
    u[free] = np.linalg.solve(L[np.ix_(free, free)], W[np.ix_(free, lab)] @ u[lab])
    return u


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 10_000), n=st.integers(6, 40), c=st.integers(2, 4), m=st.integers(2, 6))
def test_poisson_matches_dense_reference_on_random_graphs(seed, n, c, m):
    W = _random_graph(seed, n)
    rng = np.random.default_rng(seed + 1)
    m = min(m, n)
    lab = rng.choice(n, m, replace=False)
    y = rng.integers(0, c, m)
    np.testing.assert_allclose(poisson_learning(W, lab, y, c, tol=1e-12),
                               _dense_poisson(W.toarray(), lab, y, c), atol=1e-6)
    np.testing.assert_allclose(laplace_learning(W, lab, y, c, tol=1e-12),
                               _dense_laplace(W.toarray(), lab, y, c), atol=1e-6)


def test_component_with_one_labelled_class_predicts_it_everywhere():
    W = sparse.block_diag([PATH3, PATH3]).tocsr()
    u = poisson_learning(W, [0, 2, 4], [0, 1, 1], 2)
    assert np.all(np.isneginf(u[3:, 0]))
    np.testing.assert_array_equal(u[3:].argmax(1), 1)
    p = scores_to_probs(u)
    np.testing.assert_allclose(p[3:], [[0, 1]] * 3)


def test_component_without_labels_gets_no_scores():
    # two paths, labels only on the first
    W = sparse.block_diag([PATH3, PATH3]).tocsr()
    u = poisson_learning(W, [0, 2], [0, 1], 2)
    np.testing.assert_allclose(u[:3], [[0.5, -0.5], [0.0, 0.0], [-0.5, 0.5]], atol=1e-8)
    np.testing.assert_array_equal(u[3:], 0.0)
    lap = laplace_learning(W, [0, 2], [0, 1], 2)
    np.testing.assert_allclose(lap[3:], 0.5)


def test_poisson_keeps_scores_informative_with_one_label_per_class():
    # two dense clusters joined by one weak edge; one label each: every item goes to its cluster
    rng = np.random.default_rng(0)
    a = np.zeros((20, 20))
    for lo in (0, 10):
        blk = rng.random((10, 10)) + 0.5
        a[lo:lo + 10, lo:lo + 10] = np.triu(blk, 1)
    a[9, 10] = 0.01
    a = a + a.T
    u = poisson_learning(sparse.csr_matrix(a), [0, 19], [0, 1], 2)
    np.testing.assert_array_equal(u.argmax(1), [0] * 10 + [1] * 10)


def test_bad_arguments_say_what_is_wrong():
    with pytest.raises(ValueError, match="at least one labelled"):
        poisson_learning(PATH3, [], [], 2)
    with pytest.raises(ValueError, match="distinct"):
        poisson_learning(PATH3, [0, 0], [0, 1], 2)
    with pytest.raises(ValueError, match="class indices"):
        poisson_learning(PATH3, [0], [3], 2)
    with pytest.raises(ValueError, match="positions must be in"):
        laplace_learning(PATH3, [5], [0], 2)


def test_scores_to_probs_rows_sum_to_one_and_keep_the_argmax_order():
    s = np.array([[1.0, -1.0], [0.2, 0.1], [-2.0, 2.0]])
    p = scores_to_probs(s, temperature=0.5)
    np.testing.assert_allclose(p.sum(1), 1.0)
    np.testing.assert_array_equal(p.argmax(1), [0, 0, 1])
    # by hand: per-class std of column 0 is std([1, .2, -2]); softmax of the standardised row / T
    z = s / s.std(0) / 0.5
    e = np.exp(z - z.max(1, keepdims=True))
    np.testing.assert_allclose(p, e / e.sum(1, keepdims=True))


# ---------------------------------------------------------------- the cached system, many folds, warm starts
def _two_components(seed: int) -> sparse.csr_matrix:
    a, b = _random_graph(seed, 30).toarray(), _random_graph(seed + 1, 20).toarray()
    w = np.zeros((52, 52))  # and two isolated items (degree 0)
    w[:30, :30], w[30:50, 30:50] = a, b
    return sparse.csr_matrix(w)


def test_solve_many_equals_separate_solves():
    from alwidget.semi.poisson import PoissonSystem

    W = _two_components(3)
    rng = np.random.default_rng(0)
    problems = []
    for _ in range(5):
        lab = rng.choice(50, size=12, replace=False)
        problems.append((lab, rng.integers(0, 3, size=12)))
    problems.append((np.array([0, 1]), np.array([0, 1])))  # the second component has no label
    system = PoissonSystem(W)
    together = list(system.solve_many(problems, 3, tol=1e-10))
    assert len(together) == len(problems)
    for (lab, y), u in zip(problems, together):
        np.testing.assert_allclose(u, poisson_learning(W, lab, y, 3, tol=1e-10), atol=1e-7)
    dense = _dense_poisson(W.toarray()[:30, :30], [0, 1], [0, 1], 3)
    np.testing.assert_allclose(together[-1][:30], dense, atol=1e-6)  # by the dense reference
    assert np.all(together[-1][30:] == 0)  # no label in that component, nor on isolated items


def test_solve_many_checks_every_problem_before_solving():
    from alwidget.semi.poisson import PoissonSystem

    system = PoissonSystem(PATH3)
    with pytest.raises(ValueError, match="distinct"):
        system.solve_many([([0, 2], [0, 1]), ([0, 0], [0, 1])], 2)


def test_a_graph_keeps_its_system():
    from alwidget.semi import knn_graph

    g = knn_graph(np.random.default_rng(0).normal(size=(60, 4)), k=5)
    assert g.poisson() is g.poisson()


class _Counting:
    """Counts the products conjugate gradients take."""

    def __init__(self, A):
        self.A, self.n = A, 0

    def __matmul__(self, X):
        self.n += 1
        return self.A @ X


def test_two_level_preconditioner_gives_the_same_scores_in_fewer_iterations(monkeypatch):
    """Digits' kNN graph, plus a copy of it as a second component that gets no label: with the
    k-means clusters as the coarse level, conjugate gradients take far fewer products and the
    scores equal the plain solve's (and stay exactly 0 in the unlabelled component)."""
    from sklearn.datasets import load_digits

    from alwidget.semi import knn_graph
    from alwidget.semi import poisson as P
    from alwidget.semi.graph import coarse_clusters

    x, y = load_digits(return_X_y=True)
    g = knn_graph(x.astype(np.float32), coarse=True)
    assert g.clusters_N is not None and g.clusters_N.shape == (len(y),) and g.clusters_N.max() + 1 == 17
    W = sparse.block_diag([g.weights_N_N, g.weights_N_N]).tocsr()
    clusters = np.concatenate([g.clusters_N, g.clusters_N])  # each cluster spans both components
    plain, two = P.PoissonSystem(W), P.PoissonSystem(W, clusters)
    assert two.n_coarse == 2 * 17 and plain.precondition is None
    plain.operator, two.operator = _Counting(plain.operator), _Counting(two.operator)
    lab = np.random.default_rng(0).choice(len(y), 40, replace=False)
    u_plain = plain.solve(lab, y[lab], 10, tol=1e-8)
    u_two = two.solve(lab, y[lab], 10, tol=1e-8)
    assert two.operator.n < 0.6 * plain.operator.n, (two.operator.n, plain.operator.n)
    finite = np.isfinite(u_plain)
    assert (np.isfinite(u_two) == finite).all()
    np.testing.assert_allclose(u_two[finite], u_plain[finite], atol=1e-5 * np.abs(u_plain[finite]).max())
    assert (u_two[len(y):] == 0).all()  # the copy has no label
    with pytest.raises(ValueError, match="one entry per item"):
        P.PoissonSystem(W, clusters[:10])
    # 500 isolated pairs beside the digits, each in a cluster of its own: whole components, which
    # the coarse level leaves out (their vectors are in the null space)
    pairs = sparse.block_diag([sparse.csr_matrix(np.array([[0.0, 1.0], [1.0, 0.0]]))] * 500)
    W2 = sparse.block_diag([g.weights_N_N, pairs]).tocsr()
    c2 = np.concatenate([g.clusters_N, 17 + np.repeat(np.arange(500), 2)])
    s2 = P.PoissonSystem(W2, c2)
    assert s2.n_coarse == 17 and s2.n_components == 501
    np.testing.assert_allclose(s2.solve(lab, y[lab], 10, tol=1e-8)[:len(y)][finite[:len(y)]],
                               u_plain[:len(y)][finite[:len(y)]], atol=1e-5 * np.abs(u_plain[finite]).max())
    # every item its own cluster: 1,797 coarse vectors, over a cap of 1,000: no coarse level
    monkeypatch.setattr(P, "MAX_COARSE", 1000)
    assert P.PoissonSystem(W2, np.arange(len(c2))).precondition is None
    assert coarse_clusters(x[:250]).max() + 1 == 2  # at least two clusters, about 100 items each


def test_float32_and_torch_solves_match_float64_on_digits():
    """The fast cycle's system (float32 on torch's kernels, ``KNNGraph.poisson()``) and a float32
    numpy one against the float64 reference on digits' graph with its coarse level: the same
    scores to 1e-4 of their range, the same predicted class everywhere, about as many products;
    torch in float64 gives the reference's scores to rounding. ``block_cg`` keeps float32 in
    float32, numpy arrays numpy and tensors tensors."""
    import torch
    from sklearn.datasets import load_digits

    from alwidget.semi import knn_graph
    from alwidget.semi import poisson as P

    x, y = load_digits(return_X_y=True)
    g = knn_graph(x.astype(np.float32), coarse=True)
    s64 = P.PoissonSystem(g.weights_N_N, g.clusters_N)
    fast = g.poisson()
    assert fast.dtype == np.float32 and fast.backend == "torch" and fast.operator.dtype == torch.float32
    others = {"fast": fast, "numpy f32": P.PoissonSystem(g.weights_N_N, g.clusters_N, dtype=np.float32),
              "torch f64": P.PoissonSystem(g.weights_N_N, g.clusters_N, backend="torch")}
    s64.operator = _Counting(s64.operator)
    lab = np.random.default_rng(1).choice(len(y), 30, replace=False)
    u64 = s64.solve(lab, y[lab], 10, tol=1e-5)
    finite = np.isfinite(u64)
    for name, system in others.items():
        system.operator = _Counting(system.operator)
        u = system.solve(lab, y[lab], 10, tol=1e-5)
        assert u.dtype == np.float64, name  # scores are float64 whatever the solve ran in
        np.testing.assert_allclose(u[finite], u64[finite], atol=1e-4 * np.abs(u64[finite]).max(), err_msg=name)
        assert (u.argmax(1) == u64.argmax(1)).all(), name
        assert abs(system.operator.n - s64.operator.n) <= 3, (name, system.operator.n, s64.operator.n)
    tight = P.PoissonSystem(g.weights_N_N, g.clusters_N).solve(lab, y[lab], 10, tol=1e-10)
    tight_torch = others["torch f64"].solve(lab, y[lab], 10, tol=1e-10)
    np.testing.assert_allclose(tight_torch[finite], tight[finite], atol=1e-9 * np.abs(tight[finite]).max())
    B = np.random.default_rng(0).standard_normal((4, 2)).astype(np.float32)
    A = np.diag([1.0, 2.0, 3.0, 4.0]).astype(np.float32)
    X = P.block_cg(A, B, tol=1e-6)
    assert X.dtype == np.float32
    np.testing.assert_allclose(X, B / np.diag(A)[:, None], rtol=1e-5)
    Xt = P.block_cg(torch.from_numpy(A), torch.from_numpy(B), tol=1e-6)
    assert isinstance(Xt, torch.Tensor) and Xt.dtype == torch.float32
    np.testing.assert_allclose(Xt.numpy(), X, rtol=1e-6)
    with pytest.raises(ValueError, match="float32 or float64"):
        P.PoissonSystem(PATH3, dtype=np.int32)
    with pytest.raises(ValueError, match="backend"):
        P.PoissonSystem(PATH3, backend="cupy")


def test_propagation_stops_at_its_tolerance_with_the_same_predictions(monkeypatch):
    """``propagate`` solves to ``PROPAGATION_TOL`` (1e-3), not 1e-5: on digits with 40 labels the
    predicted classes agree with a 1e-8 solve on at least 99.5 % of the items, in fewer products."""
    from sklearn.datasets import load_digits

    import importlib

    from alwidget.semi import knn_graph

    prop = importlib.import_module("alwidget.semi.propagate")  # the module (the package exports the function)
    assert prop.PROPAGATION_TOL == 1e-3
    x, y = load_digits(return_X_y=True)
    g = knn_graph(x.astype(np.float32), coarse=True)
    lab = np.random.default_rng(2).choice(len(y), 40, replace=False)
    counting = _Counting(g.poisson().operator)
    g.poisson().operator = counting
    fast = prop.propagate(g, lab, y[lab], 10)
    n_fast, counting.n = counting.n, 0
    monkeypatch.setattr(prop, "PROPAGATION_TOL", 1e-5)
    prop.propagate(g, lab, y[lab], 10)
    n_default, counting.n = counting.n, 0
    monkeypatch.setattr(prop, "PROPAGATION_TOL", 1e-8)
    tight = prop.propagate(g, lab, y[lab], 10)
    assert (fast.argmax(1) == tight.argmax(1)).mean() >= 0.995
    assert np.abs(fast - tight).max() < 0.05
    assert n_fast < n_default < counting.n, (n_fast, n_default, counting.n)
