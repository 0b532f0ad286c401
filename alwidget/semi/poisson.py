"""Graph-based semi-supervised learning: Poisson learning and Laplace learning (label propagation).

Both spread the labels of a few items over a kNN graph of the whole pool (see
:mod:`alwidget.semi.graph`), so every unlabelled item gets class scores from the labelled items
it is connected to. Pure functions on arrays: ``weights_N_N`` (scipy sparse), the labelled
positions ``labeled_L`` and their classes ``y_L``; they return scores ``[N, C]``.

*Poisson learning* (Calder, Cook, Thorpe & Slepčev, ICML 2020) solves

    L u = Σ_j δ_j (e_{y_j} − ȳ),      L = D − W,  ȳ the mean one-hot label,

for ``u [N, C]`` with ``Σ_i d_i u_i = 0`` (the solution is unique up to constants). Unlike
Laplace learning, whose solution flattens to a constant between few labels ("degenerates":
16 % on MNIST with one label per class in the paper), its scores stay informative at very low
label rates. The system is solved by conjugate gradients on the symmetric normalised Laplacian.

*Laplace learning* (Zhu, Ghahramani & Lafferty 2003) is the harmonic extension ``L u = 0`` off
the labels with ``u = e_y`` on them; kept for comparison and as a reference point in tests.
"""

from __future__ import annotations

from typing import Optional

import numpy as np

# scipy.sparse is imported inside the functions: importing it costs a few tenths of a second,
# which ``import alwidget`` should not pay

__all__ = ["poisson_learning", "laplace_learning", "scores_to_probs", "block_cg"]


def block_cg(A, B_N_C: np.ndarray, *, tol: float = 1e-6, max_iter: int = 1000) -> np.ndarray:
    """Conjugate gradients for ``A X = B`` with ``C`` right-hand sides at once.

    Each column runs its own CG recursion (its own step sizes), but the matrix products are
    done for all columns together (one sparse matrix–matrix product per iteration instead of
    ``C`` matrix–vector products: about five times faster for ten classes on a 10,000-item
    graph here). ``A`` must be symmetric positive semi-definite and every column of ``B`` in
    its range. Columns stop once ``|r| <= tol * |b|``.
    """
    B = np.asarray(B_N_C, dtype=np.float64)
    X = np.zeros_like(B)
    R = B.copy()
    P = R.copy()
    rs = np.einsum("ij,ij->j", R, R)
    stop = (tol * np.sqrt(rs)) ** 2
    for _ in range(int(max_iter)):
        active = rs > stop  # converged columns take no more steps (alpha = 0)
        if not active.any():
            break
        AP = A @ P
        pap = np.einsum("ij,ij->j", P, AP)
        ok = active & (pap > 0)
        alpha = np.where(ok, rs / np.where(ok, pap, 1.0), 0.0)
        X += P * alpha
        R -= AP * alpha
        rs_new = np.einsum("ij,ij->j", R, R)
        beta = np.where(ok, rs_new / np.maximum(rs, 1e-300), 0.0)
        P = R + P * beta
        rs = np.where(ok, rs_new, 0.0)
    return X


def _check(weights_N_N, labeled_L, y_L, n_classes: int):
    from scipy import sparse

    W = sparse.csr_matrix(weights_N_N, dtype=np.float64)
    n = W.shape[0]
    if W.shape != (n, n):
        raise ValueError(f"weights must be square, got shape {W.shape}")
    labeled_L = np.asarray(labeled_L, dtype=np.int64).ravel()
    y_L = np.asarray(y_L, dtype=np.int64).ravel()
    if len(labeled_L) != len(y_L):
        raise ValueError(f"got {len(labeled_L)} labelled positions but {len(y_L)} labels")
    if len(labeled_L) == 0:
        raise ValueError("graph learning needs at least one labelled item")
    if labeled_L.min() < 0 or labeled_L.max() >= n:
        raise ValueError(f"labelled positions must be in [0, {n - 1}]")
    if len(np.unique(labeled_L)) != len(labeled_L):
        raise ValueError("labelled positions must be distinct")
    if y_L.min() < 0 or y_L.max() >= n_classes:
        raise ValueError(f"labels must be class indices in [0, {n_classes - 1}]")
    return W, labeled_L, y_L


