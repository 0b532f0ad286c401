"""kNN graphs of a feature space: the weight matrix graph-based learning propagates labels on.

Weights follow Calder et al. (2020) and their GraphLearning package: each item is joined to
its ``k`` nearest neighbours (Euclidean distance on the features) with the weight
``w_ij = exp(-4 |x_i - x_j|² / d_k(x_i)²)``, where ``d_k(x_i)`` is the distance from ``x_i`` to
its ``k``-th neighbour (a self-tuning bandwidth), and the matrix is symmetrised,
``W = (W + Wᵀ) / 2``. Neighbours come from scikit-learn's exact search (``NearestNeighbors``),
which takes about a second for 10,000 items of 128 dimensions here, and above
:data:`EXACT_UP_TO` items from hnswlib's approximate HNSW index. From :data:`COARSE_FROM` items
the graph also keeps a k-means partition of its items, the coarse level of Poisson learning's
preconditioner (:class:`~alwidget.semi.poisson.PoissonSystem`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Optional, Tuple

import numpy as np

if TYPE_CHECKING:  # scipy is imported when a graph is built, not with alwidget (it is slow)
    from scipy import sparse

    from .poisson import PoissonSystem

__all__ = ["KNNGraph", "knn_graph", "coarse_clusters", "DEFAULT_K", "COARSE_FROM"]

DEFAULT_K = 10
"""Neighbours per item: GraphLearning's choice for MNIST-sized data (Calder et al. 2020)."""


@dataclass
class KNNGraph:
    """A symmetric kNN weight matrix and what is needed to attach new points to it.

    Attributes
    ----------
    weights_N_N : scipy.sparse.csr_matrix of shape (N, N)
        Symmetric, non-negative, zero diagonal.
    neighbors_N_K : ndarray of int64, shape (N, K)
        Each item's ``K`` nearest other items, nearest first.
    distances_N_K : ndarray of float32, shape (N, K)
        Their Euclidean distances.
    k : int
        ``K``.
    clusters_N : ndarray of int64, shape (N,), optional
        A coarse partition of the items (k-means on the features, built from
        :data:`COARSE_FROM` items), which Poisson learning uses to precondition its solves.
    """

    weights_N_N: sparse.csr_matrix
    neighbors_N_K: np.ndarray
    distances_N_K: np.ndarray
    k: int
    clusters_N: Optional[np.ndarray] = None

    @property
    def n_items(self) -> int:
        """``N``."""
        return int(self.weights_N_N.shape[0])

    def degree_N(self) -> np.ndarray:
        """Weighted degree of every item ``[N]``."""
        return np.asarray(self.weights_N_N.sum(axis=1)).ravel()

    def poisson(self) -> "PoissonSystem":
        """The graph's :class:`~alwidget.semi.poisson.PoissonSystem` (its normalised Laplacian
        and components), built at the first call and kept: every propagation on this graph
        reuses it. It solves in float32 on torch's kernels (see the system's ``dtype`` and
        ``backend``)."""
        system = self.__dict__.get("_poisson")
        if system is None:
            from .poisson import PoissonSystem

            system = PoissonSystem(self.weights_N_N, self.clusters_N, dtype=np.float32, backend="torch")
            self.__dict__["_poisson"] = system
        return system


def _gauss_weights(dist_M_K: np.ndarray) -> np.ndarray:
    """``exp(-4 d² / d_K²)`` per row, with ``d_K`` the row's largest (K-th) distance."""
    scale = np.maximum(dist_M_K[:, -1:], 1e-12)
    return np.exp(-4.0 * (dist_M_K / scale) ** 2)


def neighbor_weights(dist_M_K: np.ndarray) -> np.ndarray:
    """Weights ``[M, K]`` of new points to their ``K`` nearest graph items (same kernel as the
    graph's edges), rows normalised to sum to 1: the weights of a kNN out-of-sample vote."""
    w = _gauss_weights(np.asarray(dist_M_K, dtype=np.float64))
    return w / np.maximum(w.sum(1, keepdims=True), 1e-300)


EXACT_UP_TO = 50_000
"""``method="auto"`` searches exactly up to this many items and with hnswlib above (see
:func:`knn_graph`)."""

METHODS = ("auto", "exact", "hnsw")

COARSE_FROM = 5_000
"""From this many items ``knn_graph`` also partitions them by k-means (``clusters_N``): the
coarse level of Poisson learning's preconditioner (a third of the iterations from 10,000
Fashion-MNIST images on; the k-means costs a few tenths of a second there)."""

COARSE_ITEMS_PER_CLUSTER = 100
"""About this many items per cluster of the coarse partition, at most :data:`COARSE_MAX` clusters."""

COARSE_MAX = 1000


