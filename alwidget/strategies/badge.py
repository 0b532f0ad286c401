"""BADGE: k-means++ seeding on last-layer gradient embeddings (Ash et al., ICLR 2020).

For item ``i`` with predicted probabilities ``p_i`` (C classes) and head input
``h_i`` (D features), the gradient of the cross-entropy loss with respect to the
last linear layer's weights, at the hypothesised label ``ŷ_i = argmax p_i``, is the
outer product

    ``g_i = a_i ⊗ h_i``  with  ``a_i = p_i - onehot(ŷ_i)``,

a vector of length ``C·D``. BADGE runs k-means++ seeding on the ``g_i``: the first
pick is the largest gradient norm, each later pick is drawn with probability
proportional to its squared distance to the nearest pick so far (D² sampling). That
favours items that are uncertain (large ``||a_i||``) and different from each other.

The ``N × (C·D)`` matrix is never built: squared distances factorise as

    ``||g_i - g_j||² = ||a_i||² ||h_i||² + ||a_j||² ||h_j||² - 2 (a_i·a_j)(h_i·h_j)``,

so each pick costs one ``(n, C)`` and one ``(n, D)`` matrix-vector product
(``O(n (C + D))`` time, ``O(n)`` extra memory).
"""

from __future__ import annotations

from typing import Optional

import numpy as np

from ._common import check_select_args, empty_indices, field_array, float_dtype, float_rows, row_chunks
from .base import PoolEstimate, Strategy
from .registry import register_strategy

__all__ = [
    "BADGEStrategy",
    "gradient_embedding_factors",
    "gradient_sq_distances",
    "badge_kmeanspp",
]


FACTOR_CHUNK_ELEMENTS = 1 << 19
"""Entries per block (:func:`~alwidget.strategies._common.row_chunks`) when BADGE computes the
candidates' class factors (in float64, stored in the features' precision): 52,428 rows of ten
classes."""


def gradient_embedding_factors(probs_N_C: np.ndarray) -> np.ndarray:
    """Compute the class factor ``a_i = p_i - onehot(argmax p_i)`` of ``g_i``.

    Parameters
    ----------
    probs_N_C : ndarray of shape (N, C)
        Predicted class probabilities.

    Returns
    -------
    ndarray of shape (N, C)
        Same float precision as :func:`~alwidget.strategies._common.float_dtype`
        picks for the input. Argmax ties go to the lowest class.
    """
    probs = np.asarray(probs_N_C)
    factors: np.ndarray = np.array(probs, dtype=float_dtype(probs), copy=True)
    factors[np.arange(factors.shape[0]), probs.argmax(axis=1)] -= 1.0
    return factors


def gradient_sq_distances(
    a_N_C: np.ndarray, h_N_D: np.ndarray, a_M_C: np.ndarray, h_M_D: np.ndarray
) -> np.ndarray:
    """Squared distances ``||a_i ⊗ h_i - a_j ⊗ h_j||²`` without forming outer products.

    Parameters
    ----------
    a_N_C, h_N_D : ndarray
        Factors of ``N`` gradient embeddings.
    a_M_C, h_M_D : ndarray
        Factors of ``M`` gradient embeddings.

    Returns
    -------
    ndarray of shape (N, M)
        ``||a_i||²||h_i||² + ||a_j||²||h_j||² - 2 (a_i·a_j)(h_i·h_j)``, clipped at 0.
    """
    sq_N = np.einsum("nc,nc->n", a_N_C, a_N_C) * np.einsum("nd,nd->n", h_N_D, h_N_D)
    sq_M = np.einsum("mc,mc->m", a_M_C, a_M_C) * np.einsum("md,md->m", h_M_D, h_M_D)
    cross = (a_N_C @ a_M_C.T) * (h_N_D @ h_M_D.T)
    return np.maximum(sq_N[:, None] + sq_M[None, :] - 2.0 * cross, 0.0)


