"""TypiClust: typical points of uncovered clusters, for small label budgets.

Hacohen, Dekel & Weinshall (ICML 2022), "Active Learning on a Budget": with few labels, the
most useful next label is a *typical* item (dense neighbourhood) of a region of the
representation that no label covers yet. The pool's features are clustered into
``n_labeled + k`` clusters (k-means); clusters are visited from the fewest labelled items (then
the largest) on; each gives its most typical selectable item, where

    typicality(x) = 1 / mean distance from x to its ``n_neighbors`` nearest items of its cluster.

Clusters smaller than ``min_cluster_size`` are skipped while larger ones remain.
"""

from __future__ import annotations

import warnings

import numpy as np

from ._common import check_positive_int, check_select_args, empty_indices, field_array
from .base import PoolEstimate, Strategy
from .registry import register_strategy

__all__ = ["TypiClustStrategy", "typicality"]


def typicality(points_n_D: np.ndarray, n_neighbors: int = 20) -> np.ndarray:
    """Typicality ``[n]`` of each point among the others: the inverse of the mean Euclidean
    distance to its ``min(n_neighbors, n - 1)`` nearest other points (``inf`` for exact
    duplicates, 1 for a lone point)."""
    from sklearn.neighbors import NearestNeighbors

    x = np.asarray(points_n_D, dtype=np.float64)
    n = len(x)
    if n <= 1:
        return np.ones(n)
    k = min(int(n_neighbors), n - 1)
    dist, _ = NearestNeighbors(n_neighbors=k + 1).fit(x).kneighbors(x)
    mean = dist[:, 1:].mean(1)
    with np.errstate(divide="ignore"):
        return 1.0 / mean


