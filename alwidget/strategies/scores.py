"""Per-item acquisition scores: pure functions on probability arrays.

Every function takes numpy arrays named by shape (``probs_N_C``, ``samples_T_N_C``,
``alpha_N_C``), computes in float64 and returns an ``(N,)`` float64 array. Unless a
docstring says otherwise, **higher means more informative** (more worth labeling).

Conventions
-----------
* Logarithms are natural (entropies in nats).
* ``0 · log 0 = 0``: exact zero probabilities never produce NaN.
* ``samples_T_N_C[t]`` is the ``t``-th posterior sample (an MC-dropout pass, an
  ensemble member, a Laplace sample) of the class probabilities; the predictive
  distribution is their mean over ``t``.
* Ties in ``argmax`` (for votes) go to the lowest class index, as in :func:`numpy.argmax`.

References
----------
Settles, B. (2009). Active Learning Literature Survey (least confidence, margin,
entropy, vote entropy, KL to the consensus). Houlsby et al. (2011), Gal et al. (2017)
(BALD). Freeman (1965) (variation ratios). Kendall et al. (2015) (mean STD).
Sensoy et al. (2018) (evidential vacuity). McCallum & Nigam (1998) (KL to the mean).
"""

from __future__ import annotations

import numpy as np

__all__ = [
    "entropy",
    "normalized_entropy",
    "least_confidence",
    "max_probability",
    "margin_of",
    "margin",
    "bald",
    "variation_ratios",
    "mean_std",
    "edl_vacuity",
    "vote_entropy",
    "consensus_kl",
]