def badge_kmeanspp(
    a_n_C: np.ndarray, h_n_D: np.ndarray, k: int, rng: np.random.Generator,
    rows_n: Optional[np.ndarray] = None,
) -> np.ndarray:
    """k-means++ seeding on gradient embeddings ``a_i ⊗ h_i`` (factorised distances).

    Parameters
    ----------
    a_n_C : ndarray of shape (n, C)
        Class factors (see :func:`gradient_embedding_factors`).
    h_n_D : ndarray of shape (n, D), or (N, D) with ``rows_n``
        Feature factors, same float precision.
    k : int
        Number of seeds, ``0 <= k <= n``.
    rng : numpy.random.Generator
        Draws the D² samples.
    rows_n : ndarray of int, shape (n,), optional
        Which rows of ``h_n_D`` the ``n`` items are: the pool's features are then read where
        they are, not copied (at 1,000,000 items and 128 dimensions the copy is 512 MB); the
        products run over all ``N`` rows, the same picks.

    Returns
    -------
    ndarray of int64, shape (k,)
        Row indices in pick order. The first is the largest gradient norm (ties: lowest
        index), as in the reference implementation; each later one is drawn with
        probability ∝ squared distance to the nearest earlier pick. When every unpicked
        row is at distance 0 (duplicates of picks), the next one is drawn uniformly
        among the unpicked rows.
    """
    n = a_n_C.shape[0]
    if k <= 0 or n == 0:
        return empty_indices()
    a_sq = np.einsum("nc,nc->n", a_n_C, a_n_C)
    h_sq = np.einsum("nd,nd->n", h_n_D, h_n_D)
    if rows_n is not None:
        rows_n = np.asarray(rows_n, dtype=np.int64)
        h_sq = h_sq[rows_n]
    g_sq = (a_sq * h_sq).astype(np.float64)
    picked = np.zeros(n, dtype=bool)
    order = np.empty(k, dtype=np.int64)
    j = int(np.argmax(g_sq))
    min_d2 = np.full(n, np.inf)
    for step in range(k):
        if step > 0:
            weights = np.where(picked, 0.0, min_d2)
            total = weights.sum()
            if total > 0 and np.isfinite(total):
                j = int(rng.choice(n, p=weights / total))
            else:
                j = int(rng.choice(np.flatnonzero(~picked)))
        order[step] = j
        picked[j] = True
        if step + 1 < k:
            if rows_n is None:
                cross = (a_n_C @ a_n_C[j]) * (h_n_D @ h_n_D[j])
            else:
                cross = (a_n_C @ a_n_C[j]) * (h_n_D @ h_n_D[rows_n[j]])[rows_n]
            d2 = g_sq + g_sq[j] - 2.0 * cross.astype(np.float64)
            np.minimum(min_d2, np.maximum(d2, 0.0), out=min_d2)
    return order


@register_strategy
class BADGEStrategy(Strategy):
    """BADGE (Ash et al. 2020): diverse, uncertain batches from gradient embeddings.

    Builds ``g_i = (p_i - onehot(argmax p_i)) ⊗ h_i`` implicitly from ``probs_N_C``
    and ``features_N_D`` (the head's input) and runs k-means++ seeding on the
    selectable items only (as in the paper; labeled items are not used as seeds).
    See :func:`badge_kmeanspp` for the seeding and its tie rules. Has no per-item
    score. Requires ``features_N_D``; computes in float32 when the features are
    float32, float64 otherwise.
    """

    name = "badge"
    requires = frozenset({"features"})

    def select(
        self,
        estimate: PoolEstimate,
        k: int,
        selectable_N: np.ndarray,
        rng: np.random.Generator,
    ) -> np.ndarray:
        """k-means++ seeds among the selectable items' gradient embeddings.

        Parameters
        ----------
        estimate : PoolEstimate
            Must carry ``features_N_D``.
        k : int
            How many to pick.
        selectable_N : ndarray of bool, shape (N,)
            Items that may be picked.
        rng : numpy.random.Generator
            Draws the D² samples.

        Returns
        -------
        ndarray of int64, shape (min(k, selectable_N.sum()),)
        """
        k, candidates = check_select_args(self, estimate, k, selectable_N)
        if k == 0:
            return empty_indices()
        feats = field_array(estimate, "features", self.name)
        if feats.dtype == float_dtype(feats) and feats.flags.c_contiguous:  # [N, D]: check_select_args
            h, rows = feats, candidates  # read in place: no copy of the pool's features
        else:
            h, rows = float_rows(feats, candidates), None
        probs = np.asarray(estimate.probs_N_C)
        a_n_C = np.empty((len(candidates), probs.shape[1]), dtype=h.dtype)
        for rows_b in row_chunks(len(candidates), probs.shape[1], FACTOR_CHUNK_ELEMENTS):  # no float64 copy of all
            a_n_C[rows_b] = gradient_embedding_factors(probs[candidates[rows_b]])
        return candidates[badge_kmeanspp(a_n_C, h, k, rng, rows_n=rows)]
