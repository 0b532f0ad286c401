"""From a few labels to beliefs over the whole pool: propagation on the kNN graph, pseudo-labels.

The fast cycle of the ``semi`` mode uses these two steps on the representation's features:

1. :func:`propagate` spreads the labels over the graph (Poisson learning by default) and turns
   the scores into class probabilities for every pool item;
2. :func:`pseudo_labels` keeps the items the graph is most sure of, per predicted class, as
   extra training targets for the head (never stored, never counted as labels). The head is
   what gives the posterior the strategies read (MC dropout, ensembles, Laplace, evidential)
   and predicts images outside the pool (inductive).
"""

from __future__ import annotations

from typing import Iterator, Optional, Sequence, Tuple

import numpy as np

from .graph import KNNGraph
from .poisson import laplace_learning, scores_to_probs
from .priors import pool_priors, prior_weights, reweight

__all__ = ["PROPAGATIONS", "PROPAGATION_TOL", "propagate", "propagate_many", "pseudo_labels", "confident_items",
           "with_pseudo_labels"]

PROPAGATIONS = ("poisson", "laplace")

#: Relative residual at which the fast cycle's Poisson solves stop (``propagate``'s default). On
#: the development data (a 60,000-image graph of Fashion-MNIST's training split, 60 labels)
#: stopping at 1e-3 instead of 1e-5 changed the predicted class of 0.05 % of the items and 0.07 %
#: of the pseudo-labels, not the accuracy of either, in 25 products instead of 46. The labels'
#: judgement of the representations keeps 1e-5 (:data:`~alwidget.semi.choice.JUDGE_TOL`): its
#: decisions sit on small differences (BENCHMARKS.md).
PROPAGATION_TOL = 1e-3


def propagate(graph: KNNGraph, labeled_L: np.ndarray, y_L: np.ndarray, n_classes: int,
              method: str = "poisson", temperature: float = 0.1,
              prior_C: Optional[np.ndarray] = None, prior_labels: int = 0,
              tol: Optional[float] = None) -> np.ndarray:
    """Class probabilities ``[N, C]`` of every graph item from the labelled ones.

    Parameters
    ----------
    graph : KNNGraph
    labeled_L, y_L : arrays of int, shape (L,)
        Positions of the labelled items in the graph and their classes.
    n_classes : int
    method : {"poisson", "laplace"}
    temperature : float
        Softmax temperature on the per-class standardised scores (see
        :func:`~alwidget.semi.poisson.scores_to_probs`); labelled items keep their label's
        one-hot row.
    prior_C : ndarray of shape (C,), optional
        Class shares estimated from the labels (:func:`~alwidget.semi.priors.estimate_priors`).
        The unlabelled rows are reweighted so that their mean follows them
        (:func:`~alwidget.semi.priors.prior_weights`): per-class standardised scores treat the
        classes as equally common, which an imbalanced pool is not. ``None``: no reweighting.
    prior_labels : int
        How many labels ``prior_C`` rests on: with ``prior_labels > 0`` the shares are first
        refined on the unlabelled rows (:func:`~alwidget.semi.priors.pool_priors`).
    tol : float, optional
        Relative residual at which a Poisson solve stops; ``None``: :data:`PROPAGATION_TOL`.
    """
    return next(propagate_many(graph, [(labeled_L, y_L)], n_classes, method=method, temperature=temperature,
                               prior_C=prior_C, prior_labels=prior_labels, tol=tol))


def propagate_many(graph: KNNGraph, problems: Sequence[Tuple[np.ndarray, np.ndarray]], n_classes: int,
                   method: str = "poisson", temperature: float = 0.1,
                   prior_C: Optional[np.ndarray] = None, prior_labels: int = 0,
                   tol: Optional[float] = None) -> Iterator[np.ndarray]:
    """:func:`propagate` for each ``(labeled_L, y_L)`` in ``problems`` (e.g. the folds of a
    cross-validation): Poisson learning solves them one after another on the graph's cached
    :class:`~alwidget.semi.poisson.PoissonSystem`. Yields one ``[N, C]`` array per problem, in
    order (the labels of all of them are checked first)."""
    if method not in PROPAGATIONS:
        raise ValueError(f"propagation must be one of {PROPAGATIONS}, got {method!r}")
    problems = [(np.asarray(lab, dtype=np.int64), np.asarray(y, dtype=np.int64)) for lab, y in problems]
    if method == "poisson":
        scores = graph.poisson().solve_many(problems, n_classes, tol=PROPAGATION_TOL if tol is None else tol)
        return (_finish(scores_to_probs(u, temperature), lab, y, prior_C, prior_labels)
                for u, (lab, y) in zip(scores, problems))
    return (_finish(_laplace_probs(graph, lab, y, n_classes), lab, y, prior_C, prior_labels) for lab, y in problems)


