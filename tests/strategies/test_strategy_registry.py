"""Registry behaviour, requirement messages and argument checks."""

from __future__ import annotations

import dataclasses
from typing import Callable

import numpy as np
import pytest

import alwidget.strategies as S
from alwidget.strategies import (
    PoolEstimate,
    Strategy,
    available_strategies,
    create_strategy,
    register_strategy,
    registry,
    strategy_requires,
)

EXPECTED_REQUIRES = {
    "random": frozenset(),
    "least_confidence": frozenset(),
    "margin": frozenset(),
    "entropy": frozenset(),
    "bald": frozenset({"samples"}),
    "variation_ratios": frozenset({"samples"}),
    "mean_std": frozenset({"samples"}),
    "edl_vacuity": frozenset({"alpha"}),
    "vote_entropy": frozenset({"samples"}),
    "consensus_kl": frozenset({"samples"}),
    "batchbald": frozenset({"samples"}),
    "power": frozenset(),
    "coreset": frozenset({"features"}),
    "badge": frozenset({"features"}),
    "entropy_redundancy": frozenset({"features"}),
    "kmeans": frozenset({"features"}),
    "threshold": frozenset(),
    "typiclust": frozenset({"features"}),
    "budget_aware": frozenset({"features"}),
}


def test_all_strategies_registered_with_requirements() -> None:
    assert available_strategies() == sorted(EXPECTED_REQUIRES)
    for name, requires in EXPECTED_REQUIRES.items():
        assert strategy_requires(name) == requires
        strategy = create_strategy(name)
        assert isinstance(strategy, Strategy)
        assert strategy.name == name


def test_requires_of_wrapping_strategies_follow_their_base() -> None:
    assert strategy_requires("power", base="bald") == {"samples"}
    assert strategy_requires("threshold", base="edl_vacuity") == {"alpha"}
    assert create_strategy("power", base="mean_std").requires == {"samples"}
    assert strategy_requires(create_strategy("power", base="bald")) == {"samples"}


def test_package_exports_list_every_submodule_export() -> None:
    """``alwidget.strategies.__all__`` is a literal list (static checkers read only
    literal ``__all__``); it must keep naming every export of the modules it gathers."""
    from alwidget.strategies import per_item, scores

    exported = set(S.__all__)
    assert len(exported) == len(S.__all__)
    for module in (registry, scores, per_item):
        assert set(module.__all__) <= exported, module.__name__
    for name in available_strategies():
        assert S.get_strategy_class(name).__name__ in exported, name
    assert all(hasattr(S, name) for name in S.__all__)


def test_unknown_name_lists_available() -> None:
    with pytest.raises(ValueError) as info:
        create_strategy("uncertainty_magic")
    message = str(info.value)
    assert "uncertainty_magic" in message
    for name in available_strategies():
        assert name in message
    with pytest.raises(ValueError):
        strategy_requires("nope")


def test_names_are_case_and_dash_insensitive() -> None:
    assert isinstance(create_strategy("BatchBALD"), S.BatchBALDStrategy)
    assert isinstance(create_strategy("least-confidence"), S.LeastConfidenceStrategy)


def test_wrong_params_give_clear_type_error() -> None:
    with pytest.raises(TypeError, match="accepted parameters: base, beta"):
        create_strategy("power", temperature=2.0)
    with pytest.raises(TypeError, match="'entropy'"):
        create_strategy("entropy", beta=1.0)


def test_bad_param_values_give_value_error() -> None:
    with pytest.raises(ValueError, match="beta"):
        create_strategy("power", beta=-1.0)
    with pytest.raises(ValueError, match="no per-item score"):
        create_strategy("power", base="coreset")
    with pytest.raises(ValueError, match="normalize"):
        create_strategy("threshold", base="margin", normalize=True)
    with pytest.raises(ValueError, match="num_samples"):
        create_strategy("batchbald", num_samples=0)
    with pytest.raises(ValueError, match="alpha"):
        create_strategy("entropy_redundancy", alpha=-0.5)


def test_instance_passes_through_unchanged() -> None:
    strategy = S.PowerStrategy(base="margin", beta=3.0)
    assert create_strategy(strategy) is strategy
    with pytest.raises(TypeError):
        create_strategy(strategy, beta=2.0)


