"""Core-set strategy: greedy k-center on features (Sener & Savarese, ICLR 2018).

The greedy 2-approximation of the k-center problem: repeatedly pick the selectable item
farthest (Euclidean) from its nearest centre, then make it a centre. Centres start as
the non-selectable items (labeled and validation items).

Memory and time: the minimum squared distance of every candidate to the current centres
is kept in one ``(n,)`` vector and updated incrementally with one matrix-vector product
per pick, using ``||x - c||² = ||x||² - 2 x·c + ||c||²``. Distances to the initial
centres are computed in chunks of at most :data:`CHUNK_ELEMENTS` entries, so no
``N × N`` (or ``N × L``) matrix is ever held. Cost ``O((L + k) · n · D)``.
"""

from __future__ import annotations

from typing import Optional

import numpy as np

from ._common import (
    CHUNK_ELEMENTS,
    check_select_args,
    empty_indices,
    field_array,
    float_dtype,
    float_rows,
    row_chunks,
)
from .base import PoolEstimate, Strategy
from .registry import register_strategy

__all__ = ["CoresetStrategy", "k_center_greedy", "min_sq_distances"]


def min_sq_distances(
    points_n_D: np.ndarray, centres_L_D: np.ndarray, chunk_elements: int = CHUNK_ELEMENTS
) -> np.ndarray:
    """Squared Euclidean distance from each point to its nearest centre, chunked.

    Parameters
    ----------
    points_n_D : ndarray of shape (n, D)
        Points (float32 or float64; the computation keeps that precision).
    centres_L_D : ndarray of shape (L, D)
        Centres; ``L = 0`` gives ``+inf`` everywhere.
    chunk_elements : int
        Upper bound on the entries of any temporary ``(rows, cols)`` block.

    Returns
    -------
    ndarray of shape (n,)
        ``min_l ||x_i - c_l||²``, clipped at 0 against rounding, in the points' dtype.
    """
    points = np.asarray(points_n_D)
    centres = np.asarray(centres_L_D, dtype=points.dtype)
    n, n_centres = points.shape[0], centres.shape[0]
    out = np.full(n, np.inf, dtype=points.dtype)
    if n == 0 or n_centres == 0:
        return out
    point_sq = np.einsum("nd,nd->n", points, points)
    centre_sq = np.einsum("ld,ld->l", centres, centres)
    cols = max(1, min(n_centres, chunk_elements // max(1, min(n, 4096))))
    for c0 in range(0, n_centres, cols):
        block_centres = centres[c0 : c0 + cols]
        block_centre_sq = centre_sq[c0 : c0 + cols]
        for rows in row_chunks(n, cols, chunk_elements):
            dots = points[rows] @ block_centres.T
            d2 = point_sq[rows, None] - 2.0 * dots + block_centre_sq[None, :]
            np.minimum(out[rows], d2.min(axis=1), out=out[rows])
    np.maximum(out, 0.0, out=out)
    return out


def k_center_greedy(
    features_N_D: np.ndarray,
    k: int,
    candidates_n: np.ndarray,
    centres_L: np.ndarray,
    rng: Optional[np.random.Generator] = None,
) -> np.ndarray:
    """Greedy k-center: ``k`` candidates, each farthest from all centres so far.

    Parameters
    ----------
    features_N_D : ndarray of shape (N, D)
        Features of the whole pool.
    k : int
        Number of picks, ``0 <= k <= len(candidates_n)``.
    candidates_n : ndarray of int, shape (n,)
        Pool indices that may be picked.
    centres_L : ndarray of int, shape (L,)
        Pool indices of the initial centres (e.g. labeled items); may be empty.
    rng : numpy.random.Generator, optional
        Used only when ``centres_L`` is empty, to draw the first pick uniformly
        among the candidates; without it the first candidate is taken.

    Returns
    -------
    ndarray of int64, shape (k,)
        Pool indices in pick order. Ties in the farthest distance go to the earliest
        candidate (``numpy.argmax``).
    """
    candidates = np.asarray(candidates_n, dtype=np.int64)
    if k <= 0 or candidates.size == 0:
        return empty_indices()
    features = np.asarray(features_N_D)
    dtype = float_dtype(features)
    if (
        features.dtype == dtype
        and features.flags.c_contiguous
        and 2 * candidates.size >= len(features)
    ):
        # most of the pool is pickable: work on the pool matrix itself, no copy
        points, rows = features, candidates
    else:
        points = float_rows(features, candidates)
        rows = np.arange(candidates.size, dtype=np.int64)
    blocked = np.ones(points.shape[0], dtype=bool)  # rows that may not be picked (now)
    blocked[rows] = False
    point_sq = np.einsum("nd,nd->n", points, points)
    centres = np.asarray(centres_L, dtype=np.int64)
    min_d2: np.ndarray = np.full(points.shape[0], np.inf, dtype=dtype)
    for chunk in row_chunks(centres.size, features.shape[1]):
        np.minimum(min_d2, min_sq_distances(points, features[centres[chunk]]), out=min_d2)
    order = np.empty(k, dtype=np.int64)
    for step in range(k):
        if step == 0 and not np.isfinite(min_d2[rows]).any():
            r = int(rows[rng.integers(rows.size)]) if rng is not None else int(rows[0])
        else:
            r = int(np.argmax(np.where(blocked, -np.inf, min_d2)))
        order[step] = r
        blocked[r] = True
        if step + 1 < k:
            centre = points[r]
            d2 = point_sq - 2.0 * (points @ centre) + point_sq[r]
            np.minimum(min_d2, d2, out=min_d2)
            np.maximum(min_d2, 0.0, out=min_d2)
    if points is features:
        return order
    return candidates[order]


@register_strategy
class CoresetStrategy(Strategy):
    """Core-set selection by greedy k-center on pool features (Sener & Savarese 2018).

    The non-selectable items (labeled and validation) are the initial centres; each
    pick is the selectable item with the largest Euclidean distance to its nearest
    centre, which then becomes a centre. With no non-selectable item (cold start) the
    first pick is drawn uniformly from the selectable items with ``rng``; everything
    after it is deterministic. Ties go to the lower pool index. Has no per-item score.
    Requires ``features_N_D``; computes in float32 when the features are float32,
    float64 otherwise.
    """

    name = "coreset"
    requires = frozenset({"features"})

    def select(
        self,
        estimate: PoolEstimate,
        k: int,
        selectable_N: np.ndarray,
        rng: np.random.Generator,
    ) -> np.ndarray:
        """Greedy k-center picks among the selectable items, first pick first.

        Parameters
        ----------
        estimate : PoolEstimate
            Must carry ``features_N_D``.
        k : int
            How many to pick.
        selectable_N : ndarray of bool, shape (N,)
            Items that may be picked; the others are the initial centres.
        rng : numpy.random.Generator
            Draws the first pick when there is no initial centre.

        Returns
        -------
        ndarray of int64, shape (min(k, selectable_N.sum()),)
        """
        k, candidates = check_select_args(self, estimate, k, selectable_N)
        if k == 0:
            return empty_indices()
        mask = np.zeros(estimate.n_items, dtype=bool)
        mask[candidates] = True
        centres = np.flatnonzero(~mask)
        features = field_array(estimate, "features", self.name)
        return k_center_greedy(features, k, candidates, centres, rng)
