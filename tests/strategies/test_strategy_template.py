"""The shared contract, run automatically for every registered strategy."""

from __future__ import annotations

import dataclasses
from typing import Callable

import numpy as np
import pytest

from alwidget.strategies import (
    PoolEstimate,
    Strategy,
    available_strategies,
    create_strategy,
)

STRATEGIES = available_strategies()
FIELD_ATTR = {"samples": "samples_T_N_C", "features": "features_N_D", "alpha": "alpha_N_C"}


def _select(
    name: str, estimate: PoolEstimate, k: int, selectable: np.ndarray, seed: int = 0
) -> np.ndarray:
    strategy = create_strategy(name)
    result = strategy.select(estimate, k, selectable, np.random.default_rng(seed))
    assert isinstance(result, np.ndarray)
    assert result.dtype == np.int64
    assert result.ndim == 1
    return result


def _check_count(strategy: Strategy, result: np.ndarray, k: int, n_selectable: int) -> None:
    if strategy.fills_batch:
        assert result.size == min(k, n_selectable)
    else:
        assert result.size <= min(k, n_selectable)


@pytest.mark.parametrize("name", STRATEGIES)
def test_k_distinct_selectable_indices(
    name: str, make_estimate: Callable[..., PoolEstimate]
) -> None:
    estimate = make_estimate(1, n=15)
    selectable = np.ones(15, dtype=bool)
    selectable[[0, 3, 7]] = False
    result = _select(name, estimate, 5, selectable)
    _check_count(create_strategy(name), result, 5, 12)
    assert len(set(result.tolist())) == result.size
    assert np.all(selectable[result])


@pytest.mark.parametrize("name", STRATEGIES)
def test_same_seed_same_answer(name: str, make_estimate: Callable[..., PoolEstimate]) -> None:
    estimate = make_estimate(2, n=20)
    selectable = np.ones(20, dtype=bool)
    first = _select(name, estimate, 6, selectable, seed=123)
    second = _select(name, estimate, 6, selectable, seed=123)
    np.testing.assert_array_equal(first, second)


@pytest.mark.parametrize("name", STRATEGIES)
def test_k_larger_than_pool_returns_all_selectable(
    name: str, make_estimate: Callable[..., PoolEstimate]
) -> None:
    estimate = make_estimate(3, n=9)
    selectable = np.ones(9, dtype=bool)
    selectable[[2, 5]] = False
    result = _select(name, estimate, 50, selectable)
    if create_strategy(name).fills_batch:
        assert sorted(result.tolist()) == np.flatnonzero(selectable).tolist()
    else:
        assert set(result.tolist()) <= set(np.flatnonzero(selectable).tolist())


@pytest.mark.parametrize("name", STRATEGIES)
def test_pool_of_one(name: str, make_estimate: Callable[..., PoolEstimate]) -> None:
    estimate = make_estimate(4, n=1)
    result = _select(name, estimate, 3, np.ones(1, dtype=bool))
    _check_count(create_strategy(name), result, 3, 1)
    assert set(result.tolist()) <= {0}


@pytest.mark.parametrize("name", STRATEGIES)
def test_two_classes(name: str, make_estimate: Callable[..., PoolEstimate]) -> None:
    estimate = make_estimate(5, n=10, c=2)
    selectable = np.ones(10, dtype=bool)
    result = _select(name, estimate, 4, selectable)
    _check_count(create_strategy(name), result, 4, 10)
    assert len(set(result.tolist())) == result.size


@pytest.mark.parametrize("name", STRATEGIES)
def test_exact_zero_probabilities(name: str, make_estimate: Callable[..., PoolEstimate]) -> None:
    estimate = make_estimate(6, n=10, zeros=True)
    assert np.any(estimate.probs_N_C == 0)
    strategy = create_strategy(name)
    scores = strategy.score(estimate)
    if scores is not None:
        assert scores.shape == (10,)
        assert np.all(np.isfinite(scores))
    result = _select(name, estimate, 10, np.ones(10, dtype=bool))
    _check_count(strategy, result, 10, 10)


@pytest.mark.parametrize("name", STRATEGIES)
def test_non_selectable_never_returned(
    name: str, make_estimate: Callable[..., PoolEstimate]
) -> None:
    estimate = make_estimate(7, n=16)
    selectable = np.zeros(16, dtype=bool)
    selectable[[1, 4, 9, 10, 15]] = True
    for seed in range(3):
        result = _select(name, estimate, 3, selectable, seed=seed)
        assert np.all(selectable[result])
    result = _select(name, estimate, 16, selectable)
    assert np.all(selectable[result])


@pytest.mark.parametrize("name", STRATEGIES)
def test_k_zero_returns_empty(name: str, make_estimate: Callable[..., PoolEstimate]) -> None:
    estimate = make_estimate(8)
    result = _select(name, estimate, 0, np.ones(12, dtype=bool))
    assert result.size == 0


@pytest.mark.parametrize("name", STRATEGIES)
def test_nothing_selectable_returns_empty(
    name: str, make_estimate: Callable[..., PoolEstimate]
) -> None:
    estimate = make_estimate(9)
    result = _select(name, estimate, 4, np.zeros(12, dtype=bool))
    assert result.size == 0


@pytest.mark.parametrize("name", STRATEGIES)
def test_float32_inputs(name: str, make_estimate: Callable[..., PoolEstimate]) -> None:
    estimate = make_estimate(10, n=14, dtype=np.float32)
    result = _select(name, estimate, 4, np.ones(14, dtype=bool))
    _check_count(create_strategy(name), result, 4, 14)


@pytest.mark.parametrize("name", STRATEGIES)
def test_missing_required_field_says_which(
    name: str, make_estimate: Callable[..., PoolEstimate]
) -> None:
    strategy = create_strategy(name)
    for field in strategy.requires:
        attr = FIELD_ATTR[field]
        estimate = dataclasses.replace(make_estimate(11), **{attr: None})
        with pytest.raises(ValueError, match=attr) as info:
            strategy.select(estimate, 2, np.ones(12, dtype=bool), np.random.default_rng(0))
        assert repr(name) in str(info.value)


@pytest.mark.parametrize("name", STRATEGIES)
def test_bad_arguments_are_rejected(name: str, make_estimate: Callable[..., PoolEstimate]) -> None:
    estimate = make_estimate(12)
    strategy = create_strategy(name)
    rng = np.random.default_rng(0)
    with pytest.raises(ValueError):
        strategy.select(estimate, -1, np.ones(12, dtype=bool), rng)
    with pytest.raises(ValueError):
        strategy.select(estimate, 2, np.ones(11, dtype=bool), rng)
    with pytest.raises(ValueError):  # indices instead of a mask
        strategy.select(estimate, 2, np.array([0, 3, 5, 7, 8, 9, 10, 11, 2, 1, 4, 6]), rng)
