"""The labels choose the representation, and how the fast cycle learns on it.

Several representations of one pool can be at hand (pretrained features, a self-supervised
trunk, the slow cycle's fine-tuned trunk, principal components of the pixels), and two ways to
learn on each: spreading the labels over the kNN graph (Poisson learning, whose confident
predictions become the head's pseudo-labels) or a linear classifier on the labels alone. Which
is best depends on the pool — the graph wins where classes are clusters of look-alikes (digits),
a linear probe where classes are semantic groups a pretrained trunk separates but whose
neighbours cross classes (emoji categories: measured in BENCHMARKS.md) — so no prior about the
data is hard-coded: the labels decide. :func:`cross_validated_accuracy` holds out folds of the
labels and counts how many the other folds predict right; :func:`choose_representation` keeps
the best pair. Pure functions on graphs, features and label arrays.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Dict, Mapping, Optional, Sequence, Tuple

import numpy as np

from .graph import KNNGraph
from .propagate import propagate_many

__all__ = ["CLASSIFIERS", "RepresentationChoice", "choose_representation", "cross_validated_accuracy",
           "without_near_copies",
           "cross_validated_hits", "linear_probe", "MIN_LABELS_TO_JUDGE", "JUDGE_TOL", "SWITCH_SE",
           "SUCCESSOR_SE", "beats_incumbent"]

#: Relative residual of the judgement's Poisson solves: the reference tolerance, tighter than the
#: fast cycle's (:data:`~alwidget.semi.propagate.PROPAGATION_TOL`). The judgement compares
#: candidates by a few held-out labels and runs after the cycle, off the person's wait, so it does
#: not trade accuracy for time. (On the Fashion-MNIST training split, seed 0, its choice was the
#: same at 1e-3 and at 1e-5 for the same cycles: BENCHMARKS.md.)
JUDGE_TOL = 1e-5

CLASSIFIERS = ("graph", "linear")
"""How the fast cycle learns on a representation: ``graph`` (propagation + pseudo-labels for the
head) or ``linear`` (the head on the labels alone, judged by a logistic-regression probe)."""

MIN_LABELS_TO_JUDGE = 10
"""Below this many labels the candidates are not judged: the first ready one in the order is used."""

SWITCH_SE = 2.0
"""Another candidate replaces the incumbent only when it is better on the same held-out labels by
more than this many standard errors of the paired difference. The best of several challengers
beats the incumbent by one standard error by chance alone far more often than one planned
comparison does: on the Fashion-MNIST development split one seed of five left the
self-supervised trunk for the pixels' PCA at 50 labels with one standard error and ended 3.5
points lower at 320 labels (76.3 against 79.8 %), the other seeds were unchanged (BENCHMARKS.md)."""

SUCCESSOR_SE = 1.0
"""The bar for the incumbent's own successor — the slow cycle's result from the same candidate
(``"<own>+refined"``, ``"pretrained+adapted"``) or the same features with the other classifier —
in standard errors: one planned comparison. At two standard errors the adapted pretrained
features, which gain on the emoji development split, were held back (median 75.6 against
77.0 % at 100 labels, BENCHMARKS.md)."""


def linear_probe(features_L_D: np.ndarray, y_L: np.ndarray, test_T_D: np.ndarray, n_classes: int) -> np.ndarray:
    """Class probabilities ``[T, C]`` of a multinomial logistic regression (scikit-learn, L2,
    ``C=1``) fitted on standardised features of the labelled items (classes absent from ``y_L``
    get probability 0). A single class predicts that class."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.preprocessing import StandardScaler

    y = np.asarray(y_L, dtype=np.int64)
    out = np.zeros((len(test_T_D), n_classes))
    present = np.unique(y)
    if len(present) < 2:
        out[:, present[0]] = 1.0
        return out
    scaler = StandardScaler().fit(features_L_D)
    clf = LogisticRegression(max_iter=500).fit(scaler.transform(features_L_D), y)
    out[:, clf.classes_] = clf.predict_proba(scaler.transform(test_T_D))
    return out


