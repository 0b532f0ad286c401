"""Entropy − α·redundancy: uncertain items that are not like everything else.

The redundancy of item ``i`` is its **mean** cosine similarity to a reference sample
``R`` of ``M`` pool items drawn at random (``i`` itself excluded when it is in ``R``):

    ``r_i = mean_{j ∈ R, j ≠ i} cos(f_i, f_j)``,   ``score_i = H[p_i] - α r_i``.

Items in dense, typical regions of feature space (high ``r_i``) are pushed down; the
sample makes it ``O(N·M·D)`` instead of ``O(N²·D)``. The cosine of a zero feature
vector with anything is taken as 0.

The greedy batch variant (``greedy=True``) also penalises similarity to the items
already picked in this batch: a candidate's redundancy becomes
``max(r_i, max_{s ∈ picked} cos(f_i, f_s))``, updated after every pick with one
``(N, D)`` matrix-vector product, so near-duplicates of a pick fall to the back.
"""

from __future__ import annotations

import numpy as np

from ._common import (
    CHUNK_ELEMENTS,
    check_estimate,
    check_positive_int,
    check_select_args,
    empty_indices,
    field_array,
    float_dtype,
    row_chunks,
    top_k,
)
from .base import PoolEstimate, Strategy
from .registry import register_strategy
from .scores import entropy

__all__ = [
    "EntropyRedundancyStrategy",
    "unit_rows",
    "mean_cosine_redundancy",
]


def unit_rows(features_N_D: np.ndarray) -> np.ndarray:
    """Rows scaled to unit Euclidean norm; zero rows stay zero.

    Parameters
    ----------
    features_N_D : ndarray of shape (N, D)

    Returns
    -------
    ndarray of shape (N, D)
        float32 for float32 input, float64 otherwise.
    """
    features = np.asarray(features_N_D)
    features = features.astype(float_dtype(features), copy=False)
    norms = np.sqrt(np.einsum("nd,nd->n", features, features))
    safe = np.where(norms > 0, norms, 1.0)
    return features / safe[:, None]


def mean_cosine_redundancy(features_N_D: np.ndarray, reference_M: np.ndarray) -> np.ndarray:
    """Mean cosine similarity of every item to the reference items, itself excluded.

    Parameters
    ----------
    features_N_D : ndarray of shape (N, D)
        Pool features.
    reference_M : ndarray of int, shape (M,)
        Distinct pool indices of the reference sample.

    Returns
    -------
    ndarray of float64, shape (N,)
        ``r_i = mean_{j ∈ R, j ≠ i} cos(f_i, f_j)`` in ``[-1, 1]``; 0 when ``R`` has
        no item other than ``i``. Similarities are computed in row blocks of at most
        :data:`CHUNK_ELEMENTS` entries.
    """
    unit = unit_rows(features_N_D)
    reference = np.asarray(reference_M, dtype=np.int64)
    n = unit.shape[0]
    ref_unit = unit[reference]
    sums = np.zeros(n)
    for rows in row_chunks(n, reference.size, CHUNK_ELEMENTS):
        sums[rows] = (unit[rows] @ ref_unit.T).sum(axis=1)
    counts = np.full(n, float(reference.size))
    # remove each reference item's similarity to itself (1, or 0 for a zero vector)
    self_sim = np.einsum("md,md->m", ref_unit, ref_unit).astype(np.float64)
    sums[reference] -= self_sim
    counts[reference] -= 1.0
    return np.divide(sums, counts, out=np.zeros(n), where=counts > 0)


