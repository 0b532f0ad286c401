"""Likely mislabels: out-of-sample probabilities by k-fold, ranked by cleanlab.

A label is suspicious when a model that never saw it disagrees with it. The k-fold part
(:func:`out_of_sample_probs`) is plain: split the labelled items into ``n_folds`` stratified
folds, fit on all folds but one, predict the one left out, so every item gets probabilities
``[N, C]`` from a model that did not train on its label. The ranking is cleanlab's confident
learning (:func:`cleanlab.filter.find_label_issues` for the verdict,
:func:`cleanlab.rank.get_label_quality_scores` for the order), not a hand-written copy: it is
the standard library for this, and it estimates per-class thresholds from the data, which a
fixed cut-off on the given label's probability does not.

Everything here is a pure function on arrays. The learner supplies the fitter (its fast cycle on
the pool's features) and the ids.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Callable, List, Tuple

import numpy as np

__all__ = ["RANK_METHODS", "LabelCheck", "LabelIssue", "check_inputs", "fold_assignment", "label_issues_of",
           "out_of_sample_probs", "rank_label_issues"]

#: cleanlab's label-quality scores (``cleanlab.rank.get_label_quality_scores(method=...)``).
RANK_METHODS = ("self_confidence", "normalized_margin", "confidence_weighted_entropy")

#: ``fit_predict(train_idx, y_train, test_idx) -> probs [len(test_idx), C]``
FitPredict = Callable[[np.ndarray, np.ndarray, np.ndarray], np.ndarray]


def fold_assignment(y_N: np.ndarray, n_folds: int, seed: int) -> np.ndarray:
    """Stratified fold of each item: ``fold_N`` in ``0 .. n_folds - 1``.

    Items of each class are shuffled (seeded) and dealt round-robin to the folds, so every
    fold holds about ``1 / n_folds`` of each class; a class with fewer items than folds lands in
    as many folds as it has items (its held-out items are then judged by a model that saw
    fewer or none of that class, which makes them look suspicious; the caller warns).

    Parameters
    ----------
    y_N : int array ``[N]``
    n_folds : int
        At least 2 and at most ``N``.
    seed : int

    Returns
    -------
    int array ``[N]``
    """
    y_N = np.asarray(y_N)
    n = len(y_N)
    if n_folds < 2:
        raise ValueError(f"n_folds must be at least 2, got {n_folds}")
    if n < n_folds:
        raise ValueError(f"{n} labelled items cannot be split into {n_folds} folds; label at least {n_folds} "
                         f"items or pass n_folds={max(2, n)}" if n >= 2 else
                         f"{n} labelled item{'s' if n != 1 else ''}: label at least {n_folds} items first")
    rng = np.random.default_rng(seed)
    fold = np.empty(n, dtype=np.int64)
    start = 0
    for c in np.unique(y_N):
        idx = np.flatnonzero(y_N == c)
        idx = idx[rng.permutation(len(idx))]
        fold[idx] = (start + np.arange(len(idx))) % n_folds  # continue the deal: folds stay even in size
        start = (start + len(idx)) % n_folds
    return fold


def out_of_sample_probs(y_N: np.ndarray, fit_predict: FitPredict, n_classes: int, n_folds: int = 5,
                        seed: int = 0, cancel: Callable[[], None] = lambda: None,
                        progress: Callable[[float], None] = lambda f: None) -> np.ndarray:
    """Probabilities ``[N, C]`` of every labelled item from a model fitted without its fold.

    Parameters
    ----------
    y_N : int array ``[N]``
        Given labels (class indices ``0 .. C - 1``).
    fit_predict : callable
        ``fit_predict(train_idx [M], y_train [M], test_idx [N - M]) -> probs [N - M, C]``;
        indices are positions in ``y_N``.
    n_classes : int
        ``C``.
    n_folds : int
    seed : int
        Seed of the fold assignment.
    cancel : callable
        Called between folds; raises to stop.
    progress : callable
        Called with the fraction done after each fold.

    Returns
    -------
    float array ``[N, C]``, rows summing to 1
    """
    y_N = np.asarray(y_N, dtype=np.int64)
    fold_N = fold_assignment(y_N, n_folds, seed)
    probs_N_C = np.full((len(y_N), n_classes), np.nan)
    for f in range(n_folds):
        cancel()
        test = np.flatnonzero(fold_N == f)
        train = np.flatnonzero(fold_N != f)
        p = np.asarray(fit_predict(train, y_N[train], test), dtype=np.float64)
        if p.shape != (len(test), n_classes):
            raise ValueError(f"fit_predict returned shape {p.shape}, expected {(len(test), n_classes)}")
        probs_N_C[test] = p
        progress((f + 1) / n_folds)
    if not np.all(np.isfinite(probs_N_C)):
        raise FloatingPointError("the fold models produced non-finite probabilities")
    return probs_N_C / probs_N_C.sum(1, keepdims=True)


def rank_label_issues(labels_N: np.ndarray, probs_N_C: np.ndarray, method: str = "self_confidence"
                      ) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Rank given labels from most to least likely wrong, with cleanlab.

    Classes no item is labelled with are dropped (and the rows renormalised) before cleanlab
    sees them: nobody can have mislabelled an item *as* such a class, and confident learning
    needs every class it is given to occur.

    Parameters
    ----------
    labels_N : int array ``[N]``
        Given labels.
    probs_N_C : float array ``[N, C]``
        Out-of-sample probabilities (:func:`out_of_sample_probs`).
    method : str
        One of :data:`RANK_METHODS`.

    Returns
    -------
    order_N : int array ``[N]``
        Positions, most suspicious first (ties: lower position first).
    quality_N : float array ``[N]``
        cleanlab's label quality in ``[0, 1]`` (low: likely wrong).
    flagged_N : bool array ``[N]``
        cleanlab's confident-learning verdict (``find_label_issues``, ``prune_by_noise_rate``).
    """
    if method not in RANK_METHODS:
        raise ValueError(f"method must be one of {RANK_METHODS}, got {method!r}")
    labels_N = np.asarray(labels_N, dtype=np.int64)
    probs_N_C = np.asarray(probs_N_C, dtype=np.float64)
    if probs_N_C.ndim != 2 or len(probs_N_C) != len(labels_N):
        raise ValueError(f"probs_N_C must be [N, C] with N = {len(labels_N)}, got shape {probs_N_C.shape}")
    n = len(labels_N)
    if n == 0:
        return np.zeros(0, np.int64), np.zeros(0), np.zeros(0, bool)
    present = np.unique(labels_N)
    if len(present) < 2:
        raise ValueError("every label is the same class: checking labels needs at least two classes labelled")
    from cleanlab.filter import find_label_issues
    from cleanlab.rank import get_label_quality_scores

    remap = np.full(probs_N_C.shape[1], -1, dtype=np.int64)
    remap[present] = np.arange(len(present))
    y = remap[labels_N]
    p = probs_N_C[:, present] + 1e-12
    p = p / p.sum(1, keepdims=True)
    quality_N = np.asarray(get_label_quality_scores(y, p, method=method), dtype=np.float64)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # "too few examples in class ...": said by the caller
        # n_jobs=1: no worker processes forked from a process that runs torch threads (the widget)
        flagged_N = np.asarray(find_label_issues(y, p, filter_by="prune_by_noise_rate", n_jobs=1), dtype=bool)
    order_N = np.lexsort((np.arange(n), quality_N))
    return order_N, quality_N, flagged_N