def cross_validated_accuracy(graph: Optional[KNNGraph], labeled_L: np.ndarray, y_L: np.ndarray, n_classes: int, *,
                             prior_C: Optional[np.ndarray] = None, folds: int = 5, seed: int = 0,
                             method: str = "poisson", scored_L: Optional[np.ndarray] = None,
                             features_N_D: Optional[np.ndarray] = None) -> float:
    """The mean of :func:`cross_validated_hits` (same parameters): accuracy in ``[0, 1]``."""
    return float(np.mean(cross_validated_hits(graph, labeled_L, y_L, n_classes, prior_C=prior_C, folds=folds,
                                              seed=seed, method=method, scored_L=scored_L,
                                              features_N_D=features_N_D)))


def cross_validated_hits(graph: Optional[KNNGraph], labeled_L: np.ndarray, y_L: np.ndarray, n_classes: int, *,
                         prior_C: Optional[np.ndarray] = None, folds: int = 5, seed: int = 0,
                         method: str = "poisson", scored_L: Optional[np.ndarray] = None,
                         features_N_D: Optional[np.ndarray] = None) -> np.ndarray:
    """Whether each scored label ``[S]`` (bool, in the order of the scored items) is predicted
    right from the other folds' labels: over the candidate's kNN graph (``graph``), or by a linear
    probe on its features (``features_N_D`` given, ``graph`` ``None``). The same seed gives the
    same folds for every candidate, so two candidates' hits can be compared item by item.

    Parameters
    ----------
    graph : KNNGraph or None
        The candidate representation's kNN graph of the whole pool.
    features_N_D : ndarray, optional
        The candidate's features of the whole pool, for the linear probe instead.
    labeled_L, y_L : arrays of int, shape (L,)
        Positions of labelled items in the graph and their classes.
    n_classes : int
    prior_C : ndarray, optional
        Class shares for the propagation (see :func:`~alwidget.semi.propagate.propagate`).
    folds : int
        Folds (at most the number of scored items); items are assigned at random (seeded), not
        stratified, so a class with a single label still counts (it is then predicted without
        its own label: wrong).
    scored_L : array of bool, shape (L,), optional
        Which labels are held out and scored (default: all). The learner scores only the random
        validation set: actively chosen labels are no fair sample of the pool, and a trunk
        fine-tuned on the training labels would be judged on labels it has seen. The others
        always stay on the training side.
    """
    pos = np.asarray(labeled_L, dtype=np.int64)
    y = np.asarray(y_L, dtype=np.int64)
    if len(pos) != len(y) or len(pos) < 2:
        raise ValueError("cross-validation needs at least two labelled items, one class each")
    scored = np.ones(len(pos), dtype=bool) if scored_L is None else np.asarray(scored_L, dtype=bool)
    n_scored = int(scored.sum())
    if n_scored < 2:
        raise ValueError("cross-validation needs at least two scored labels")
    folds = int(min(max(2, folds), n_scored))
    rng = np.random.default_rng(int(seed))
    fold_of = np.full(len(pos), -1, dtype=np.int64)
    fold_of[np.flatnonzero(scored)[rng.permutation(n_scored)]] = np.arange(n_scored) % folds
    hits = np.zeros(len(pos), dtype=bool)
    splits = [(fold_of == f, fold_of != f) for f in range(folds)]
    if graph is None:
        for held, kept in splits:
            probs_held = linear_probe(features_N_D[pos[kept]], y[kept], features_N_D[pos[held]], n_classes)
            hits[held] = probs_held.argmax(1) == y[held]
    else:  # every fold on the graph's cached system (its Laplacian built once)
        every = propagate_many(graph, [(pos[kept], y[kept]) for _, kept in splits], n_classes, method=method,
                               tol=JUDGE_TOL, prior_C=prior_C)
        for (held, _), probs in zip(splits, every):
            hits[held] = probs[pos[held]].argmax(1) == y[held]
    return hits[scored]


@dataclass
class RepresentationChoice:
    """Which representation the fast cycle uses, and why.

    Attributes
    ----------
    name : str
        The representation.
    scores : dict
        ``{"<representation> <classifier>": cross-validated accuracy}`` (empty when not judged).
    reason : str
        One line for the report and the widget.
    classifier : {"graph", "linear"}
        How the fast cycle learns on it (see :data:`CLASSIFIERS`).
    provisional : bool
        See the attribute.
    """

    name: str
    scores: Dict[str, float] = field(default_factory=dict)
    reason: str = ""
    classifier: str = "graph"
    provisional: bool = False
    """In use while the labels' judgement runs in the background (the first representation at
    hand); never the incumbent of that judgement."""


