"""The fast cycle's classifier, refitted on folds of the labels (for the label check).

:func:`fast_cycle_fit_predict` returns the ``fit_predict`` that
:func:`~alwidget.trust.label_issues.out_of_sample_probs` calls once per fold: the graph's
pseudo-labels from the fold's labels (``semi`` mode) plus a head trained on the pool's features,
exactly as a cycle trains, so that each label is judged by a model that never saw it.
"""

from __future__ import annotations

from typing import Callable, Optional

import numpy as np
import torch

from ..model.head import fit_head_predict
from ..model.train import TrainConfig
from ..progress import CancelToken
from ..semi import KNNGraph, propagate, pseudo_labels, with_pseudo_labels
from ..uncertainty import UncertaintyEstimator

__all__ = ["fast_cycle_fit_predict"]


def fast_cycle_fit_predict(features_N_D: torch.Tensor, positions_M: np.ndarray, n_classes: int, *,
                           estimator: UncertaintyEstimator, config: TrainConfig, n_samples: int,
                           seed: Callable[[int], int], graph: Optional[KNNGraph] = None,
                           unlabelled_N: Optional[np.ndarray] = None, pseudo_fraction: float = 0.0,
                           propagation: str = "poisson", prior_C: Optional[np.ndarray] = None, prior_labels: int = 0,
                           cancel: Optional[CancelToken] = None
                           ) -> Callable[[np.ndarray, np.ndarray, np.ndarray], np.ndarray]:
    """``fit_predict(train_idx, y_train, test_idx) -> probs [len(test_idx), C]`` over the labelled items.

    Parameters
    ----------
    features_N_D : torch.Tensor ``[N, D]``
        The pool's features.
    positions_M : int array ``[M]``
        Pool positions of the labelled items (the indices ``fit_predict`` gets are into this).
    seed : callable
        ``seed(fold_number)`` (1, 2, ...): the head's seed for that fold.
    graph : KNNGraph, optional
        With it (and ``pseudo_fraction > 0``), each fold's head also trains on the graph's most
        confident pseudo-labels among ``unlabelled_N`` (``[N]`` bool; labelled items, held out or
        not, are never pseudo-labelled), as the fast cycle does.
    """
    cancel = cancel or CancelToken()
    candidates_N = None
    if graph is not None and pseudo_fraction > 0:
        candidates_N = np.ones(features_N_D.shape[0], dtype=bool) if unlabelled_N is None else unlabelled_N.copy()
        candidates_N[positions_M] = False
    fold_no = [0]

    def fit_predict(train_idx: np.ndarray, y_train: np.ndarray, test_idx: np.ndarray) -> np.ndarray:
        fold_no[0] += 1
        pos_l = positions_M[train_idx]
        pos_fit, y_fit = pos_l, y_train
        if candidates_N is not None and len(np.unique(y_train)) >= 2:
            probs = propagate(graph, pos_l, y_train, n_classes, method=propagation, prior_C=prior_C,
                              prior_labels=prior_labels)
            ps_pos, ps_y = pseudo_labels(probs, candidates_N, pseudo_fraction)
            if len(ps_pos):
                pos_fit, y_fit = with_pseudo_labels(pos_l, y_train, ps_pos, ps_y)
        return fit_head_predict(features_N_D, pos_fit, y_fit, positions_M[test_idx], estimator, n_classes, config,
                                n_samples=n_samples, seed=seed(fold_no[0]), cancel=cancel)

    return fit_predict