def coarse_clusters(features_N_D: np.ndarray, seed: int = 0) -> np.ndarray:
    """A partition ``[N]`` of the items into ``min(COARSE_MAX, N // COARSE_ITEMS_PER_CLUSTER)``
    clusters by scikit-learn's mini-batch k-means (one initialisation, batches of 4,096)."""
    from sklearn.cluster import MiniBatchKMeans

    x = np.ascontiguousarray(features_N_D, dtype=np.float32)
    m = max(2, min(COARSE_MAX, len(x) // COARSE_ITEMS_PER_CLUSTER))
    km = MiniBatchKMeans(m, random_state=seed, n_init=1, batch_size=4096)
    return km.fit_predict(x).astype(np.int64)


def _neighbors_hnsw(x: np.ndarray, k: int, n_jobs: Optional[int], seed: int = 0) -> Tuple[np.ndarray, np.ndarray]:
    """``(dist [N, k + 1], idx [N, k + 1])`` from an hnswlib HNSW index of ``x`` (Euclidean)."""
    try:
        import hnswlib
    except ImportError:  # pragma: no cover - a dependency
        raise ImportError("the kNN graph of a large pool needs hnswlib: pip install hnswlib") from None
    n, dim = x.shape
    index = hnswlib.Index(space="l2", dim=dim)
    index.init_index(max_elements=n, ef_construction=100, M=16, random_seed=seed)
    index.set_num_threads(max(1, int(n_jobs or 1)) if n_jobs != -1 else -1)
    index.add_items(x, np.arange(n))
    index.set_ef(max(50, 2 * (k + 1)))
    idx, sq = index.knn_query(x, k=k + 1)
    return np.sqrt(np.maximum(sq, 0)).astype(np.float64), idx.astype(np.int64)


def knn_graph(features_N_D: np.ndarray, k: int = DEFAULT_K, *, n_jobs: Optional[int] = 1,
              method: str = "auto", coarse: Optional[bool] = None) -> KNNGraph:
    """The symmetric self-tuning kNN graph of ``features_N_D``.

    Parameters
    ----------
    features_N_D : ndarray of shape (N, D)
        One row per item; ``N > k``.
    k : int
        Neighbours per item (an item is not its own neighbour).
    n_jobs : int, optional
        Threads for the neighbour search.
    method : {"auto", "exact", "hnsw"}
        ``exact``: scikit-learn's exact search; ``hnsw``: hnswlib's approximate HNSW index
        (recall@10 about 0.99 here); ``auto``: exact up to :data:`EXACT_UP_TO` items, HNSW above.
        hnswlib was chosen over pynndescent and faiss-cpu by measurement
        (``benchmarks/knn_libraries.py``, BENCHMARKS.md).
    coarse : bool, optional
        Also partition the items for Poisson learning's preconditioner (:func:`coarse_clusters`);
        ``None``: from :data:`COARSE_FROM` items.

    Returns
    -------
    KNNGraph

    Raises
    ------
    ValueError
        Fewer than ``k + 1`` items, or non-finite features.
    """
    from scipy import sparse
    from sklearn.neighbors import NearestNeighbors

    x = np.ascontiguousarray(features_N_D, dtype=np.float32)
    n = len(x)
    k = int(k)
    if k < 1:
        raise ValueError(f"k must be at least 1, got {k}")
    if n < k + 1:
        raise ValueError(f"a {k}-nearest-neighbour graph needs at least {k + 1} items, got {n}")
    if not np.all(np.isfinite(x)):
        raise ValueError("features contain NaN or infinity; the representation is broken")
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}, got {method!r}")
    if method == "hnsw" or (method == "auto" and n > EXACT_UP_TO):
        dist, idx = _neighbors_hnsw(x, k, n_jobs)
    else:
        dist, idx = NearestNeighbors(n_neighbors=k + 1, n_jobs=n_jobs).fit(x).kneighbors(x)
    # drop each item itself; with duplicates the item may not come first, so drop it by identity
    own = idx == np.arange(n)[:, None]
    drop = np.where(own.any(1), own.argmax(1), k)
    keep = np.ones_like(own)
    keep[np.arange(n), drop] = False
    idx = idx[keep].reshape(n, k)
    dist = dist[keep].reshape(n, k).astype(np.float32)
    w = _gauss_weights(dist.astype(np.float64))
    rows = np.repeat(np.arange(n), k)
    W = sparse.csr_matrix((w.ravel(), (rows, idx.ravel())), shape=(n, n))
    W = ((W + W.T) * 0.5).tocsr()
    W.setdiag(0.0)
    W.eliminate_zeros()
    clusters = coarse_clusters(x) if (n >= COARSE_FROM if coarse is None else coarse) else None
    return KNNGraph(weights_N_N=W, neighbors_N_K=idx.astype(np.int64), distances_N_K=dist, k=k, clusters_N=clusters)