NEAR_DUPLICATE_COS = 0.95
"""Cosine similarity (of the frozen pretrained features) from which a validation label counts as a
near-copy of a training label (:func:`without_near_copies`)."""

MIN_SCORED_AFTER_FILTER = 30
"""The filter is skipped when it would leave fewer scored labels than this."""


def without_near_copies(scored_L: Optional[np.ndarray], labeled_L: np.ndarray, features_N_D: np.ndarray, *,
                        cos: float = NEAR_DUPLICATE_COS) -> Tuple[Optional[np.ndarray], int]:
    """``(scored, dropped)``: the scored labels without those whose features lie within cosine
    ``cos`` of a label that is never scored (a training label), and how many were dropped.

    A representation trained on the training labels (the pretrained features' adapter) recognises
    near-copies of them — the skin tones of one emoji, the frames of one burst — far better than
    new items; validation labels that are such copies then make it look better than it is on
    anything new. Judged without them, every candidate is scored on the same, fairer subset.
    Unchanged (``dropped`` 0) when nothing is scored apart, there are no training labels, or
    fewer than :data:`MIN_SCORED_AFTER_FILTER` scored labels would remain.

    Parameters
    ----------
    scored_L : array of bool ``[L]`` or None
        Which labels are scored (see :func:`cross_validated_hits`).
    labeled_L : array of int ``[L]``
        Their positions in the pool.
    features_N_D : array ``[N, D]``
        Features of the pool in which near-copies are found (cosine similarity).
    """
    if scored_L is None:
        return None, 0
    scored = np.asarray(scored_L, dtype=bool).copy()
    pos = np.asarray(labeled_L, dtype=np.int64)
    if scored.all() or not scored.any():
        return scored, 0
    x = np.asarray(features_N_D[pos], dtype=np.float32)
    x = x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)
    near = (x[scored] @ x[~scored].T).max(axis=1) >= cos
    if int(scored.sum() - near.sum()) < MIN_SCORED_AFTER_FILTER or not near.any():
        return scored, 0
    scored[np.flatnonzero(scored)[near]] = False
    return scored, int(near.sum())


