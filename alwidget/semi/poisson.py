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
label rates. The system is solved by conjugate gradients on the symmetric normalised Laplacian;
on graphs of :data:`~alwidget.semi.graph.COARSE_FROM` items or more a two-level preconditioner on
k-means clusters cuts the iterations three- to fivefold (:class:`PoissonSystem`).

*Laplace learning* (Zhu, Ghahramani & Lafferty 2003) is the harmonic extension ``L u = 0`` off
the labels with ``u = e_y`` on them; kept for comparison and as a reference point in tests.
"""

from __future__ import annotations

from typing import Callable, Iterator, Optional, Sequence, Tuple

import numpy as np

# scipy.sparse is imported inside the functions: importing it costs a few tenths of a second,
# which ``import alwidget`` should not pay

__all__ = ["PoissonSystem", "poisson_learning", "laplace_learning", "scores_to_probs", "block_cg"]


def block_cg(A, B_N_C, *, tol: float = 1e-6, max_iter: int = 1000,
             precondition: Optional[Callable] = None):
    """(Preconditioned) conjugate gradients for ``A X = B`` with ``C`` right-hand sides at once.

    Each column runs its own CG recursion (its own step sizes), but the matrix products are
    done for all columns together (one sparse matrix–matrix product per iteration instead of
    ``C`` matrix–vector products: about five times faster for ten classes on a 10,000-item
    graph here). ``A`` must be symmetric positive semi-definite and every column of ``B`` in
    its range; ``precondition(R_N_C)``, if given, applies a symmetric positive definite
    ``M⁻¹`` to every column. Columns stop once ``|r| <= tol * |b|`` (the unpreconditioned
    residual). (Starting from the previous cycle's solution was tried: it saved 2-12 % of the
    iterations after a batch of new labels, see BENCHMARKS.md, and was not kept.)

    ``B`` is a numpy array (``A`` then a scipy sparse or numpy matrix) or a torch tensor (``A`` a
    torch sparse or dense tensor: torch's kernels use every thread torch is allowed, which
    numpy's sparse product does not). float32 is solved in float32 (``A`` and ``precondition``
    then work in float32 too: half the memory traffic of every iteration, which is what an
    iteration costs), everything else in float64; the column inner products are accumulated
    in float64 either way. The vectors are updated in place: an iteration allocates only what
    ``A @ P`` and ``precondition`` return.

    Returns
    -------
    ndarray or Tensor of shape (N, C)
        ``X``, of ``B``'s kind; float32 for a float32 ``B``, else float64.
    """
    ops = _TorchOps() if type(B_N_C).__module__.startswith("torch") else _NumpyOps()
    B = ops.prepare(B_N_C)
    X = ops.zeros_like(B)
    R = ops.copy(B)
    Z = R if precondition is None else precondition(R)
    P = ops.copy(Z)
    tmp = ops.empty_like(B)
    rr = ops.dots(R, R)
    rz = rr if precondition is None else ops.dots(R, Z)
    stop = tol * tol * rr
    for _ in range(int(max_iter)):
        active = rr > stop  # converged columns take no more steps (alpha = 0)
        if not active.any():
            break
        AP = A @ P
        pap = ops.dots(P, AP)
        ok = active & (pap > 0)
        alpha = ops.small(np.where(ok, rz / np.where(ok, pap, 1.0), 0.0), B)
        X += ops.multiply(P, alpha, tmp)
        R -= ops.multiply(AP, alpha, tmp)
        rr_new = ops.dots(R, R)
        if precondition is None:
            Z, rz_new = R, rr_new
        else:
            Z = precondition(R)
            rz_new = ops.dots(R, Z)
        beta = ops.small(np.where(ok, rz_new / np.maximum(rz, 1e-300), 0.0), B)
        P *= beta
        P += Z
        rr = np.where(ok, rr_new, 0.0)
        rz = np.where(ok, rz_new, 0.0)
    return X


class _NumpyOps:
    """:func:`block_cg`'s large-array operations on numpy arrays (the ``[C]`` step sizes stay
    numpy float64 in both kinds)."""

    def prepare(self, B):
        B = np.asarray(B)
        return B.astype(np.float32 if B.dtype == np.float32 else np.float64, copy=False)

    zeros_like, empty_like = staticmethod(np.zeros_like), staticmethod(np.empty_like)

    @staticmethod
    def copy(A):
        return A.copy()

    @staticmethod
    def dots(U, V) -> np.ndarray:
        return np.einsum("ij,ij->j", U, V, dtype=np.float64)

    @staticmethod
    def small(v: np.ndarray, like):
        return v.astype(like.dtype)

    @staticmethod
    def multiply(U, v, out):
        return np.multiply(U, v, out=out)


class _TorchOps:
    """The same on torch tensors."""

    def __init__(self) -> None:
        import torch

        self.torch = torch

    def prepare(self, B):
        t = self.torch
        return B.to(t.float32 if B.dtype == t.float32 else t.float64).contiguous()

    def zeros_like(self, A):
        return self.torch.zeros_like(A)

    def empty_like(self, A):
        return self.torch.empty_like(A)

    @staticmethod
    def copy(A):
        return A.clone()

    def dots(self, U, V) -> np.ndarray:
        return (U * V).sum(0, dtype=self.torch.float64).numpy()

    def small(self, v: np.ndarray, like):
        return self.torch.from_numpy(v).to(like.dtype)

    def multiply(self, U, v, out):
        return self.torch.mul(U, v, out=out)


def _torch_csr(A, dtype):
    """A scipy sparse matrix as a torch CSR tensor of ``dtype`` (int32 indices when they fit)."""
    import warnings

    import torch

    A = A.tocsr()
    index = np.int32 if A.nnz < 2 ** 31 else np.int64
    with warnings.catch_warnings():  # "sparse CSR support is in beta": products are all we use
        warnings.filterwarnings("ignore", message="Sparse CSR tensor support is in beta", category=UserWarning)
        return torch.sparse_csr_tensor(torch.from_numpy(A.indptr.astype(index)),
                                       torch.from_numpy(A.indices.astype(index)),
                                       torch.from_numpy(A.data.astype(dtype)), size=A.shape,
                                       check_invariants=False)  # scipy's CSR is valid


def _square_csr(weights_N_N):
    """``weights_N_N`` as a float64 CSR matrix, checked to be square."""
    from scipy import sparse

    W = sparse.csr_matrix(weights_N_N, dtype=np.float64)
    if W.shape[0] != W.shape[1]:
        raise ValueError(f"weights must be square, got shape {W.shape}")
    return W


def _check(weights_N_N, labeled_L, y_L, n_classes: int):
    W = _square_csr(weights_N_N)
    labeled_L, y_L = _check_labels(W.shape[0], labeled_L, y_L, n_classes)
    return W, labeled_L, y_L


#: Largest coarse level the two-level preconditioner builds (its dense ``E⁺`` is ``m × m``
#: float64: 128 MB at 4,000); beyond it conjugate gradients run unpreconditioned.
MAX_COARSE = 4_000


class PoissonSystem:
    """The part of Poisson learning that depends on the graph only, built once per graph.

    The operator ``L = D - W`` does not depend on which items are labelled (unlike Laplace
    learning's), so a graph's symmetric normalised Laplacian, degrees and connected components
    serve every solve on it: each fast cycle's propagation, and every fold of the labels' cross-
    validation (:meth:`solve_many`). :class:`~alwidget.semi.graph.KNNGraph` keeps one
    (:meth:`~alwidget.semi.graph.KNNGraph.poisson`).

    With ``clusters_N`` (a partition of the items, e.g. k-means on the features the graph was
    built from) conjugate gradients are preconditioned by a two-level additive preconditioner,
    ``M⁻¹ = I + Z E⁺ Zᵀ`` with ``Z`` the clusters' indicator vectors (split by connected
    component) scaled by ``√d`` (the normalised Laplacian's null vector is ``√d``, so ``Z``
    spans the smooth, slowly converging directions) and ``E = Zᵀ L Z`` the coarse operator
    (dense, pseudo-inverted once). On the kNN graphs of 10,000 and 60,000 Fashion-MNIST images
    and 100,000 generated ones here it cut the iterations from 135, 180 and 264 to 44, 49 and 51
    with the same predictions (``benchmarks/poisson_solver.py``, BENCHMARKS.md).

    Parameters
    ----------
    weights_N_N : sparse or dense array of shape (N, N)
        Symmetric non-negative weights (the diagonal is ignored).
    clusters_N : array of int, shape (N,), optional
        A partition of the items into a few hundred to a few thousand clusters; ``None``:
        plain conjugate gradients.
    dtype : {numpy.float64, numpy.float32}
        What the solves compute in (the system itself is built in float64). float32 halves the
        memory traffic of every iteration and gives scores to about 1e-4 of their range
        (``KNNGraph.poisson()``'s choice: the fast cycle reads the scores' order and
        confidence, not their fifth digit); float64 is the reference.
    backend : {"numpy", "torch"}
        Whose kernels the solves run on: scipy's sparse product (one thread) or torch's CSR
        product and tensors (the threads torch is allowed: with two, a float32 solve on the
        100,000-item graph here took 0.68 s against 1.21 s with numpy; BENCHMARKS.md).
    """

    def __init__(self, weights_N_N, clusters_N: Optional[np.ndarray] = None, *, dtype=np.float64,
                 backend: str = "numpy") -> None:
        from scipy import sparse
        from scipy.sparse.csgraph import connected_components

        W = _square_csr(weights_N_N)
        n = W.shape[0]
        W = W - sparse.diags(W.diagonal())
        self.n_items = n
        self.degree_N = np.asarray(W.sum(axis=1)).ravel()
        self.n_components, self.component_N = connected_components(W, directed=False)
        self.live_N = self.degree_N > 0
        dl = self.degree_N[self.live_N]
        self._inv_sqrt = 1.0 / np.sqrt(dl)
        Wl = W[self.live_N][:, self.live_N]
        self._L_norm = (sparse.identity(len(dl), format="csr")
                        - sparse.diags(self._inv_sqrt) @ Wl @ sparse.diags(self._inv_sqrt)).tocsr()
        self.dtype = np.dtype(dtype)
        if self.dtype not in (np.float32, np.float64):
            raise ValueError(f"dtype must be float32 or float64, got {dtype!r}")
        if backend not in ("numpy", "torch"):
            raise ValueError(f"backend must be 'numpy' or 'torch', got {backend!r}")
        self.backend = backend
        #: what conjugate gradients multiply by (anything with ``@``): the normalised Laplacian in
        #: ``dtype``, a scipy matrix or a torch CSR tensor (splitting scipy's product by rows over
        #: two threads was tried and was no faster: BENCHMARKS.md)
        self.operator = self._as_backend(self._L_norm)
        #: the two-level preconditioner (``None``: plain conjugate gradients) and its coarse size
        self.precondition: Optional[Callable[[np.ndarray], np.ndarray]] = None
        self.n_coarse = 0
        if clusters_N is not None:
            clusters_N = np.asarray(clusters_N, dtype=np.int64).ravel()
            if clusters_N.shape != (n,):
                raise ValueError(f"clusters_N must have one entry per item ({n}), got shape {clusters_N.shape}")
            if len(dl):
                self.precondition = self._two_level(clusters_N[self.live_N], self.component_N[self.live_N])

    def _two_level(self, clusters_l: np.ndarray,
                   component_l: np.ndarray) -> Optional[Callable[[np.ndarray], np.ndarray]]:
        """``R -> R + Z E⁺ Zᵀ R`` on the live items (see the class docstring); ``None`` when
        the coarse level would be empty or larger than :data:`MAX_COARSE`."""
        from scipy import sparse

        # a cluster that spans components is split, so that no coarse vector joins two of them;
        # a group that is a whole component is dropped (its vector is in the null space: a pool
        # of many small components, e.g. duplicates, would otherwise make the coarse level large)
        _, group = np.unique(clusters_l * (int(component_l.max()) + 1) + component_l, return_inverse=True)
        group_size = np.bincount(group)
        comp_size = np.bincount(component_l)
        group_comp = np.zeros(len(group_size), dtype=np.int64)
        group_comp[group] = component_l
        keep = group_size < comp_size[group_comp]
        new_id = np.cumsum(keep) - 1
        rows = np.flatnonzero(keep[group])
        m = int(keep.sum())
        nl = len(clusters_l)
        if m == 0 or m > MAX_COARSE:
            return None
        Z = sparse.csr_matrix(((1.0 / self._inv_sqrt)[rows], (rows, new_id[group[rows]])), shape=(nl, m))
        E = (Z.T @ (self._L_norm @ Z)).toarray()
        E_pinv = self._as_backend(np.linalg.pinv((E + E.T) / 2.0, hermitian=True))
        Zt = self._as_backend(Z.T.tocsr())
        Z = self._as_backend(Z)
        self.n_coarse = m

        def apply(R_N_C: np.ndarray) -> np.ndarray:
            out = Z @ (E_pinv @ (Zt @ R_N_C))
            out += R_N_C
            return out

        return apply

    def _as_backend(self, A):
        """A scipy sparse or numpy matrix in ``dtype`` for this system's backend."""
        if self.backend == "torch":
            if isinstance(A, np.ndarray):
                import torch

                return torch.from_numpy(np.ascontiguousarray(A, dtype=self.dtype))
            return _torch_csr(A, self.dtype)
        return A.astype(self.dtype, copy=False)

    def _source(self, labeled_L: np.ndarray, y_L: np.ndarray,
                n_classes: int) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``(b [N, C], absent [components, C], labelled [components])``: the source of one
        problem, zero-sum in each component that holds labels, which classes have no label in
        each component, and which components hold labels."""
        n, comp = self.n_items, self.component_N
        onehot = np.zeros((len(labeled_L), n_classes))
        onehot[np.arange(len(labeled_L)), y_L] = 1.0
        b = np.zeros((n, n_classes))
        absent = np.ones((self.n_components, n_classes), dtype=bool)
        if self.n_components == 1:
            np.add.at(b, labeled_L, onehot - onehot.mean(0))
            absent[0] = np.bincount(y_L, minlength=n_classes) == 0
            return b, absent, np.ones(1, dtype=bool)
        for c in np.unique(comp[labeled_L]):  # components without a label keep b = 0 (and score 0)
            lab = comp[labeled_L] == c
            absent[c] = np.bincount(y_L[lab], minlength=n_classes) == 0
            sub = onehot[lab]
            np.add.at(b, labeled_L[lab], sub - sub.mean(0))
        unlabelled = ~np.isin(np.arange(self.n_components), comp[labeled_L])
        absent[unlabelled] = False
        return b, absent, ~unlabelled

    def _finish(self, out_live: np.ndarray, absent: np.ndarray, labelled: np.ndarray) -> np.ndarray:
        """Scores ``[N, C]`` from a solution on the live items: the free constant fixed per
        component (degree-weighted mean zero), 0 in a component without labels (whatever
        rounding a preconditioner left there), ``-inf`` for classes absent from a component."""
        live, dl = self.live_N, self.degree_N[self.live_N]
        u = np.zeros((self.n_items, out_live.shape[1]))
        if self.n_components > 1:
            comp_l = self.component_N[live]
            for c in np.unique(comp_l):
                m = comp_l == c
                if labelled[c]:
                    out_live[m] -= (dl[m] @ out_live[m]) / dl[m].sum()
                else:
                    out_live[m] = 0.0
        elif len(dl):
            out_live -= (dl @ out_live) / dl.sum()
        u[live] = out_live
        u[absent[self.component_N]] = -np.inf
        return u

    def solve(self, labeled_L, y_L, n_classes: int, *, tol: float = 1e-5, max_iter: int = 1000) -> np.ndarray:
        """Poisson learning scores ``[N, C]`` for one set of labels (see :func:`poisson_learning`)."""
        return next(self.solve_many([(labeled_L, y_L)], n_classes, tol=tol, max_iter=max_iter))

    def solve_many(self, problems: Sequence[Tuple[np.ndarray, np.ndarray]], n_classes: int, *,
                   tol: float = 1e-5, max_iter: int = 1000) -> Iterator[np.ndarray]:
        """Scores ``[N, C]`` for each ``(labeled_L, y_L)`` in ``problems``, in order, one solve
        after another on this system (all the labels are checked before anything is solved).

        Stacking the problems' right-hand sides into one block was tried and not kept: with the
        five folds of a cross-validation (50 columns) on a 60,000-item graph each sparse product
        took 16 times as long as with 10 columns, not 5 (BENCHMARKS.md)."""
        checked = [_check_labels(self.n_items, lab, y, n_classes) for lab, y in problems]
        sources = [self._source(lab, y, n_classes) for lab, y in checked]
        return self._solve_each(sources, n_classes, tol, max_iter)

    def _solve_each(self, sources, n_classes: int, tol: float, max_iter: int) -> Iterator[np.ndarray]:
        live, inv = self.live_N, self._inv_sqrt
        any_live = bool(live.any())
        for b, absent, labelled in sources:
            if not any_live:
                yield self._finish(np.zeros((0, n_classes)), absent, labelled)
                continue
            rhs = (b[live] * inv[:, None]).astype(self.dtype)
            if self.backend == "torch":
                import torch

                rhs = torch.from_numpy(rhs)
            x = block_cg(self.operator, rhs, tol=tol, max_iter=max_iter, precondition=self.precondition)
            x = np.asarray(x.numpy() if self.backend == "torch" else x, dtype=np.float64) * inv[:, None]
            yield self._finish(x, absent, labelled)


def _check_labels(n: int, labeled_L, y_L, n_classes: int) -> Tuple[np.ndarray, np.ndarray]:
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
    return labeled_L, y_L


def poisson_learning(weights_N_N, labeled_L, y_L, n_classes: int, *, tol: float = 1e-5,
                     max_iter: int = 1000) -> np.ndarray:
    """Poisson learning scores ``[N, C]`` (higher = more that class); the prediction is the argmax.

    Parameters
    ----------
    weights_N_N : sparse or dense array of shape (N, N), or PoissonSystem
        Symmetric non-negative weights (diagonal ignored), or the :class:`PoissonSystem` built
        from them (reused across solves). The equation is solved in each connected component
        with the labels it holds; a class with no label in a component scores ``-inf`` there
        (it is never predicted), and items of a component without any label score 0 for every
        class.
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
    system = weights_N_N if isinstance(weights_N_N, PoissonSystem) else PoissonSystem(weights_N_N)
    return system.solve(labeled_L, y_L, n_classes, tol=tol, max_iter=max_iter)


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