def poisson_learning(weights_N_N, labeled_L, y_L, n_classes: int, *, tol: float = 1e-5,
                     max_iter: int = 1000) -> np.ndarray:
    """Poisson learning scores ``[N, C]`` (higher = more that class); the prediction is the argmax.

    Parameters
    ----------
    weights_N_N : sparse or dense array of shape (N, N)
        Symmetric non-negative weights (diagonal ignored). The equation is solved in each
        connected component with the labels it holds; a class with no label in a component
        scores ``-inf`` there (it is never predicted), and items of a component without any
        label score 0 for every class.
    labeled_L : array of int, shape (L,)
        Distinct positions of the labelled items.
    y_L : array of int, shape (L,)
        Their classes in ``[0, C)``.
    n_classes : int
        ``C``.
    tol, max_iter
        Conjugate-gradient relative tolerance and iteration cap.

    Returns
    -------
    ndarray of float64, shape (N, C)
        Scores with degree-weighted mean zero per class within each labelled component
        (``-inf`` for classes without a label in the item's component).
    """
    from scipy import sparse
    from scipy.sparse.csgraph import connected_components

    W, labeled_L, y_L = _check(weights_N_N, labeled_L, y_L, n_classes)
    n = W.shape[0]
    W = W - sparse.diags(W.diagonal())
    d = np.asarray(W.sum(axis=1)).ravel()
    onehot = np.zeros((len(labeled_L), n_classes))
    onehot[np.arange(len(labeled_L)), y_L] = 1.0
    b = np.zeros((n, n_classes))
    np.add.at(b, labeled_L, onehot - onehot.mean(0))
    u = np.zeros((n, n_classes))
    # per connected component: the source must sum to zero there for L u = b to be solvable,
    # and only the classes labelled in a component can be predicted in it
    n_comp, comp = connected_components(W, directed=False)
    absent = np.zeros((n_comp, n_classes), dtype=bool)
    for c in range(n_comp):
        lab = comp[labeled_L] == c
        if not lab.any():
            b[comp == c] = 0.0
            continue
        absent[c] = np.bincount(y_L[lab], minlength=n_classes) == 0
        if n_comp > 1:
            sub = onehot[lab]
            b[comp == c] = 0.0
            b[labeled_L[lab]] = sub - sub.mean(0)
    live = d > 0
    if not live.any():
        u[absent[comp]] = -np.inf
        return u
    dl = d[live]
    inv_sqrt = 1.0 / np.sqrt(dl)
    Wl = W[live][:, live]
    L_norm = sparse.identity(len(dl), format="csr") - sparse.diags(inv_sqrt) @ Wl @ sparse.diags(inv_sqrt)
    rhs = b[live] * inv_sqrt[:, None]
    out = block_cg(L_norm, rhs, tol=tol, max_iter=max_iter) * inv_sqrt[:, None]
    # fix the free constant per component: degree-weighted mean zero
    if n_comp > 1:
        comp_l = comp[live]
        for c in np.unique(comp_l):
            m = comp_l == c
            out[m] -= (dl[m] @ out[m]) / dl[m].sum()
    else:
        out -= (dl @ out) / dl.sum()
    u[live] = out
    u[absent[comp]] = -np.inf
    return u


def laplace_learning(weights_N_N, labeled_L, y_L, n_classes: int, *, tol: float = 1e-8,
                     max_iter: int = 2000) -> np.ndarray:
    """Laplace learning (harmonic label propagation): scores ``[N, C]`` in ``[0, 1]``.

    ``u`` equals the one-hot label on labelled items and solves ``(L u)_i = 0`` elsewhere,
    i.e. each unlabelled score is the weighted mean of its neighbours'. Items in a component
    without a label get ``1 / C``.
    """
    from scipy import sparse
    from scipy.sparse.csgraph import connected_components
    from scipy.sparse.linalg import cg

    W, labeled_L, y_L = _check(weights_N_N, labeled_L, y_L, n_classes)
    n = W.shape[0]
    W = W - sparse.diags(W.diagonal())
    d = np.asarray(W.sum(axis=1)).ravel()
    u = np.full((n, n_classes), 1.0 / n_classes)
    u[labeled_L] = 0.0
    u[labeled_L, y_L] = 1.0
    free = np.ones(n, dtype=bool)
    free[labeled_L] = False
    n_comp, comp = connected_components(W, directed=False)
    reached = np.isin(comp, np.unique(comp[labeled_L]))
    solve = free & reached & (d > 0)
    if not solve.any():
        return u
    L = sparse.diags(d) - W
    A = L[solve][:, solve].tocsr()
    rhs = (W[solve][:, labeled_L] @ u[labeled_L])
    for c in range(n_classes):
        x, _ = cg(A, rhs[:, c], rtol=tol, maxiter=max_iter)
        u[solve, c] = x
    return u


def scores_to_probs(scores_N_C: np.ndarray, temperature: float = 1.0,
                    scale_C: Optional[np.ndarray] = None) -> np.ndarray:
    """Softmax of graph scores: ``softmax(scale_C * scores / temperature)`` per row, ``[N, C]``.

    Poisson scores are not probabilities; each class's scores are first divided by their
    standard deviation over the items (so classes with few labels are not drowned), then
    multiplied by ``scale_C`` when given, then softmaxed at ``temperature``.
    """
    s = np.asarray(scores_N_C, dtype=np.float64)
    finite = np.isfinite(s)
    if not finite.any(1).all():
        raise ValueError("every row needs at least one finite score")
    filled = np.where(finite, s, 0.0)
    count = np.maximum(finite.sum(0), 1)
    mean = filled.sum(0) / count
    sd = np.sqrt((np.where(finite, s - mean, 0.0) ** 2).sum(0) / count)
    s = np.where(finite, s / np.where(sd > 0, sd, 1.0), -np.inf)
    if scale_C is not None:
        s = s * np.asarray(scale_C, dtype=np.float64)
    z = s / max(float(temperature), 1e-8)
    z -= z.max(1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(1, keepdims=True)
