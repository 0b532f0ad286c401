"""k-means diversity sampling for a cold start.

Before any label exists the model's uncertainty is meaningless; a batch that covers the
feature space is better. This strategy clusters the selectable items' features into
``k`` clusters (scikit-learn k-means, seeded from ``rng``) and picks, for each
centroid, the selectable item nearest to it.
"""

from __future__ import annotations

import warnings

import numpy as np

from ._common import (
    check_positive_int,
    check_select_args,
    empty_indices,
    field_array,
    float_rows,
)
from .base import PoolEstimate, Strategy
from .coreset import min_sq_distances
from .registry import register_strategy

__all__ = ["KMeansStrategy", "nearest_distinct"]


def nearest_distinct(points_n_D: np.ndarray, centroids_k_D: np.ndarray) -> np.ndarray:
    """For each centroid in turn, the nearest point not already taken.

    Parameters
    ----------
    points_n_D : ndarray of shape (n, D)
    centroids_k_D : ndarray of shape (k, D), ``k <= n``
        Processed in the given order.

    Returns
    -------
    ndarray of int64, shape (k,)
        Distinct row indices of ``points_n_D``; distance ties go to the lower index.
    """
    points = np.asarray(points_n_D)
    taken = np.zeros(points.shape[0], dtype=bool)
    out = np.empty(centroids_k_D.shape[0], dtype=np.int64)
    for i, centroid in enumerate(np.asarray(centroids_k_D, dtype=points.dtype)):
        d2 = min_sq_distances(points, centroid[None, :]).astype(np.float64)
        d2[taken] = np.inf
        out[i] = int(np.argmin(d2))
        taken[out[i]] = True
    return out


@register_strategy
class KMeansStrategy(Strategy):
    """Cold-start diversity: the selectable item nearest each k-means centroid.

    Runs k-means with ``k`` clusters on the selectable items' features only (labeled
    items are ignored). Centroids are visited from the largest cluster to the smallest
    (ties: lower cluster id); each takes its nearest selectable item not yet taken, so
    the result is ``k`` distinct items, the most representative first. When
    ``k >= n_selectable`` every selectable item is returned in index order.
    Requires ``features_N_D``; without features it raises ``ValueError``.

    Parameters
    ----------
    n_init : int, default 1
        k-means restarts (k-means++ initialisation each time).
    max_iter : int, default 100
        Lloyd iterations per run.
    minibatch_above : int, default 20000
        Use scikit-learn's ``MiniBatchKMeans`` (much faster, slightly coarser) when
        more items than this are selectable; ``KMeans`` otherwise.
    """

    name = "kmeans"
    requires = frozenset({"features"})

    def __init__(self, n_init: int = 1, max_iter: int = 100, minibatch_above: int = 20000) -> None:
        self.n_init = check_positive_int(self.name, "n_init", n_init)
        self.max_iter = check_positive_int(self.name, "max_iter", max_iter)
        self.minibatch_above = int(minibatch_above)

    def __repr__(self) -> str:
        return (
            f"KMeansStrategy(n_init={self.n_init!r}, max_iter={self.max_iter!r}, "
            f"minibatch_above={self.minibatch_above!r})"
        )

    def select(
        self,
        estimate: PoolEstimate,
        k: int,
        selectable_N: np.ndarray,
        rng: np.random.Generator,
    ) -> np.ndarray:
        """One selectable item per k-means cluster, largest cluster first.

        Parameters
        ----------
        estimate : PoolEstimate
            Must carry ``features_N_D``.
        k : int
            Number of clusters / items.
        selectable_N : ndarray of bool, shape (N,)
            Items that may be picked (and are clustered).
        rng : numpy.random.Generator
            Seeds k-means (one integer drawn per call).

        Returns
        -------
        ndarray of int64, shape (min(k, selectable_N.sum()),)
        """
        from sklearn.cluster import KMeans, MiniBatchKMeans
        from sklearn.exceptions import ConvergenceWarning

        k, candidates = check_select_args(self, estimate, k, selectable_N)
        seed = int(rng.integers(2**31 - 1))
        if k == 0:
            return empty_indices()
        if k >= candidates.size:
            return candidates
        points = float_rows(field_array(estimate, "features", self.name), candidates)
        if candidates.size > self.minibatch_above:
            model = MiniBatchKMeans(
                n_clusters=k,
                n_init=self.n_init,
                max_iter=self.max_iter,
                random_state=seed,
                batch_size=max(1024, 3 * k),
            )
        else:
            model = KMeans(
                n_clusters=k, n_init=self.n_init, max_iter=self.max_iter, random_state=seed
            )
        with warnings.catch_warnings():
            # fewer distinct points than clusters: duplicate centroids are fine here,
            # nearest_distinct still returns k distinct items
            warnings.simplefilter("ignore", ConvergenceWarning)
            labels = model.fit_predict(points)
        sizes = np.bincount(labels, minlength=k)
        cluster_order = np.argsort(-sizes, kind="stable")
        centroids = np.asarray(model.cluster_centers_)[cluster_order]
        return candidates[nearest_distinct(points, centroids)]