@register_strategy
class TypiClustStrategy(Strategy):
    """Most typical item of each uncovered k-means cluster (TypiClust, Hacohen et al. 2022).

    Parameters
    ----------
    n_neighbors : int, default 20
        Neighbours in the typicality estimate (the paper's 20).
    min_cluster_size : int, default 5
        Clusters smaller than this are visited only after all larger ones.
    max_clusters : int, default 500
        Upper bound on the number of clusters (k-means cost).
    max_kmeans_points : int, default 100000
        Past this many points k-means is fitted on a random sample of this size (seeded) and
        every point assigned to the nearest centre (at 1,000,000 points the fit on all of them
        took minutes here; at 100,000, seconds).
    max_typicality_points : int, default 5000
        A cluster larger than this has its typicality computed within a random sample of this
        many members (seeded), and its pick is the most typical of them: exact nearest neighbours
        are quadratic in the cluster's size (a cold start on 1,000,000 items makes 20 clusters of
        50,000; their typicality did not end in five minutes here).
    """

    name = "typiclust"
    requires = frozenset({"features"})

    def __init__(self, n_neighbors: int = 20, min_cluster_size: int = 5, max_clusters: int = 500,
                 max_typicality_points: int = 5000, max_kmeans_points: int = 100_000) -> None:
        self.n_neighbors = check_positive_int(self.name, "n_neighbors", n_neighbors)
        self.min_cluster_size = check_positive_int(self.name, "min_cluster_size", min_cluster_size)
        self.max_clusters = check_positive_int(self.name, "max_clusters", max_clusters)
        self.max_typicality_points = check_positive_int(self.name, "max_typicality_points", max_typicality_points)
        self.max_kmeans_points = check_positive_int(self.name, "max_kmeans_points", max_kmeans_points)

    def __repr__(self) -> str:
        return (f"TypiClustStrategy(n_neighbors={self.n_neighbors!r}, min_cluster_size={self.min_cluster_size!r}, "
                f"max_clusters={self.max_clusters!r}, max_typicality_points={self.max_typicality_points!r}, "
                f"max_kmeans_points={self.max_kmeans_points!r})")

    def select(self, estimate: PoolEstimate, k: int, selectable_N: np.ndarray,
               rng: np.random.Generator) -> np.ndarray:
        """Up to ``k`` typical items of the least covered clusters, the first pick first.

        Items labelled in ``estimate.labeled_N`` count as covering their cluster (without it,
        nothing is covered yet: a cold start)."""
        from sklearn.cluster import KMeans, MiniBatchKMeans
        from sklearn.exceptions import ConvergenceWarning

        k, candidates = check_select_args(self, estimate, k, selectable_N)
        seed = int(rng.integers(2**31 - 1))
        if k == 0:
            return empty_indices()
        if k >= candidates.size:
            return candidates
        feats = np.asarray(field_array(estimate, "features", self.name))
        n = feats.shape[0]
        # float64 throughout; past max_kmeans_points the rows are converted as they are read (the same
        # values, without a pool-sized float64 copy: 1 GB of 128-d features at a million items)
        f64 = (lambda rows: np.asarray(feats[rows], dtype=np.float64))
        if n <= self.max_kmeans_points:
            feats = np.asarray(feats, dtype=np.float64)
        labeled = np.zeros(n, dtype=bool) if estimate.labeled_N is None else np.asarray(estimate.labeled_N, bool)
        use = selectable_N.astype(bool) | labeled
        pts_idx = np.flatnonzero(use)
        n_clusters = int(min(int(labeled.sum()) + k, self.max_clusters, len(pts_idx)))
        n_clusters = max(n_clusters, 1)
        km = (MiniBatchKMeans(n_clusters=n_clusters, random_state=seed, n_init=1, batch_size=2048)
              if len(pts_idx) > 5000 else KMeans(n_clusters=n_clusters, random_state=seed, n_init=1, max_iter=100))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            if len(pts_idx) > self.max_kmeans_points:  # fit on a seeded sample, assign every point
                fit_idx = np.sort(np.random.default_rng(seed).choice(pts_idx, self.max_kmeans_points, replace=False))
                km.fit(f64(fit_idx))  # then assign in blocks: no second pool-sized copy of the features
                assign = np.concatenate([km.predict(f64(pts_idx[i:i + 8192]))
                                         for i in range(0, len(pts_idx), 8192)])
            else:
                assign = km.fit_predict(f64(pts_idx))
        cluster_N = np.full(n, -1, dtype=np.int64)
        cluster_N[pts_idx] = assign
        sizes = np.bincount(assign, minlength=n_clusters)
        covered = np.bincount(cluster_N[labeled & (cluster_N >= 0)], minlength=n_clusters)
        typ = np.full(n, np.nan)

        sample_rng = np.random.default_rng(seed)

        def typical(c: int) -> None:  # computed only for the clusters a pick is made from
            members = pts_idx[assign == c]
            if not np.isnan(typ[members]).all():
                return
            if len(members) > self.max_typicality_points:  # exact kNN is quadratic in the cluster's size
                members = np.sort(sample_rng.choice(members, self.max_typicality_points, replace=False))
            typ[members] = typicality(f64(members), self.n_neighbors)

        free = np.zeros(n, dtype=bool)
        free[candidates] = True
        free_per = np.bincount(cluster_N[free], minlength=n_clusters)
        picked = []
        for _ in range(k):
            avail = free_per > 0
            if not avail.any():  # every cluster drained: fall back to the most typical left
                rest = np.flatnonzero(free)
                for c in np.unique(cluster_N[rest]):
                    typical(int(c))
                order = rest[np.argsort(-typ[rest], kind="stable")]
                picked.extend(order[: k - len(picked)].tolist())
                break
            big = avail & (sizes >= self.min_cluster_size)
            pool_c = np.flatnonzero(big if big.any() else avail)
            # fewest labels first, then the largest cluster, then the lower id
            c = pool_c[np.lexsort((pool_c, -sizes[pool_c], covered[pool_c]))[0]]
            typical(int(c))
            members = np.flatnonzero(free & (cluster_N == c))
            best = members[np.argsort(-typ[members], kind="stable")[0]]
            picked.append(int(best))
            free[best] = False
            free_per[c] -= 1
            covered[c] += 1
        return np.asarray(picked, dtype=np.int64)
