"""Classifiers that learn from the labels and the unlabelled pool (graph-based semi-supervised learning).

Pure functions on arrays and sparse matrices: :mod:`~alwidget.semi.graph` builds the kNN graph
of the representation's features, :mod:`~alwidget.semi.poisson` propagates labels on it
(Poisson learning, Laplace learning), :mod:`~alwidget.semi.propagate` turns that into class
probabilities and pseudo-labels for the head.
"""

from .graph import DEFAULT_K, KNNGraph, knn_graph, neighbor_weights
from .poisson import laplace_learning, poisson_learning, scores_to_probs
from .propagate import PROPAGATIONS, propagate, pseudo_labels, with_pseudo_labels

__all__ = [
    "DEFAULT_K",
    "KNNGraph",
    "PROPAGATIONS",
    "knn_graph",
    "laplace_learning",
    "neighbor_weights",
    "poisson_learning",
    "propagate",
    "pseudo_labels",
    "scores_to_probs",
    "with_pseudo_labels",
]
