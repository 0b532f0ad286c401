"""Class priors from the labels, and probabilities that follow them.

Real pools are imbalanced (one class often holds most of the items), while a classifier trained
on class-balanced batches, or graph scores standardised per class, behave as if the classes were
equally common. Two pure functions fix that:

* :func:`estimate_priors` estimates the share of each class from the labels: the random
  validation set when it holds enough labels (an unbiased sample of the pool), else every label
  (actively chosen labels over-represent the hard classes), with add-one smoothing so that a
  class seen zero times keeps a small share.
* :func:`prior_weights` finds per-class weights ``w_C`` such that the pool's mean of
  ``normalize(p * w)`` equals the priors (the fixed point of Saerens, Latinne & Decaestecker's
  2002 prior adjustment, with the target priors known); :func:`reweight` applies them. The same
  weights apply to images outside the pool (a test set), so prediction stays inductive.
"""

from __future__ import annotations

from typing import Optional

import numpy as np

__all__ = ["estimate_priors", "pool_priors", "prior_weights", "reweight", "MIN_VALIDATION_PER_CLASS"]

MIN_VALIDATION_PER_CLASS = 2
"""The validation set alone estimates the priors once it holds this many labels per class on
average; below that every label is used."""


def estimate_priors(y_validation: np.ndarray, y_train: np.ndarray, n_classes: int,
                    smoothing: float = 1.0) -> np.ndarray:
    """Share of each class ``[C]`` (sums to 1), estimated from labels.

    Parameters
    ----------
    y_validation : array of int, shape (V,)
        Classes of the random validation set's labels.
    y_train : array of int, shape (L,)
        Classes of the training labels (chosen by the strategy, so biased towards hard classes).
    n_classes : int
        ``C``.
    smoothing : float
        Added to every class count (add-one by default).

    Returns
    -------
    ndarray of float64, shape (C,)
    """
    if n_classes < 1:
        raise ValueError(f"n_classes must be positive, got {n_classes}")
    y_v = np.asarray(y_validation, dtype=np.int64).ravel()
    y_t = np.asarray(y_train, dtype=np.int64).ravel()
    y = y_v if len(y_v) >= MIN_VALIDATION_PER_CLASS * n_classes else np.concatenate([y_v, y_t])
    counts = np.bincount(y, minlength=n_classes).astype(np.float64)[:n_classes] + float(smoothing)
    return counts / counts.sum()


def pool_priors(probs_N_C: np.ndarray, label_prior_C: np.ndarray, n_labels: int, *, iters: int = 100,
                tol: float = 1e-6) -> np.ndarray:
    """The pool's class shares ``[C]``: the labels' estimate refined by the pool itself.

    A maximum a-posteriori version of the EM of Saerens, Latinne & Decaestecker (2002): the
    model's probabilities ``probs_N_C`` were made as if the classes were equally common (a
    class-balanced head, per-class standardised graph scores); each step reweights them by the
    current shares, ``q_i = normalize(p_i * pi)``, and sets ``pi`` to the mean of ``q`` over the
    pool, with the labels' estimate worth ``n_labels`` items. A hundred labels estimate the share
    of each class to a few points; thousands of pool items tell how much of the pool the model
    puts in each class, and the two together are steadier than either (measured on digits and
    the emoji set: BENCHMARKS.md).

    Parameters
    ----------
    probs_N_C : ndarray, shape (N, C)
        The model's probabilities over the pool (uniform training priors).
    label_prior_C : ndarray, shape (C,)
        :func:`estimate_priors`'s shares.
    n_labels : int
        How many labels ``label_prior_C`` rests on.

    Returns
    -------
    ndarray of float64, shape (C,)
        Positive, summing to 1.
    """
    p = np.maximum(np.asarray(probs_N_C, dtype=np.float64), 1e-12)
    prior = np.asarray(label_prior_C, dtype=np.float64)
    if p.ndim != 2 or p.shape[1] != len(prior):
        raise ValueError(f"probs must be [N, {len(prior)}], got shape {p.shape}")
    pi = prior.copy()
    weight = float(max(0, n_labels))
    for _ in range(int(iters)):
        new = (_reweighted_sum(p, pi) + weight * prior) / (len(p) + weight)
        new = np.maximum(new, 1e-6)
        new /= new.sum()
        if np.max(np.abs(new - pi)) < tol:
            pi = new
            break
        pi = new
    return pi


def prior_weights(probs_N_C: np.ndarray, prior_C: np.ndarray, *, iters: int = 100, tol: float = 1e-6,
                  max_ratio: float = 100.0) -> np.ndarray:
    """Per-class weights ``w [C]`` (geometric mean 1) such that the rows of
    ``normalize(probs_N_C * w)`` average to ``prior_C``.

    Iterates ``w_c <- w_c * prior_c / mean_i q_ic`` (a multiplicative fixed point; it converges
    for strictly positive probabilities). Weights are clipped to ``[1 / max_ratio, max_ratio]``
    relative to each other so that a class the model never predicts cannot blow up.

    Parameters
    ----------
    probs_N_C : ndarray, shape (N, C)
        Rows of class probabilities over the pool.
    prior_C : ndarray, shape (C,)
        Target shares (positive, summing to 1).

    Returns
    -------
    ndarray of float64, shape (C,)
    """
    p = np.asarray(probs_N_C, dtype=np.float64)
    prior = np.asarray(prior_C, dtype=np.float64)
    if p.ndim != 2 or p.shape[1] != len(prior):
        raise ValueError(f"probs must be [N, {len(prior)}], got shape {p.shape}")
    if np.any(prior <= 0) or not np.isclose(prior.sum(), 1.0):
        raise ValueError("priors must be positive and sum to 1")
    w = np.ones(len(prior))
    if len(p) == 0:
        return w
    p = np.maximum(p, 1e-12)
    for _ in range(int(iters)):
        mean = _reweighted_sum(p, w) / len(p)
        step = prior / np.maximum(mean, 1e-12)
        w = w * step
        w = np.clip(w / np.exp(np.mean(np.log(w))), 1.0 / max_ratio, max_ratio)
        if np.max(np.abs(mean - prior)) < tol:
            break
    return w / np.exp(np.mean(np.log(w)))


def _reweighted_sum(p_N_C: np.ndarray, w_C: np.ndarray) -> np.ndarray:
    """``reweight(p, w).sum(0)`` ``[C]`` without the ``[N, C]`` intermediate: the column sums of
    ``p_ic w_c / s_i`` with ``s_i = p_i · w`` are ``w_c Σ_i p_ic / s_i``, two matrix-vector
    products (at 100,000 items the EM loops here went from about 0.7 s to a few hundredths)."""
    return w_C * (p_N_C.T @ (1.0 / np.maximum(p_N_C @ w_C, 1e-300)))


def reweight(probs_N_C: np.ndarray, weights_C: Optional[np.ndarray]) -> np.ndarray:
    """``probs * w``, each row renormalised to sum to 1 (works on ``[..., C]``; ``None``: a copy)."""
    p = np.asarray(probs_N_C, dtype=np.float64)
    if weights_C is None:
        return p.copy()
    q = p * np.asarray(weights_C, dtype=np.float64)
    return q / np.maximum(q.sum(-1, keepdims=True), 1e-300)