def choose_representation(graphs: Mapping[str, Optional[KNNGraph]], labeled_L: np.ndarray, y_L: np.ndarray,
                          n_classes: int, *, order: Sequence[str], prior_C: Optional[np.ndarray] = None,
                          current: Optional[str] = None, margin: float = 0.01, folds: int = 5,
                          seed: int = 0, method: str = "poisson", scored_L: Optional[np.ndarray] = None,
                          features: Optional[Mapping[str, np.ndarray]] = None) -> RepresentationChoice:
    """The candidate (and classifier) that cross-validates best on the labels.

    Parameters
    ----------
    graphs : mapping of str to KNNGraph or None
        The candidates at hand, with their graphs; ``None`` for a candidate without one (the
        memory plan holds no graph for it): it is judged with the linear probe only.
    labeled_L, y_L : arrays of int
        All labels (validation and training): positions in the pool and classes.
    order : sequence of str
        Preference when the labels cannot decide (fewer than :data:`MIN_LABELS_TO_JUDGE`, or a
        tie): the first one in this order that is at hand.
    current : str, optional
        ``"<representation> <classifier>"`` in use. It is the *incumbent* (without one: the
        best-scoring classifier of the first representation in ``order``), and another pair
        replaces it only when it does better on the same held-out labels by more than
        :data:`SWITCH_SE` standard errors of the paired difference — :data:`SUCCESSOR_SE` for the
        incumbent's own successor (its slow cycle's result, or its other classifier) — and by
        more than ``margin``: a hundred validation labels tell a clear difference from noise,
        not a one-point one, and a switch rebuilds the head on other features.
    scored_L : array of bool, optional
        Which labels are held out and scored (see :func:`cross_validated_accuracy`).
    features : mapping of str to ndarray, optional
        The candidates' features ``[N, D]``: each is then also judged with a linear probe.
    """
    at_hand = [name for name in order if name in graphs] + [n for n in graphs if n not in order]
    if not at_hand:
        raise ValueError("no representation at hand to choose from")
    pairs = [(name, "graph") for name in at_hand if graphs[name] is not None]
    if features is not None:
        pairs += [(name, "linear") for name in at_hand if name in features]
    if not pairs:  # no graph, no features: the first at hand, as it is
        pairs = [(at_hand[0], "graph")]
    at_hand = [name for name in at_hand if any(p[0] == name for p in pairs)]
    n = len(labeled_L) if scored_L is None else int(np.sum(scored_L))
    if len(pairs) == 1:
        return RepresentationChoice(pairs[0][0], {}, f"{pairs[0][0]}: the only representation ready", pairs[0][1])
    if n < MIN_LABELS_TO_JUDGE or len(np.unique(y_L)) < 2:
        first = next(p for p in pairs if p[0] == at_hand[0])
        return RepresentationChoice(at_hand[0], {}, f"{at_hand[0]}: {n} labels are too few to compare "
                                    f"{', '.join(at_hand)} (need {MIN_LABELS_TO_JUDGE} of 2+ classes)", first[1])
    hits = {}
    for name, how in pairs:
        hits[f"{name} {how}"] = cross_validated_hits(
            graphs[name] if how == "graph" else None, labeled_L, y_L, n_classes, prior_C=prior_C, folds=folds,
            seed=seed, method=method, scored_L=scored_L, features_N_D=None if how == "graph" else features[name])
    scores = {key: float(np.mean(h)) for key, h in hits.items()}
    rank = {key: i for i, key in enumerate(scores)}
    best = max(scores, key=lambda key: (round(scores[key], 9), -rank[key]))
    if current not in scores:  # the incumbent: the first representation's better classifier
        first = [key for key in scores if key.rsplit(" ", 1)[0] == at_hand[0]]
        current = max(first, key=lambda key: (round(scores[key], 9), -rank[key]))
    table = ", ".join(f"{key} {100 * v:.1f}%" for key, v in scores.items())
    what = f"{n} {'validation ' if scored_L is not None else ''}labels"
    switch, gain, noise = beats_incumbent(best, current, hits[best], hits[current], margin=margin)
    if best != current and not switch:
        name, how = current.rsplit(" ", 1)
        return RepresentationChoice(name, scores, f"{current}: kept; {best} is {100 * gain:+.1f} points, within the "
                                    f"noise (it would need more than {100 * noise:.1f}) ({folds}-fold accuracy on "
                                    f"{what}: {table})", how)
    name, how = best.rsplit(" ", 1)
    return RepresentationChoice(name, scores, f"{best}: best {folds}-fold accuracy on {what} ({table})", how)


def beats_incumbent(challenger: str, incumbent: str, hits_challenger_S: np.ndarray, hits_incumbent_S: np.ndarray,
                    *, margin: float = 0.01) -> Tuple[bool, float, float]:
    """Whether ``challenger`` (``"<representation> <classifier>"``) replaces ``incumbent``, from
    their hits on the same ``S`` held-out labels (bool arrays, item by item): ``(switch, gain,
    bar)``, ``gain`` the mean paired difference in accuracy (a fraction) and ``bar`` what it must
    exceed — :data:`SUCCESSOR_SE` standard errors of the paired difference for the incumbent's
    own successor (same representation before the ``+``), :data:`SWITCH_SE` for another
    candidate, and at least ``margin``."""
    diff = np.asarray(hits_challenger_S, dtype=float) - np.asarray(hits_incumbent_S, dtype=float)
    se = float(np.std(diff, ddof=1) / np.sqrt(len(diff))) if len(diff) > 1 else 0.0
    same = challenger.split("+")[0].split(" ")[0] == incumbent.split("+")[0].split(" ")[0]
    bar = max((SUCCESSOR_SE if same else SWITCH_SE) * se, margin)
    gain = float(np.mean(diff)) if len(diff) else 0.0
    return gain > bar, gain, bar