@dataclass(frozen=True)
class LabelIssue:
    """One given label and what a model that never saw it thinks of it.

    Attributes
    ----------
    item_id : str
    label : str
        The label as given (the current one in the store).
    suggestion : str
        The class the out-of-sample model finds most probable.
    score : float
        Suspicion in ``[0, 1]``: one minus cleanlab's label quality (high: likely wrong).
    probability : float
        Out-of-sample probability of the given label.
    suggestion_probability : float
        Out-of-sample probability of ``suggestion``.
    split : str
        ``"train"`` or ``"validation"``.
    flagged : bool
        cleanlab's confident-learning verdict: a label issue.
    """

    item_id: str
    label: str
    suggestion: str
    score: float
    probability: float
    suggestion_probability: float
    split: str
    flagged: bool


@dataclass
class LabelCheck(Sequence):
    """The labels ranked from most to least likely wrong (a sequence of :class:`LabelIssue`).

    Attributes
    ----------
    issues : list of LabelIssue
        Most suspicious first; labels confirmed or corrected in a review are left out unless
        asked for.
    n_checked : int
        Labels given out-of-sample probabilities (train and validation, reviewed included).
    n_folds : int
    method : str
        cleanlab's ranking score (:data:`RANK_METHODS`).
    seconds : float
        Wall time of the check.
    labels_version : int
        The learner's label version the check read.
    notes : list of str
        What limits the check (e.g. a class with fewer labels than folds).
    """

    issues: List[LabelIssue] = field(default_factory=list)
    n_checked: int = 0
    n_folds: int = 0
    method: str = "self_confidence"
    seconds: float = 0.0
    labels_version: int = 0
    notes: List[str] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.issues)

    def __getitem__(self, i):  # type: ignore[override]
        return self.issues[i]

    @property
    def flagged(self) -> List[LabelIssue]:
        """The issues cleanlab calls label errors, most suspicious first."""
        return [issue for issue in self.issues if issue.flagged]

    @property
    def ids(self) -> List[str]:
        """Item ids in ranked order."""
        return [issue.item_id for issue in self.issues]

    def summary(self) -> str:
        """One line: how many labels look wrong."""
        n = len(self.flagged)
        return (f"{n} of {self.n_checked} labels look wrong ({self.n_folds}-fold check, "
                f"{self.seconds:.1f} s)" if self.n_checked else "no labels to check")