def _laplace_probs(graph: KNNGraph, labeled_L: np.ndarray, y_L: np.ndarray, n_classes: int) -> np.ndarray:
    u = laplace_learning(graph.weights_N_N, labeled_L, y_L, n_classes)
    return u / np.maximum(u.sum(1, keepdims=True), 1e-12)


def _finish(probs: np.ndarray, labeled_L: np.ndarray, y_L: np.ndarray, prior_C: Optional[np.ndarray],
            prior_labels: int) -> np.ndarray:
    """The priors' reweighting of the unlabelled rows, and the labels' one-hot rows."""
    if prior_C is not None:
        free = np.ones(len(probs), dtype=bool)
        free[labeled_L] = False
        if free.any():
            target = pool_priors(probs[free], prior_C, prior_labels) if prior_labels > 0 else prior_C
            probs = reweight(probs, prior_weights(probs[free], target))
    probs[labeled_L] = 0.0
    probs[labeled_L, y_L] = 1.0
    return probs


def pseudo_labels(probs_N_C: np.ndarray, candidates_N: np.ndarray, fraction: float) -> Tuple[np.ndarray, np.ndarray]:
    """The most confident ``fraction`` of the candidates of each predicted class.

    Parameters
    ----------
    probs_N_C : ndarray of shape (N, C)
    candidates_N : ndarray of bool, shape (N,)
        Items that may be pseudo-labelled (unlabelled, readable).
    fraction : float
        In ``[0, 1]``: share of each predicted class's candidates kept, most confident
        (largest top-two margin) first.

    Returns
    -------
    positions, classes : ndarrays of int64
        Sorted by position.
    """
    if not 0.0 <= fraction <= 1.0:
        raise ValueError(f"fraction must be in [0, 1], got {fraction}")
    p = np.asarray(probs_N_C, dtype=np.float64)
    pred = p.argmax(1)
    top2 = np.sort(p, axis=1)[:, -2:] if p.shape[1] > 1 else np.concatenate([np.zeros((len(p), 1)), p], 1)
    margin = top2[:, 1] - top2[:, 0]
    keep = []
    for c in np.unique(pred[candidates_N]):
        members = np.flatnonzero(candidates_N & (pred == c))
        n_keep = int(np.floor(fraction * len(members)))
        if n_keep:
            keep.append(members[np.argsort(-margin[members], kind="stable")[:n_keep]])
    pos = np.sort(np.concatenate(keep)) if keep else np.zeros(0, dtype=np.int64)
    return pos.astype(np.int64), pred[pos].astype(np.int64)


def confident_items(probs_N_C: np.ndarray, candidates_N: np.ndarray, threshold: float, *,
                    limit: int) -> Tuple[np.ndarray, np.ndarray]:
    """``pseudo_label_threshold``'s pseudo-labels: candidates whose top probability is at least
    ``threshold``, most confident first (ties in position order), at most ``limit`` of them.

    Returns ``(positions, classes)``, int64 arrays of one length, in that order.
    """
    p = np.asarray(probs_N_C)
    conf = p.max(1)
    pos = np.flatnonzero(np.asarray(candidates_N, bool) & (conf >= threshold))
    pos = pos[np.argsort(-conf[pos], kind="stable")][: max(0, int(limit))]
    return pos.astype(np.int64), p[pos].argmax(1).astype(np.int64)


def with_pseudo_labels(labeled_L: np.ndarray, y_L: np.ndarray, pseudo_P: np.ndarray,
                       y_P: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
    """One training set of labels and pseudo-labels ``(positions, classes)``, the labelled items
    repeated ``max(1, round(P / L))`` times so that they weigh as much as all ``P`` pseudo-labels
    together (labelled items first)."""
    labeled_L, y_L = np.asarray(labeled_L, dtype=np.int64), np.asarray(y_L, dtype=np.int64)
    reps = max(1, int(round(len(pseudo_P) / max(1, len(labeled_L)))))
    return (np.concatenate([np.tile(labeled_L, reps), np.asarray(pseudo_P, dtype=np.int64)]),
            np.concatenate([np.tile(y_L, reps), np.asarray(y_P, dtype=np.int64)]))
