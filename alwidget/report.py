"""What a cycle reports: accuracy with a confidence interval, per-class metrics, the pool's
uncertainty histogram and bands, timings. Pure functions on arrays plus the
:class:`CycleReport` record."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np

BAND_EDGES: Tuple[float, float] = (0.2, 0.5)
"""Normalised-entropy thresholds between the *easy*, *medium* and *hard* bands."""

HISTOGRAM_BINS = 20
"""Bins of the pool uncertainty histogram over ``[0, 1]``."""


def wilson_interval(successes: int, n: int, z: float = 1.959963984540054) -> Tuple[float, float]:
    """Wilson score interval for a binomial proportion (95 % by default).

    Returns ``(nan, nan)`` for ``n == 0``. Unlike the normal approximation it stays inside
    ``[0, 1]`` and is sensible for small validation sets and accuracies near 1.
    """
    if n <= 0:
        return (math.nan, math.nan)
    p = successes / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    lo = 0.0 if successes <= 0 else max(0.0, centre - half)
    hi = 1.0 if successes >= n else min(1.0, centre + half)
    return (lo, hi)


ENTROPY_CHUNK_ROWS = 65536
"""Rows per block of :func:`normalized_entropy` (its temporaries are a few ``[rows, C]`` float64
arrays: 250 MB at 1,000,000 items and 10 classes in one block)."""


def normalized_entropy(probs_N_C: np.ndarray) -> np.ndarray:
    """Predictive entropy divided by ``log C``: ``[N]`` values in ``[0, 1]`` (0 = certain),
    computed in blocks of :data:`ENTROPY_CHUNK_ROWS` rows."""
    probs = np.asarray(probs_N_C)
    n, c = probs.shape
    if c < 2:
        return np.zeros(n)
    h = np.empty(n)
    for s in range(0, n, ENTROPY_CHUNK_ROWS):
        p = np.asarray(probs[s:s + ENTROPY_CHUNK_ROWS], dtype=np.float64)
        with np.errstate(divide="ignore", invalid="ignore"):
            h[s:s + len(p)] = -np.where(p > 0, p * np.log(p), 0.0).sum(1)
    return np.clip(h / math.log(c), 0.0, 1.0)


def uncertainty_band(u_N: np.ndarray) -> np.ndarray:
    """``"easy"`` / ``"medium"`` / ``"hard"`` for normalised uncertainties ``u_N`` (see :data:`BAND_EDGES`)."""
    u = np.asarray(u_N, dtype=float)
    return np.where(u < BAND_EDGES[0], "easy", np.where(u < BAND_EDGES[1], "medium", "hard"))


def per_class_metrics(y_true: Sequence[int], y_pred: Sequence[int], classes: Sequence[str]) -> Dict[str, Dict[str, float]]:
    """Precision, recall and support per class name (precision is NaN for a class never predicted)."""
    yt, yp = np.asarray(y_true, dtype=int), np.asarray(y_pred, dtype=int)
    out: Dict[str, Dict[str, float]] = {}
    for c, name in enumerate(classes):
        tp = int(np.sum((yp == c) & (yt == c)))
        pred, true = int(np.sum(yp == c)), int(np.sum(yt == c))
        out[name] = {
            "precision": tp / pred if pred else math.nan,
            "recall": tp / true if true else math.nan,
            "support": true,
        }
    return out


def balanced_accuracy(y_true: Sequence[int], y_pred: Sequence[int]) -> float:
    """Mean recall over the classes present in ``y_true``, in ``[0, 1]`` (NaN when empty)."""
    yt, yp = np.asarray(y_true, dtype=int), np.asarray(y_pred, dtype=int)
    if len(yt) == 0:
        return math.nan
    return float(np.mean([np.mean(yp[yt == c] == c) for c in np.unique(yt)]))


@dataclass
class Histogram:
    """Counts of pool items per uncertainty bin, for unlabelled and labelled items.

    ``edges`` has ``bins + 1`` values in ``[0, 1]``; ``bands`` counts unlabelled items per band.
    """

    edges: List[float]
    unlabeled: List[int]
    labeled: List[int]
    bands: Dict[str, int]


def uncertainty_histogram(u_N: np.ndarray, labeled_N: np.ndarray, bins: int = HISTOGRAM_BINS) -> Histogram:
    """Histogram of normalised uncertainties, split by whether the item is labelled."""
    u = np.asarray(u_N, dtype=float)
    lab = np.asarray(labeled_N, dtype=bool)
    edges = np.linspace(0.0, 1.0, bins + 1)
    unl = np.histogram(u[~lab], bins=edges)[0]
    labc = np.histogram(u[lab], bins=edges)[0]
    bands = uncertainty_band(u[~lab])
    return Histogram(edges.tolist(), unl.tolist(), labc.tolist(),
                     {b: int(np.sum(bands == b)) for b in ("easy", "medium", "hard")})


@dataclass
class CycleReport:
    """The record of one cycle (train → score → select).

    Attributes
    ----------
    cycle : int
        1 for the first cycle.
    n_labels : int
        Training labels the model was trained on (validation labels not counted).
    n_validation : int
        Validation labels used for the figures below.
    accuracy : float
        Validation accuracy in ``[0, 1]`` (NaN without validation labels).
    accuracy_ci : (float, float)
        Its 95 % Wilson interval.
    per_class : dict
        ``{class: {"precision", "recall", "support"}}`` on the validation set.
    histogram : Histogram or None
        Pool uncertainty (normalised entropy) histogram.
    score_gap : float
        Mean uncertainty of unlabelled minus labelled training items.
    topk_overlap : float or None
        Share of this cycle's top-k (k = the last query size) that was in the previous
        cycle's top-k; ``None`` on the first cycle.
    timings : dict
        Seconds per step: ``"features"`` (embedding the pool: once in embed mode, after each
        training in finetune mode), ``"train"``, ``"score"``, ``"report"``, ``"total"``; in
        ``semi`` mode also ``"graph"``, the part of ``"train"`` spent propagating the labels on
        the graph and picking the pseudo-labels.
    strategy, estimator : str
        Names used.
    labels_version : int
        The label-store version the cycle trained on.
    stale : bool
        Labels changed while the cycle ran; the next cycle is due.
    error : str or None
        The message of the exception that ended the cycle, if it failed.
    cancelled : bool
        The cycle was cancelled (then ``error`` says so too).
    unreadable : list of (str, str)
        Items whose image could not be read during this cycle, with the reason; they are
        skipped from now on (and listed in ``pool.skipped``).
    train_steps, train_epochs : int
        What the trainer did.
    test_accuracy : float or None
        Accuracy on a held-out test pool, set by simulations.
    selection, selection_reason : str
        The rule the next query uses (for the budget-aware default: ``"typiclust"`` while
        labels are few, then ``"margin"``) and why, in words.
    pseudo_labels : int
        Unlabelled pool items the fast cycle's head was also trained on (never stored, never
        counted as labels).
    representation : str
        The representation the cycle used (``"pretrained"``, ``"contrastive"``, ``"pca"``, with
        ``"+refined on N labels"`` after a slow cycle; empty outside ``semi`` mode).
    representation_reason : str
        Why the labels chose it, with each candidate's cross-validated accuracy.
    representation_scores : dict
        ``{candidate: cross-validated accuracy in [0, 1]}`` (empty before there are labels to judge).
    balanced_accuracy : float
        Mean per-class recall on the validation set (over the classes it holds), in ``[0, 1]``:
        beside ``accuracy`` when one class dominates.
    class_priors : dict
        ``{class: share}`` estimated from the labels (the random validation set when it is
        labelled): what propagation, pseudo-labels and predictions follow.
    """

    cycle: int
    n_labels: int = 0
    n_validation: int = 0
    accuracy: float = math.nan
    accuracy_ci: Tuple[float, float] = (math.nan, math.nan)
    per_class: Dict[str, Dict[str, float]] = field(default_factory=dict)
    histogram: Optional[Histogram] = None
    score_gap: float = math.nan
    topk_overlap: Optional[float] = None
    timings: Dict[str, float] = field(default_factory=dict)
    strategy: str = ""
    estimator: str = ""
    labels_version: int = 0
    stale: bool = False
    error: Optional[str] = None
    cancelled: bool = False
    unreadable: List[Tuple[str, str]] = field(default_factory=list)
    train_steps: int = 0
    train_epochs: int = 0
    test_accuracy: Optional[float] = None
    selection: str = ""
    selection_reason: str = ""
    pseudo_labels: int = 0
    representation: str = ""
    representation_reason: str = ""
    representation_scores: Dict[str, float] = field(default_factory=dict)
    balanced_accuracy: float = math.nan
    class_priors: Dict[str, float] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        """``True`` unless the cycle failed."""
        return self.error is None

    def to_dict(self) -> dict:
        """A JSON-serialisable copy."""
        return asdict(self)

    def summary(self) -> str:
        """One line for a status bar or a log."""
        if self.error:
            return f"cycle {self.cycle} failed: {self.error}"
        acc = "n/a" if math.isnan(self.accuracy) else (
            f"{100 * self.accuracy:.1f}% [{100 * self.accuracy_ci[0]:.1f}–{100 * self.accuracy_ci[1]:.1f}]")
        if not math.isnan(self.balanced_accuracy):
            acc += f" (balanced {100 * self.balanced_accuracy:.1f}%)"
        stale = " (stale: labels changed meanwhile)" if self.stale else ""
        return (f"cycle {self.cycle}: {self.n_labels} labels, validation accuracy {acc} on "
                f"{self.n_validation}, {self.timings.get('total', 0.0):.1f} s{stale}")


def cycle_report(*, cycle: int, labels_version: int, classes: Sequence[str], probs_N_C: np.ndarray,
                 uncertainty_N: np.ndarray, scores_N: np.ndarray, labeled_N: np.ndarray, selectable_N: np.ndarray,
                 validation_V: np.ndarray, y_validation_V: np.ndarray, k: int, previous_top: Optional[np.ndarray],
                 strategy: str, estimator: str, train_steps: int, train_epochs: int
                 ) -> Tuple[CycleReport, np.ndarray]:
    """A cycle's :class:`CycleReport` from the pool's beliefs, and the ``k`` selectable items the
    scores rank first (``[<=k]`` positions; pass them back as ``previous_top`` next cycle for the
    overlap of the two top-k lists).

    Validation accuracy (Wilson interval), per-class and balanced accuracy are measured on the
    validation items ``validation_V`` (positions, classes ``y_validation_V``; NaN without any);
    the uncertainty histogram covers the labelled and selectable items, and ``score_gap`` is the
    mean uncertainty of the selectable items minus that of the labelled ones.
    """
    n_val = len(validation_V)
    if n_val:
        pred = probs_N_C[validation_V].argmax(1)
        correct = int(np.sum(pred == y_validation_V))
        acc, ci = correct / n_val, wilson_interval(correct, n_val)
        per_class = per_class_metrics(y_validation_V, pred, classes)
        bal = balanced_accuracy(y_validation_V, pred)
    else:
        acc, ci, per_class, bal = math.nan, (math.nan, math.nan), {}, math.nan
    shown = selectable_N | labeled_N
    hist = uncertainty_histogram(uncertainty_N[shown], labeled_N[shown])
    gap = (float(np.mean(uncertainty_N[selectable_N]) - np.mean(uncertainty_N[labeled_N]))
           if selectable_N.any() and labeled_N.any() else math.nan)
    cand = np.flatnonzero(selectable_N)
    top = cand[np.argsort(-scores_N[cand], kind="stable")[:k]] if len(cand) else cand
    overlap = None
    if previous_top is not None and len(previous_top):
        overlap = len(set(top.tolist()) & set(previous_top.tolist())) / len(previous_top)
    report = CycleReport(
        cycle=cycle, n_labels=int(labeled_N.sum()), n_validation=n_val, accuracy=acc, accuracy_ci=ci,
        per_class=per_class, histogram=hist, score_gap=gap, topk_overlap=overlap, strategy=strategy,
        estimator=estimator, labels_version=labels_version, train_steps=train_steps, train_epochs=train_epochs,
        balanced_accuracy=bal)
    return report, top
