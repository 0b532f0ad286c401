"""Train an uncertainty estimator's head on cached features and predict held-out items.

What one fold of the label check (:meth:`alwidget.ActiveLearner.label_issues`) does: the fast
cycle's head, trained on some labelled items' features, asked about others.
"""

from __future__ import annotations

from typing import Optional

import numpy as np
import torch

from ..progress import CancelToken
from .train import TrainConfig, fit

__all__ = ["fit_head_predict"]


def fit_head_predict(features_N_D: torch.Tensor, pos_fit: np.ndarray, y_fit: np.ndarray, pos_test: np.ndarray,
                     estimator, n_classes: int, config: TrainConfig, *, n_samples: int, seed: int,
                     cancel: Optional[CancelToken] = None) -> np.ndarray:
    """Probabilities ``[len(pos_test), C]`` from a fresh head trained on ``pos_fit``.

    Parameters
    ----------
    features_N_D : tensor ``[N, D]``
        Features of the whole pool.
    pos_fit, y_fit : int arrays ``[M]``
        Pool positions and classes to train on.
    pos_test : int array ``[T]``
        Pool positions to predict.
    estimator : UncertaintyEstimator
        Builds the head, gives its loss and its posterior (:mod:`alwidget.uncertainty`).
    n_classes : int
    config : TrainConfig
        The trainer's settings (steps, batch size, learning rate).
    n_samples : int
        Posterior samples, for estimators that sample.
    seed : int
        Seeds the head's initialisation (torch's global generator, restored afterwards) and the
        batch order and samples.
    cancel : CancelToken, optional
    """
    pos_fit = np.asarray(pos_fit, dtype=np.int64)
    pos_test = np.asarray(pos_test, dtype=np.int64)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        gen = torch.Generator().manual_seed(seed + 1)
        head = estimator.build_head(features_N_D.shape[1], n_classes)
        forward = lambda idx, training: head(features_N_D[torch.as_tensor(pos_fit[idx])])  # noqa: E731
        loss_fn = lambda out, y, frac: estimator.loss(out, y, progress=frac)  # noqa: E731
        fit(head, forward, loss_fn, np.asarray(y_fit, dtype=np.int64), config, generator=gen, cancel=cancel)
        head.eval()
        estimator.fit_posterior(head, features_N_D[torch.as_tensor(pos_fit)], torch.as_tensor(y_fit))
        post = estimator.posterior(head, features_N_D[torch.as_tensor(pos_test)], n_samples=n_samples, generator=gen)
    return post.probs_N_C.numpy().astype(np.float64)