def test_register_strategy_rules(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(registry, "_REGISTRY", dict(registry._REGISTRY))

    @register_strategy
    class FirstStrategy(Strategy):
        name = "first_test_strategy"

        def select(self, estimate, k, selectable_N, rng):  # type: ignore[no-untyped-def]
            return np.flatnonzero(selectable_N)[:k]

    assert "first_test_strategy" in available_strategies()
    assert isinstance(create_strategy("first_test_strategy"), FirstStrategy)

    class Clash(FirstStrategy):
        name = "entropy"

    with pytest.raises(ValueError, match="already registered"):
        register_strategy(Clash)

    class Nameless(FirstStrategy):
        name = ""

    with pytest.raises(ValueError, match="name"):
        register_strategy(Nameless)

    class BadRequires(FirstStrategy):
        name = "bad_requires"
        requires = frozenset({"logits"})

    with pytest.raises(ValueError, match="logits"):
        register_strategy(BadRequires)

    with pytest.raises(TypeError):
        register_strategy(int)  # type: ignore[arg-type]


def test_missing_samples_message(make_estimate: Callable[..., PoolEstimate]) -> None:
    estimate = dataclasses.replace(make_estimate(0), samples_T_N_C=None)
    with pytest.raises(ValueError) as info:
        create_strategy("bald").select(estimate, 2, np.ones(12, bool), np.random.default_rng(0))
    assert str(info.value).startswith(
        "strategy 'bald' needs posterior samples (samples_T_N_C); use an estimator that "
        "samples, e.g. uncertainty='mc_dropout'"
    )


def test_missing_alpha_and_features_messages(make_estimate: Callable[..., PoolEstimate]) -> None:
    bare = PoolEstimate(probs_N_C=make_estimate(0).probs_N_C)
    with pytest.raises(ValueError, match=r"'edl_vacuity' needs Dirichlet .*alpha_N_C.*evidential"):
        create_strategy("edl_vacuity").score(bare)
    with pytest.raises(ValueError, match=r"'coreset' needs pool features \(features_N_D\)"):
        create_strategy("coreset").select(bare, 2, np.ones(12, bool), np.random.default_rng(0))
    with pytest.raises(ValueError, match=r"'power' \(base score 'bald'\) needs posterior"):
        create_strategy("power", base="bald").select(
            bare, 2, np.ones(12, bool), np.random.default_rng(0)
        )


def test_inconsistent_shapes_are_rejected(make_estimate: Callable[..., PoolEstimate]) -> None:
    good = make_estimate(0)
    bad = dataclasses.replace(good, samples_T_N_C=good.samples_T_N_C[:, :5])
    with pytest.raises(ValueError, match="samples_T_N_C must have shape"):
        create_strategy("bald").score(bad)
    bad = dataclasses.replace(good, features_N_D=good.features_N_D[:5])
    with pytest.raises(ValueError, match="features_N_D must have shape"):
        create_strategy("coreset").select(bad, 1, np.ones(12, bool), np.random.default_rng(0))
    nan_probs = good.probs_N_C.copy()
    nan_probs[0, 0] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        create_strategy("entropy").score(dataclasses.replace(good, probs_N_C=nan_probs))


def test_k_must_be_an_integer(make_estimate: Callable[..., PoolEstimate]) -> None:
    with pytest.raises(TypeError):
        create_strategy("entropy").select(
            make_estimate(0),
            2.0,
            np.ones(12, bool),
            np.random.default_rng(0),  # type: ignore[arg-type]
        )
    result = create_strategy("entropy").select(
        make_estimate(0), np.int64(2), np.ones(12, bool), np.random.default_rng(0)
    )
    assert result.size == 2


def test_per_item_select_is_top_k_with_ties_by_index() -> None:
    probs = np.array([[0.9, 0.1], [0.5, 0.5], [0.7, 0.3], [0.5, 0.5], [0.5, 0.5]])
    estimate = PoolEstimate(probs_N_C=probs)
    selectable = np.array([True, True, True, False, True])
    for name in ("entropy", "margin", "least_confidence"):
        result = create_strategy(name).select(estimate, 3, selectable, np.random.default_rng(0))
        np.testing.assert_array_equal(result, [1, 4, 2])


def test_score_strategies_score_matches_functions(
    make_estimate: Callable[..., PoolEstimate],
) -> None:
    estimate = make_estimate(3)
    pairs = {
        "entropy": S.entropy(estimate.probs_N_C),
        "margin": S.margin(estimate.probs_N_C),
        "least_confidence": S.least_confidence(estimate.probs_N_C),
        "bald": S.bald(estimate.samples_T_N_C),
        "batchbald": S.bald(estimate.samples_T_N_C),
        "variation_ratios": S.variation_ratios(estimate.samples_T_N_C),
        "mean_std": S.mean_std(estimate.samples_T_N_C),
        "edl_vacuity": S.edl_vacuity(estimate.alpha_N_C),
        "vote_entropy": S.vote_entropy(estimate.samples_T_N_C),
        "consensus_kl": S.consensus_kl(estimate.samples_T_N_C),
        "threshold": S.entropy(estimate.probs_N_C),
    }
    for name, expected in pairs.items():
        np.testing.assert_allclose(create_strategy(name).score(estimate), expected)
    for name in ("random", "coreset", "badge", "kmeans", "power"):
        assert create_strategy(name).score(estimate) is None
