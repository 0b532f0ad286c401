"""Fixtures for the strategy tests: a seeded, complete PoolEstimate builder."""

from __future__ import annotations

from typing import Callable

import numpy as np
import pytest

from alwidget.strategies import PoolEstimate


def build_estimate(
    seed: int,
    n: int = 12,
    c: int = 4,
    t: int = 6,
    d: int = 5,
    zeros: bool = False,
    dtype: type = np.float64,
) -> PoolEstimate:
    """A full PoolEstimate: samples, probs = their mean, features, alpha.

    ``zeros=True`` puts exact zeros in the samples (hence in probs): class 0 is
    impossible for every even item, and item 1 (if any) is one-hot on the last class
    in every sample.
    """
    rng = np.random.default_rng(seed)
    logits_T_N_C = 2.0 * rng.normal(size=(1, n, c)) + rng.normal(size=(t, n, c))
    samples = np.exp(logits_T_N_C - logits_T_N_C.max(axis=-1, keepdims=True))
    if zeros:
        if c > 1:
            samples[:, ::2, 0] = 0.0
        if n > 1:
            samples[:, 1, :] = 0.0
            samples[:, 1, -1] = 1.0
    samples /= samples.sum(axis=-1, keepdims=True)
    probs = samples.mean(axis=0)
    features = rng.normal(size=(n, d))
    # evidential concentrations loosely tied to the probabilities: alpha = 1 + evidence
    alpha = 1.0 + np.maximum(0.0, 10.0 * probs + rng.normal(size=(n, c)))
    return PoolEstimate(
        probs_N_C=probs.astype(dtype),
        samples_T_N_C=samples.astype(dtype),
        features_N_D=features.astype(dtype),
        alpha_N_C=alpha.astype(dtype),
    )


@pytest.fixture
def make_estimate() -> Callable[..., PoolEstimate]:
    """The :func:`build_estimate` factory (seed plus optional sizes)."""
    return build_estimate


@pytest.fixture
def estimate() -> PoolEstimate:
    """A default full estimate: N=12, C=4, T=6, D=5, seed 0."""
    return build_estimate(0)


GOLDEN_SAMPLES_T_N_C = np.array(
    [
        [[0.7, 0.2, 0.1], [0.4, 0.3, 0.3]],
        [[0.6, 0.3, 0.1], [0.4, 0.3, 0.3]],
        [[0.8, 0.1, 0.1], [0.4, 0.3, 0.3]],
        [[0.1, 0.8, 0.1], [0.4, 0.3, 0.3]],
    ]
)


@pytest.fixture
def golden_samples() -> np.ndarray:
    """The hand-computed T=4, N=2, C=3 example."""
    return GOLDEN_SAMPLES_T_N_C.copy()
