"""The strategy interface: what every acquisition strategy takes and returns.

Shape convention (used across :mod:`alwidget.strategies` and :mod:`alwidget.uncertainty`):
``N`` pool items, ``C`` classes, ``T`` posterior samples, ``D`` feature dimensions.
Array names carry their shapes: ``probs_N_C``, ``samples_T_N_C``, ``features_N_D``.
Logarithms are natural.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import ClassVar, FrozenSet, Optional, Tuple

import numpy as np


@dataclass(frozen=True)
class PoolEstimate:
    """What the model believes about every pool item, as plain arrays.

    Attributes
    ----------
    probs_N_C : ndarray of shape (N, C)
        Mean predictive probabilities (rows sum to 1).
    samples_T_N_C : ndarray of shape (T, N, C), optional
        Posterior samples of the class probabilities (MC dropout passes, ensemble
        members, Laplace samples). ``None`` for a deterministic model.
    features_N_D : ndarray of shape (N, D), optional
        The head's input features (penultimate layer), for diversity strategies.
    alpha_N_C : ndarray of shape (N, C), optional
        Dirichlet concentrations from an evidential head.
    labeled_N : ndarray of bool, shape (N,), optional
        ``True`` for items with a training label (for coverage-based and budget-aware
        strategies); ``None`` when unknown.
    labels_N : ndarray of int, shape (N,), optional
        The class index of each item's training label, ``-1`` for items without one (what
        coverage rules count: the model may predict a labelled item of a rare class as another
        class); ``None`` when unknown.
    """

    probs_N_C: np.ndarray
    samples_T_N_C: Optional[np.ndarray] = None
    features_N_D: Optional[np.ndarray] = None
    alpha_N_C: Optional[np.ndarray] = None
    labeled_N: Optional[np.ndarray] = None
    labels_N: Optional[np.ndarray] = None

    @property
    def n_items(self) -> int:
        """Number of pool items ``N``."""
        return int(self.probs_N_C.shape[0])


class Strategy(ABC):
    """An acquisition strategy: picks the next items to label.

    Subclasses set :attr:`name` (the registry key) and :attr:`requires` (which optional
    fields of :class:`PoolEstimate` they read: a subset of ``{"samples", "features",
    "alpha"}``), and implement :meth:`select`. Per-item strategies also implement
    :meth:`score`.
    """

    name: ClassVar[str] = ""
    requires: ClassVar[FrozenSet[str]] = frozenset()
    fills_batch: ClassVar[bool] = True
    """``True`` when :meth:`select` always returns ``min(k, selectable_N.sum())`` items.

    ``False`` for strategies that may legitimately return fewer (the stream-style
    ``threshold`` strategy returns only the items above its threshold)."""

    def score(self, estimate: PoolEstimate) -> Optional[np.ndarray]:
        """Per-item informativeness, shape ``(N,)``, higher = more informative.

        Returns ``None`` for strategies that only rank batches (core-set, BADGE, ...).
        """
        return None

    @abstractmethod
    def select(
        self,
        estimate: PoolEstimate,
        k: int,
        selectable_N: np.ndarray,
        rng: np.random.Generator,
    ) -> np.ndarray:
        """Pick up to ``k`` distinct indices among ``selectable_N``, most informative first.

        Parameters
        ----------
        estimate : PoolEstimate
            Beliefs over all ``N`` pool items (labeled ones included, so diversity
            strategies can use labeled items as centres).
        k : int
            How many to pick; fewer are returned when fewer are selectable.
        selectable_N : ndarray of bool, shape (N,)
            ``True`` where an item may be picked (unlabeled, not in validation).
        rng : numpy.random.Generator
            The only source of randomness (ties, sampling).

        Returns
        -------
        ndarray of int64, shape (min(k, selectable_N.sum()),)
            Fewer items only when :attr:`fills_batch` is ``False``.
        """

    def rule(self, estimate: PoolEstimate) -> Tuple[str, str]:
        """``(rule, reason)``: which rule :meth:`select` applies to ``estimate`` and why, in
        words (a budget-aware strategy switches rules with the labels; others always apply
        their own)."""
        return self.name, ""

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"
