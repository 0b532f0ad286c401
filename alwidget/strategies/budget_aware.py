"""The budget-aware default: typical points while labels are few, uncertainty once classes are covered.

Hacohen et al. (2022) measured a "budget phase transition": with few labels, uncertainty
sampling is worse than random (the model's uncertainty is not yet trustworthy) and picking
typical, covering points of a good representation is far better; with more labels the order
flips. This strategy applies ``low`` (TypiClust) until ``switch_per_class × C`` training
labels exist, **and** every class has at least ``min_per_class`` of them (or, whatever the
coverage, ``max_per_class × C`` labels exist), then ``high``
(BADGE: uncertain *and* diverse, Ash et al. 2020). :meth:`rule` says which applies and why; the
learner puts that in the report.

Why BADGE and not plain margin for the second phase: on real collections full of
near-duplicates and with one dominant class (the emoji set's skin-tone variants), the top-k of
margin picks look-alikes and lost to random selection by 1–2 points at 100–200 labels on the
development splits, while BADGE's k-means++ seeding on gradient embeddings beat random by 1–4
(BENCHMARKS.md, "Real images"). Pass ``high="margin"`` for the previous rule.
"""

from __future__ import annotations

from typing import Optional, Tuple, Union

import numpy as np

from ._common import check_positive_int, check_select_args
from .base import PoolEstimate, Strategy
from .registry import create_strategy, register_strategy

__all__ = ["BudgetAwareStrategy"]


@register_strategy
class BudgetAwareStrategy(Strategy):
    """``low`` while labels are few, ``high`` afterwards.

    Parameters
    ----------
    low : str or Strategy, default "typiclust"
        Rule for small budgets (needs features).
    high : str or Strategy, default "badge"
        Rule once the classes are covered.
    switch_per_class : int, default 3
        Switch once there are at least this many training labels per class on average...
    min_per_class : int, default 1
        ... and every class has at least this many training labels (a class with none yet has
        no trustworthy uncertainty either) ...
    max_per_class : int or None, default 6
        ... or, whatever the coverage, once there are this many training labels per class on
        average: on an imbalanced pool full of near-duplicates, typical points keep coming from
        the dense majority class, and a rare class can stay uncovered for a long time (on the emoji
        development split, 120 labels). ``None``: wait for coverage however long it takes.
    """

    name = "budget_aware"
    requires = frozenset({"features"})

    def __init__(self, low: Union[str, Strategy] = "typiclust", high: Union[str, Strategy] = "badge",
                 switch_per_class: int = 3, min_per_class: int = 1, max_per_class: Optional[int] = 6) -> None:
        self.low = create_strategy(low)
        self.high = create_strategy(high)
        self.switch_per_class = check_positive_int(self.name, "switch_per_class", switch_per_class)
        self.min_per_class = check_positive_int(self.name, "min_per_class", min_per_class)
        self.max_per_class = (None if max_per_class is None
                              else check_positive_int(self.name, "max_per_class", max_per_class))
        self.requires = frozenset(self.low.requires | self.high.requires | {"features"})

    def __repr__(self) -> str:
        return (f"BudgetAwareStrategy(low={self.low.name!r}, high={self.high.name!r}, "
                f"switch_per_class={self.switch_per_class!r}, min_per_class={self.min_per_class!r}, "
                f"max_per_class={self.max_per_class!r})")

    def _use_low(self, estimate: PoolEstimate) -> Tuple[bool, str]:
        n_classes = estimate.probs_N_C.shape[1]
        if estimate.labeled_N is None:
            return True, "no labels known yet (cold start)"
        labeled = np.asarray(estimate.labeled_N, dtype=bool)
        n = int(labeled.sum())
        need = self.switch_per_class * n_classes
        if n < need:
            return True, (f"{n} training labels < {need} ({self.switch_per_class} per class): the model's "
                          "uncertainty is not yet trustworthy, so typical points of uncovered clusters")
        if estimate.labels_N is not None:  # the labels themselves
            given = np.asarray(estimate.labels_N, dtype=np.int64)[labeled]
            per_class = np.bincount(given[given >= 0], minlength=n_classes)
        else:  # no labels given: the model's (one-hot-like) predictions of the labelled items
            per_class = np.bincount(estimate.probs_N_C[labeled].argmax(1), minlength=n_classes)
        if per_class.min() < self.min_per_class:
            missing = int(np.sum(per_class < self.min_per_class))
            if self.max_per_class is not None and n >= self.max_per_class * n_classes:
                return False, (f"{n} training labels ≥ {self.max_per_class * n_classes} ({self.max_per_class} per "
                               f"class), {missing} class(es) still uncovered: typical points have stopped finding "
                               f"them, so the most uncertain, diverse items ({self.high.name})")
            return True, f"{missing} class(es) have fewer than {self.min_per_class} label(s): keep covering"
        return False, f"{n} training labels ≥ {need} and every class covered: the most uncertain items ({self.high.name})"

    def rule(self, estimate: PoolEstimate) -> Tuple[str, str]:
        """``(rule name, reason)`` for ``estimate``."""
        low, why = self._use_low(estimate)
        return (self.low.name if low else self.high.name), why

    def score(self, estimate: PoolEstimate):
        """The ``high`` rule's per-item scores (what the uncertainty histogram's ranking shows)."""
        return self.high.score(estimate)

    def select(self, estimate: PoolEstimate, k: int, selectable_N: np.ndarray,
               rng: np.random.Generator) -> np.ndarray:
        """``low.select`` or ``high.select``, by :meth:`rule`."""
        check_select_args(self, estimate, k, selectable_N)
        low, _ = self._use_low(estimate)
        return (self.low if low else self.high).select(estimate, k, selectable_N, rng)