def xlogy(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """``x * log(y)`` elementwise, ``0`` where ``x == 0``: :func:`scipy.special.xlogy`.

    scipy is imported on the first call, not with the package (it costs a few tenths of a
    second at ``import alwidget``).
    """
    from scipy.special import xlogy as _xlogy

    return _xlogy(x, y)


def _probs(probs_N_C: np.ndarray) -> np.ndarray:
    probs = np.asarray(probs_N_C, dtype=np.float64)
    if probs.ndim != 2:
        raise ValueError(f"expected probs_N_C of shape (N, C), got shape {probs.shape}")
    return probs


def _samples(samples_T_N_C: np.ndarray) -> np.ndarray:
    samples = np.asarray(samples_T_N_C, dtype=np.float64)
    if samples.ndim != 3:
        raise ValueError(f"expected samples_T_N_C of shape (T, N, C), got shape {samples.shape}")
    if samples.shape[0] < 1:
        raise ValueError("samples_T_N_C needs at least one sample (T >= 1)")
    return samples


def _expected_entropy(samples: np.ndarray) -> np.ndarray:
    """``mean_t H[p_t]`` of float64 samples ``(T, N, C)``: shape ``(N,)``, in nats."""
    return -xlogy(samples, samples).sum(axis=-1).mean(axis=0)


def entropy(probs_N_C: np.ndarray) -> np.ndarray:
    """Shannon entropy of each row: ``H[p] = -sum_c p_c log p_c``.

    Parameters
    ----------
    probs_N_C : ndarray of shape (N, C)
        Class probabilities; rows should sum to 1.

    Returns
    -------
    ndarray of float64, shape (N,)
        Entropy in nats, in ``[0, log C]``. ``0 · log 0`` is taken as 0.
    """
    probs = _probs(probs_N_C)
    return -xlogy(probs, probs).sum(axis=-1)


def normalized_entropy(probs_N_C: np.ndarray) -> np.ndarray:
    """Entropy divided by its maximum ``log C``: a value in ``[0, 1]``.

    Parameters
    ----------
    probs_N_C : ndarray of shape (N, C)
        Class probabilities.

    Returns
    -------
    ndarray of float64, shape (N,)
        ``H[p] / log C``; all zeros when ``C == 1`` (a single class carries no
        uncertainty).
    """
    probs = _probs(probs_N_C)
    n_classes = probs.shape[1]
    if n_classes <= 1:
        return np.zeros(probs.shape[0])
    return entropy(probs) / np.log(n_classes)


def max_probability(probs_N_C: np.ndarray) -> np.ndarray:
    """Largest class probability ``max_c p_c`` (the model's confidence).

    **Higher means less informative** (the model is surer). See
    :func:`least_confidence` for the acquisition score.

    Parameters
    ----------
    probs_N_C : ndarray of shape (N, C)

    Returns
    -------
    ndarray of float64, shape (N,)
        In ``[1/C, 1]`` for normalised rows.
    """
    return _probs(probs_N_C).max(axis=-1)


def least_confidence(probs_N_C: np.ndarray) -> np.ndarray:
    """Least-confidence score ``1 - max_c p_c``.

    Parameters
    ----------
    probs_N_C : ndarray of shape (N, C)

    Returns
    -------
    ndarray of float64, shape (N,)
        In ``[0, 1 - 1/C]``; higher = more informative.
    """
    return 1.0 - max_probability(probs_N_C)


def margin_of(probs_N_C: np.ndarray) -> np.ndarray:
    """Raw margin between the two most probable classes, ``p_(1) - p_(2)``.

    **Higher means less informative** (a clear winner). With a single class the
    second probability is taken as 0.

    Parameters
    ----------
    probs_N_C : ndarray of shape (N, C)

    Returns
    -------
    ndarray of float64, shape (N,)
        In ``[0, 1]``.
    """
    probs = _probs(probs_N_C)
    n_classes = probs.shape[1]
    if n_classes == 1:
        return probs[:, 0].copy()
    top2 = np.partition(probs, n_classes - 2, axis=-1)[:, -2:]
    return top2[:, 1] - top2[:, 0]


def margin(probs_N_C: np.ndarray) -> np.ndarray:
    """Smallest-margin score ``1 - (p_(1) - p_(2))``.

    The acquisition score of margin sampling: ``1 - margin_of(probs_N_C)``, so
    that higher = more informative and the score stays in ``[0, 1]`` (``-margin``
    would rank identically).

    Parameters
    ----------
    probs_N_C : ndarray of shape (N, C)

    Returns
    -------
    ndarray of float64, shape (N,)
        In ``[0, 1]``; 1 when the two top classes tie.
    """
    return 1.0 - margin_of(probs_N_C)


def bald(samples_T_N_C: np.ndarray) -> np.ndarray:
    """BALD: mutual information between the label and the model parameters.

    ``I[y; ω] = H[mean_t p_t] - mean_t H[p_t]``: the entropy of the **mean
    probabilities** (not of mean logits) minus the mean entropy of the samples
    (Houlsby et al. 2011; Gal et al. 2017).

    Parameters
    ----------
    samples_T_N_C : ndarray of shape (T, N, C)
        Posterior samples of the class probabilities.

    Returns
    -------
    ndarray of float64, shape (N,)
        In nats, ``>= 0`` (rounding negatives of order 1e-16 are clipped to 0);
        0 when all samples agree.
    """
    samples = _samples(samples_T_N_C)
    return np.maximum(entropy(samples.mean(axis=0)) - _expected_entropy(samples), 0.0)


def _vote_counts(samples: np.ndarray) -> np.ndarray:
    """Count, per item and class, the samples whose argmax is that class: ``(N, C)``."""
    n_samples, n_items, n_classes = samples.shape
    votes_T_N = samples.argmax(axis=-1)
    flat = (votes_T_N + n_classes * np.arange(n_items)[None, :]).ravel()
    return np.bincount(flat, minlength=n_items * n_classes).reshape(n_items, n_classes)


def variation_ratios(samples_T_N_C: np.ndarray) -> np.ndarray:
    """Variation ratio ``1 - f_mode / T``.

    ``f_mode`` is how many of the ``T`` samples predict (argmax) the modal class
    (Freeman 1965; Gal et al. 2017). Argmax ties within a sample go to the lowest
    class index.

    Parameters
    ----------
    samples_T_N_C : ndarray of shape (T, N, C)

    Returns
    -------
    ndarray of float64, shape (N,)
        In ``[0, 1 - 1/min(T, C)]``; 0 when every sample predicts the same class.
    """
    samples = _samples(samples_T_N_C)
    return 1.0 - _vote_counts(samples).max(axis=-1) / samples.shape[0]


def mean_std(samples_T_N_C: np.ndarray) -> np.ndarray:
    """Mean over classes of the per-class standard deviation across samples.

    ``(1/C) sum_c sqrt(mean_t (p_tc - mean_t p_tc)^2)``: the population standard
    deviation (``ddof=0``, dividing by ``T``), as in Kendall et al. (2015).

    Parameters
    ----------
    samples_T_N_C : ndarray of shape (T, N, C)

    Returns
    -------
    ndarray of float64, shape (N,)
        In ``[0, 0.5]``; 0 when all samples agree.
    """
    return _samples(samples_T_N_C).std(axis=0, ddof=0).mean(axis=-1)


def edl_vacuity(alpha_N_C: np.ndarray) -> np.ndarray:
    """Evidential vacuity (uncertainty mass) ``u = C / sum_c alpha_c``.

    For a Dirichlet with concentrations ``alpha = evidence + 1`` (Sensoy et al. 2018),
    ``u`` is 1 with no evidence and falls towards 0 as evidence grows.

    Parameters
    ----------
    alpha_N_C : ndarray of shape (N, C)
        Dirichlet concentrations, strictly positive.

    Returns
    -------
    ndarray of float64, shape (N,)
        In ``(0, 1]`` when every ``alpha >= 1``.
    """
    alpha = _probs(alpha_N_C)
    return alpha.shape[1] / alpha.sum(axis=-1)


def vote_entropy(samples_T_N_C: np.ndarray) -> np.ndarray:
    """Vote entropy of a committee (query by committee; Dagan & Engelson 1995).

    Each of the ``T`` members votes for its argmax class; the score is the entropy
    (nats) of the vote distribution ``V(c) / T``. Argmax ties go to the lowest class.

    Parameters
    ----------
    samples_T_N_C : ndarray of shape (T, N, C)
        Class probabilities of each committee member.

    Returns
    -------
    ndarray of float64, shape (N,)
        In ``[0, log min(T, C)]``; 0 when all members vote alike.
    """
    samples = _samples(samples_T_N_C)
    return entropy(_vote_counts(samples) / samples.shape[0])


def consensus_kl(samples_T_N_C: np.ndarray) -> np.ndarray:
    """Mean KL divergence of the committee members from their consensus.

    ``(1/T) sum_t KL(p_t || p̄)`` with the consensus ``p̄ = mean_t p_t``
    (McCallum & Nigam 1998). This equals :func:`bald` mathematically (both are the
    generalised Jensen-Shannon divergence of the members); it is computed here
    directly from its own definition.

    Parameters
    ----------
    samples_T_N_C : ndarray of shape (T, N, C)
        Class probabilities of each committee member.

    Returns
    -------
    ndarray of float64, shape (N,)
        In nats, ``>= 0`` (rounding negatives clipped to 0). Where ``p_tc = 0`` the
        term is 0; ``p_tc > 0`` implies ``p̄_c > 0``, so the divergence is finite.
    """
    samples = _samples(samples_T_N_C)
    consensus = samples.mean(axis=0, keepdims=True)
    kl_T_N = (xlogy(samples, samples) - xlogy(samples, consensus)).sum(axis=-1)
    return np.maximum(kl_T_N.mean(axis=0), 0.0)