def check_inputs(y_N: np.ndarray, n_folds: int, classes: Sequence) -> List[str]:
    """Refuse labels that cannot be checked by ``n_folds``-fold cross-validation, with what to
    do; return the notes on what limits the check (classes with fewer labels than folds).

    ``y_N`` ``[N]``: class indices of the labels; ``classes``: their names.
    """
    y_N = np.asarray(y_N, dtype=np.int64)
    n = len(y_N)
    if n == 0:
        raise ValueError("no labels yet: label some items before checking them")
    if len(np.unique(y_N)) < 2:
        raise ValueError(f"all {n} labels are {classes[int(y_N[0])]!r}: checking labels needs labels of at "
                         "least two classes")
    if int(n_folds) < 2:
        raise ValueError(f"n_folds must be at least 2, got {n_folds}")
    if n < n_folds:
        raise ValueError(f"{n} labels cannot be split into {n_folds} folds: label at least {n_folds} "
                         f"items, or pass n_folds={max(2, n)}" if n >= 2 else
                         f"1 label: label at least {n_folds} items first")
    counts = np.bincount(y_N, minlength=len(classes))
    few = [classes[c] for c in np.flatnonzero((counts > 0) & (counts < n_folds))]
    if not few:
        return []
    return [f"fewer labels than folds in {', '.join(map(repr, few))}: their labels are judged by models "
            "that saw few or none of that class, so they look more suspicious than they are"]


def label_issues_of(items: Sequence[str], y_N: np.ndarray, probs_N_C: np.ndarray, classes: Sequence[str],
                    splits: Sequence[str], reviewed: Sequence[bool], *, method: str = "self_confidence",
                    include_reviewed: bool = False) -> List[LabelIssue]:
    """The :class:`LabelIssue` of every label, most suspicious first (cleanlab's order, see
    :func:`rank_label_issues`), leaving out those already ``reviewed`` unless ``include_reviewed``.

    ``items`` ``[N]`` ids, ``y_N`` their given classes, ``probs_N_C`` out-of-sample probabilities,
    ``splits`` ``[N]`` ``"train"``/``"validation"``, ``reviewed`` ``[N]`` bool.
    """
    order, quality, flagged = rank_label_issues(y_N, probs_N_C, method=method)
    issues = []
    for j in order:
        if reviewed[j] and not include_reviewed:
            continue
        s = int(np.argmax(probs_N_C[j]))
        issues.append(LabelIssue(items[j], classes[y_N[j]], classes[s], float(1.0 - quality[j]),
                                 float(probs_N_C[j, y_N[j]]), float(probs_N_C[j, s]), splits[j], bool(flagged[j])))
    return issues