@register_strategy
class EntropyRedundancyStrategy(Strategy):
    """Hybrid score ``H[p_i] - α r_i``: predictive entropy minus feature redundancy.

    See the module docstring for the definitions. Requires ``features_N_D``.

    Parameters
    ----------
    alpha : float, default 1.0
        Weight ``α >= 0`` of the redundancy (entropy is in nats, redundancy in
        ``[-1, 1]``).
    n_reference : int, default 256
        Size ``M`` of the random reference sample (all items when ``N <= M``).
    greedy : bool, default False
        ``False``: ``select`` is the top-``k`` of :meth:`score` (ties by lower index).
        ``True``: pick one at a time, raising each candidate's redundancy to its
        highest cosine similarity to the items already picked.

    Notes
    -----
    ``select`` draws the reference sample from its ``rng``; :meth:`score`, which has no
    ``rng`` argument, draws it from ``numpy.random.default_rng(0)``.
    """

    name = "entropy_redundancy"
    requires = frozenset({"features"})

    def __init__(self, alpha: float = 1.0, n_reference: int = 256, greedy: bool = False) -> None:
        alpha = float(alpha)
        if not np.isfinite(alpha) or alpha < 0:
            raise ValueError(f"strategy 'entropy_redundancy': alpha must be >= 0, got {alpha}")
        self.alpha = alpha
        self.n_reference = check_positive_int(self.name, "n_reference", n_reference)
        self.greedy = bool(greedy)

    def __repr__(self) -> str:
        return (
            f"EntropyRedundancyStrategy(alpha={self.alpha!r}, "
            f"n_reference={self.n_reference!r}, greedy={self.greedy!r})"
        )

    def _reference(self, n: int, rng: np.random.Generator) -> np.ndarray:
        if n <= self.n_reference:
            return np.arange(n, dtype=np.int64)
        return np.sort(rng.choice(n, size=self.n_reference, replace=False)).astype(np.int64)

    def _scores(self, estimate: PoolEstimate, rng: np.random.Generator) -> np.ndarray:
        features = field_array(estimate, "features", self.name)
        redundancy = mean_cosine_redundancy(features, self._reference(estimate.n_items, rng))
        return entropy(estimate.probs_N_C) - self.alpha * redundancy

    def score(self, estimate: PoolEstimate) -> np.ndarray:
        """Per-item ``H[p_i] - α r_i`` with the reference sample from ``default_rng(0)``.

        Parameters
        ----------
        estimate : PoolEstimate
            Must carry ``features_N_D``.

        Returns
        -------
        ndarray of float64, shape (N,)
            Higher = more informative.
        """
        check_estimate(estimate, self.name, self.requires)
        return self._scores(estimate, np.random.default_rng(0))

    def select(
        self,
        estimate: PoolEstimate,
        k: int,
        selectable_N: np.ndarray,
        rng: np.random.Generator,
    ) -> np.ndarray:
        """Top-``k`` by score, or greedy picks with batch redundancy when ``greedy``.

        Parameters
        ----------
        estimate : PoolEstimate
            Must carry ``features_N_D``.
        k : int
            How many to pick.
        selectable_N : ndarray of bool, shape (N,)
            Items that may be picked.
        rng : numpy.random.Generator
            Draws the reference sample.

        Returns
        -------
        ndarray of int64, shape (min(k, selectable_N.sum()),)
            Most informative first; ties go to the lower index.
        """
        k, candidates = check_select_args(self, estimate, k, selectable_N)
        if k == 0:
            return empty_indices()
        features = field_array(estimate, "features", self.name)
        redundancy_N = mean_cosine_redundancy(features, self._reference(estimate.n_items, rng))
        entropy_N = entropy(estimate.probs_N_C)
        if not self.greedy:
            return top_k(entropy_N - self.alpha * redundancy_N, k, candidates)
        unit = unit_rows(features[candidates])
        entropy_n = entropy_N[candidates]
        redundancy_n = redundancy_N[candidates]
        max_sim_n = np.full(candidates.size, -np.inf)
        picked = np.zeros(candidates.size, dtype=bool)
        order = np.empty(k, dtype=np.int64)
        for step in range(k):
            score_n = entropy_n - self.alpha * np.maximum(redundancy_n, max_sim_n)
            j = int(np.argmax(np.where(picked, -np.inf, score_n)))
            order[step] = j
            picked[j] = True
            if step + 1 < k:
                np.maximum(max_sim_n, (unit @ unit[j]).astype(np.float64), out=max_sim_n)
        return candidates[order]
