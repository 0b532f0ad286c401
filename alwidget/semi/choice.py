"""The labels choose the representation: cross-validated accuracy of the graph classifier.

Several representations of one pool can be at hand (pretrained features, a self-supervised
trunk, the slow cycle's fine-tuned trunk, principal components of the pixels). Which is best
depends on the pool, so no prior about the data is hard-coded: the labels decide.
:func:`cross_validated_accuracy` splits the labelled items into folds, propagates the other
folds' labels over a candidate's kNN graph (the fast cycle's classifier, with the class priors)
and counts how many held-out labels it gets right; :func:`choose_representation` keeps the best.
Pure functions on graphs and label arrays.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Dict, Mapping, Optional, Sequence

import numpy as np

from .graph import KNNGraph
from .propagate import propagate

__all__ = ["RepresentationChoice", "choose_representation", "cross_validated_accuracy", "MIN_LABELS_TO_JUDGE"]

MIN_LABELS_TO_JUDGE = 10
"""Below this many labels the candidates are not judged: the first ready one in the order is used."""


def cross_validated_accuracy(graph: KNNGraph, labeled_L: np.ndarray, y_L: np.ndarray, n_classes: int, *,
                             prior_C: Optional[np.ndarray] = None, folds: int = 5, seed: int = 0,
                             method: str = "poisson") -> float:
    """Share in ``[0, 1]`` of labelled items whose class the graph predicts from the other folds' labels.

    Parameters
    ----------
    graph : KNNGraph
        The candidate representation's kNN graph of the whole pool.
    labeled_L, y_L : arrays of int, shape (L,)
        Positions of labelled items in the graph and their classes.
    n_classes : int
    prior_C : ndarray, optional
        Class shares for the propagation (see :func:`~alwidget.semi.propagate.propagate`).
    folds : int
        Folds (at most ``L``); items are assigned at random (seeded), not stratified, so a class
        with a single label still counts (it is then predicted without its own label: wrong).
    """
    pos = np.asarray(labeled_L, dtype=np.int64)
    y = np.asarray(y_L, dtype=np.int64)
    if len(pos) != len(y) or len(pos) < 2:
        raise ValueError("cross-validation needs at least two labelled items, one class each")
    folds = int(min(max(2, folds), len(pos)))
    rng = np.random.default_rng(int(seed))
    fold_of = np.empty(len(pos), dtype=np.int64)
    fold_of[rng.permutation(len(pos))] = np.arange(len(pos)) % folds
    correct = 0
    for f in range(folds):
        held, kept = fold_of == f, fold_of != f
        probs = propagate(graph, pos[kept], y[kept], n_classes, method=method, prior_C=prior_C)
        correct += int(np.sum(probs[pos[held]].argmax(1) == y[held]))
    return correct / len(pos)


@dataclass
class RepresentationChoice:
    """Which representation the fast cycle uses, and why.

    Attributes
    ----------
    name : str
    scores : dict
        ``{candidate: cross-validated accuracy}`` (empty when not judged).
    reason : str
        One line for the report and the widget.
    """

    name: str
    scores: Dict[str, float] = field(default_factory=dict)
    reason: str = ""


def choose_representation(graphs: Mapping[str, KNNGraph], labeled_L: np.ndarray, y_L: np.ndarray,
                          n_classes: int, *, order: Sequence[str], prior_C: Optional[np.ndarray] = None,
                          current: Optional[str] = None, margin: float = 0.01, folds: int = 5,
                          seed: int = 0, method: str = "poisson") -> RepresentationChoice:
    """The candidate whose graph classifier cross-validates best on the labels.

    Parameters
    ----------
    graphs : mapping of str to KNNGraph
        The candidates at hand.
    labeled_L, y_L : arrays of int
        All labels (validation and training): positions in the pool and classes.
    order : sequence of str
        Preference when the labels cannot decide (fewer than :data:`MIN_LABELS_TO_JUDGE`, or a
        tie): the first one in this order that is at hand.
    current : str, optional
        The representation in use: kept unless another beats it by more than ``margin``
        (a switch rebuilds the head on other features; noise should not cause one).
    """
    at_hand = [name for name in order if name in graphs] + [n for n in graphs if n not in order]
    if not at_hand:
        raise ValueError("no representation at hand to choose from")
    if len(at_hand) == 1:
        return RepresentationChoice(at_hand[0], {}, f"{at_hand[0]}: the only representation ready")
    n = len(labeled_L)
    if n < MIN_LABELS_TO_JUDGE or len(np.unique(y_L)) < 2:
        return RepresentationChoice(at_hand[0], {}, f"{at_hand[0]}: {n} labels are too few to compare "
                                    f"{', '.join(at_hand)} (need {MIN_LABELS_TO_JUDGE} of 2+ classes)")
    scores = {name: cross_validated_accuracy(graphs[name], labeled_L, y_L, n_classes, prior_C=prior_C,
                                             folds=folds, seed=seed, method=method) for name in at_hand}
    rank = {name: i for i, name in enumerate(at_hand)}
    best = max(at_hand, key=lambda name: (round(scores[name], 9), -rank[name]))
    table = ", ".join(f"{name} {100 * scores[name]:.1f}%" for name in at_hand)
    if current in scores and current != best and scores[best] - scores[current] <= margin:
        return RepresentationChoice(current, scores, f"{current}: kept, within {100 * margin:.0f} point(s) of "
                                    f"the best ({folds}-fold accuracy on {n} labels: {table})")
    return RepresentationChoice(best, scores, f"{best}: best {folds}-fold accuracy of the graph classifier on "
                                f"{n} labels ({table})")
