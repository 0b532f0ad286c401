"""Shared checks and helpers for the strategy modules (private).

Every strategy validates its inputs the same way: the :class:`PoolEstimate` arrays must
agree on ``N`` and ``C``, the fields a strategy needs must be present (with a message
saying how to get them), ``k`` must be a non-negative integer and ``selectable_N`` a
boolean mask over the pool. Also here: the chunking rule of the blocked matrix
computations (:func:`row_chunks`) and the base score of the strategies that wrap one
(:func:`attach_base`, :func:`base_scores`).
"""

from __future__ import annotations

from typing import Any, Callable, ClassVar, FrozenSet, Iterable, Iterator, Optional, Tuple, Union

import numpy as np

from .base import PoolEstimate, Strategy

#: The optional :class:`PoolEstimate` fields a strategy may require, with the attribute
#: each one names, what it is, and how a caller gets it.
FIELD_HELP = {
    "samples": (
        "samples_T_N_C",
        "posterior samples",
        "use an estimator that samples, e.g. uncertainty='mc_dropout' "
        "(or a deep ensemble / Laplace approximation)",
    ),
    "features": (
        "features_N_D",
        "pool features",
        "compute the head's input features (penultimate-layer embeddings) of every "
        "pool item and pass them as PoolEstimate.features_N_D",
    ),
    "alpha": (
        "alpha_N_C",
        "Dirichlet concentrations",
        "use an evidential (Dirichlet) head, e.g. uncertainty='evidential'",
    ),
}

VALID_REQUIREMENTS: FrozenSet[str] = frozenset(FIELD_HELP)

#: Largest number of entries of a temporary block the feature-space strategies (core-set,
#: k-means, entropy-redundancy) compute at once (4M floats = 16 MB in float32); the
#: default of :func:`row_chunks`.
CHUNK_ELEMENTS = 1 << 22


def missing_field_error(strategy_name: str, field: str) -> ValueError:
    """Build the error raised when strategy ``strategy_name`` lacks ``field``.

    Parameters
    ----------
    strategy_name : str
        Registry name of the strategy (used in the message).
    field : {"samples", "features", "alpha"}
        The missing requirement.

    Returns
    -------
    ValueError
        With a message naming the field and how to obtain it.
    """
    attr, what, how = FIELD_HELP[field]
    return ValueError(f"strategy {strategy_name!r} needs {what} ({attr}); {how}")


def check_estimate(estimate: PoolEstimate, strategy_name: str, requires: Iterable[str]) -> None:
    """Check that ``estimate`` is well formed and carries every field in ``requires``.

    Parameters
    ----------
    estimate : PoolEstimate
        The pool beliefs to check.
    strategy_name : str
        Registry name of the calling strategy (for messages).
    requires : iterable of str
        Subset of ``{"samples", "features", "alpha"}``.

    Raises
    ------
    TypeError
        If ``estimate`` is not a :class:`PoolEstimate`.
    ValueError
        If a required field is ``None``, shapes disagree, or probabilities/samples/alpha
        contain non-finite or negative values.
    """
    if not isinstance(estimate, PoolEstimate):
        raise TypeError(
            f"strategy {strategy_name!r} expects a PoolEstimate, got {type(estimate).__name__}"
        )
    probs = np.asarray(estimate.probs_N_C)
    if probs.ndim != 2:
        raise ValueError(f"probs_N_C must be 2-D (N, C), got shape {probs.shape}")
    n, c = probs.shape
    if c < 1:
        raise ValueError("probs_N_C needs at least one class column")
    _check_nonnegative_finite(probs, "probs_N_C")
    for field in requires:
        attr = FIELD_HELP[field][0]
        if getattr(estimate, attr) is None:
            raise missing_field_error(strategy_name, field)
    if estimate.samples_T_N_C is not None:
        samples = np.asarray(estimate.samples_T_N_C)
        if samples.ndim != 3 or samples.shape[1:] != (n, c) or samples.shape[0] < 1:
            raise ValueError(
                f"samples_T_N_C must have shape (T, {n}, {c}) with T >= 1, got {samples.shape}"
            )
        if "samples" in requires:
            _check_nonnegative_finite(samples, "samples_T_N_C")
    if estimate.features_N_D is not None:
        features = np.asarray(estimate.features_N_D)
        if features.ndim != 2 or features.shape[0] != n:
            raise ValueError(f"features_N_D must have shape ({n}, D), got {features.shape}")
        if "features" in requires and not np.all(np.isfinite(features)):
            raise ValueError("features_N_D contains NaN or infinite values")
    if estimate.alpha_N_C is not None:
        alpha = np.asarray(estimate.alpha_N_C)
        if alpha.shape != (n, c):
            raise ValueError(f"alpha_N_C must have shape ({n}, {c}), got {alpha.shape}")
        if "alpha" in requires:
            if not np.all(np.isfinite(alpha)) or np.any(alpha <= 0):
                raise ValueError("alpha_N_C must be finite and strictly positive")


def field_array(estimate: PoolEstimate, field: str, strategy_name: str) -> np.ndarray:
    """Return the array of requirement ``field``, or raise the missing-field error.

    Parameters
    ----------
    estimate : PoolEstimate
        The pool beliefs.
    field : {"samples", "features", "alpha"}
        The requirement.
    strategy_name : str
        Registry name of the calling strategy (for the message).

    Returns
    -------
    ndarray
        ``samples_T_N_C``, ``features_N_D`` or ``alpha_N_C``.
    """
    value = getattr(estimate, FIELD_HELP[field][0])
    if value is None:
        raise missing_field_error(strategy_name, field)
    return np.asarray(value)


def _check_nonnegative_finite(array: np.ndarray, name: str) -> None:
    if not np.all(np.isfinite(array)):
        raise ValueError(f"{name} contains NaN or infinite values")
    if np.any(array < 0):
        raise ValueError(f"{name} contains negative probabilities")


def check_selection(
    estimate: PoolEstimate, k: int, selectable_N: np.ndarray
) -> Tuple[int, np.ndarray]:
    """Validate ``k`` and ``selectable_N`` and return the selectable indices.

    Parameters
    ----------
    estimate : PoolEstimate
        Gives the pool size ``N``.
    k : int
        Requested number of items; must be a non-negative integer (not a bool).
    selectable_N : array_like of bool, shape (N,)
        Mask of pickable items. Integer arrays holding only 0 and 1 are accepted.

    Returns
    -------
    k : int
        ``min(k, number of selectable items)``.
    candidates : ndarray of int64, shape (n_selectable,)
        Indices of selectable items, increasing.
    """
    if isinstance(k, (bool, np.bool_)) or not isinstance(k, (int, np.integer)):
        raise TypeError(f"k must be an int, got {type(k).__name__}")
    if k < 0:
        raise ValueError(f"k must be >= 0, got {k}")
    mask = np.asarray(selectable_N)
    n = estimate.n_items
    if mask.shape != (n,):
        raise ValueError(
            f"selectable_N must be a boolean mask of shape ({n},), got shape {mask.shape}"
        )
    if mask.dtype != np.bool_:
        if mask.size and not np.all((mask == 0) | (mask == 1)):
            raise ValueError(
                "selectable_N must be a boolean mask over the pool, not a list of indices"
            )
        mask = mask.astype(bool)
    candidates = np.flatnonzero(mask).astype(np.int64)
    return int(min(int(k), candidates.size)), candidates


def check_select_args(
    strategy: Strategy, estimate: PoolEstimate, k: int, selectable_N: np.ndarray
) -> Tuple[int, np.ndarray]:
    """Validate the arguments of ``strategy.select``: the estimate, then ``k`` and the mask.

    Runs :func:`check_estimate` with the strategy's name and :attr:`~Strategy.requires`,
    then returns what :func:`check_selection` returns: ``(k, candidates)``.
    """
    check_estimate(estimate, strategy.name, strategy.requires)
    return check_selection(estimate, k, selectable_N)


def check_positive_int(owner: str, label: str, value: Any) -> int:
    """Return constructor parameter ``label`` of strategy ``owner`` as an int >= 1.

    Raises
    ------
    ValueError
        For a bool, a non-integral number or a value below 1.
    """
    if isinstance(value, bool) or int(value) != value or value < 1:
        raise ValueError(f"strategy {owner!r}: {label} must be a positive int, got {value!r}")
    return int(value)


def top_k(scores_N: np.ndarray, k: int, candidates: np.ndarray) -> np.ndarray:
    """Return the ``k`` candidates with the highest score, highest first.

    Ties are broken deterministically by pool index (lower index first): the sort is
    stable over increasing ``candidates``.

    Parameters
    ----------
    scores_N : ndarray of float, shape (N,)
        Informativeness of every pool item (higher = more informative).
    k : int
        Number to return, ``0 <= k <= len(candidates)``.
    candidates : ndarray of int64, shape (n,)
        Increasing indices allowed to be picked.

    Returns
    -------
    ndarray of int64, shape (k,)
    """
    scores = np.asarray(scores_N, dtype=np.float64)[candidates]
    if np.any(np.isnan(scores)):
        raise ValueError("scores contain NaN; check the probabilities given to the strategy")
    order = np.argsort(-scores, kind="stable")[:k]
    return candidates[order].astype(np.int64)


def float_dtype(array: np.ndarray) -> type:
    """``np.float32`` for float32 (or float16) input, ``np.float64`` otherwise.

    Batch strategies compute in the caller's precision: float32 for speed,
    float64 for exactness (the tests).
    """
    return np.float32 if np.asarray(array).dtype in (np.float32, np.float16) else np.float64


def empty_indices() -> np.ndarray:
    """Return an empty int64 index array."""
    return np.zeros(0, dtype=np.int64)


def float_rows(array: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """Rows ``array[rows]`` as a C-contiguous copy in the :func:`float_dtype` of ``array``."""
    return np.ascontiguousarray(array[rows], dtype=float_dtype(array))


def row_chunks(
    n_rows: int, n_cols: int, chunk_elements: int = CHUNK_ELEMENTS
) -> Iterator[slice]:
    """Slices over ``range(n_rows)`` so that a ``(rows, n_cols)`` block stays small.

    Each slice spans ``max(1, chunk_elements // max(1, n_cols))`` rows (the last one
    fewer), so no block of a chunked computation holds more than ``chunk_elements``
    entries (or one row, when a row alone is larger).
    """
    step = max(1, chunk_elements // max(1, n_cols))
    for start in range(0, n_rows, step):
        yield slice(start, start + step)


class ScoreStrategy(Strategy):
    """A per-item strategy: ``select`` is the top-``k`` of :meth:`score`.

    Subclasses name the pure score function in :attr:`score_of` and the
    :class:`PoolEstimate` field it reads in :attr:`input_field` (``"probs"``,
    ``"samples"`` or ``"alpha"``), or override :meth:`score`. Selection takes the ``k``
    selectable items with the highest score, most informative first; ties go to the lower
    pool index, so the result does not depend on ``rng``.
    """

    score_of: ClassVar[Optional[Callable[[np.ndarray], np.ndarray]]] = None
    input_field: ClassVar[str] = "probs"

    def score(self, estimate: PoolEstimate) -> np.ndarray:
        """Per-item informativeness, shape ``(N,)``, higher = more informative.

        Validates ``estimate``, then applies :attr:`score_of` to its :attr:`input_field`.
        """
        check_estimate(estimate, self.name, self.requires)
        fn = type(self).score_of
        if fn is None:  # pragma: no cover - a subclass must set score_of or override score
            raise NotImplementedError(f"{type(self).__name__} sets no score_of")
        if self.input_field == "probs":
            return fn(estimate.probs_N_C)
        return fn(field_array(estimate, self.input_field, self.name))

    def select(
        self,
        estimate: PoolEstimate,
        k: int,
        selectable_N: np.ndarray,
        rng: np.random.Generator,
    ) -> np.ndarray:
        """Top-``k`` selectable items by :meth:`score`; ties by lower index.

        Parameters
        ----------
        estimate : PoolEstimate
            Beliefs over all ``N`` pool items.
        k : int
            How many to pick.
        selectable_N : ndarray of bool, shape (N,)
            Items that may be picked.
        rng : numpy.random.Generator
            Unused (selection is deterministic); accepted for the common interface.

        Returns
        -------
        ndarray of int64, shape (min(k, selectable_N.sum()),)
        """
        k, candidates = check_selection(estimate, k, selectable_N)
        scores = self.score(estimate)
        if k == 0:
            return empty_indices()
        return top_k(scores, k, candidates)


def resolve_base(base: object, owner: str) -> Strategy:
    """Turn a base-score argument (registry name or instance) into a strategy with a score.

    Parameters
    ----------
    base : str or Strategy
        A registered per-item strategy name (``"entropy"``, ``"bald"``, ...) or an
        instance whose :meth:`Strategy.score` returns an array.
    owner : str
        Name of the strategy that wraps the base (for messages).

    Returns
    -------
    Strategy
    """
    from .registry import create_strategy

    strategy = create_strategy(base) if isinstance(base, str) else base
    if not isinstance(strategy, Strategy):
        raise TypeError(
            f"strategy {owner!r}: base must be a strategy name or a Strategy, got {base!r}"
        )
    if type(strategy).score is Strategy.score:
        raise ValueError(
            f"strategy {owner!r}: base strategy {strategy.name!r} has no per-item score; "
            "use a per-item strategy such as 'entropy', 'margin' or 'bald'"
        )
    return strategy


def attach_base(owner: Strategy, base: Union[str, Strategy]) -> Strategy:
    """Resolve the base score of ``owner`` (see :func:`resolve_base`) and adopt its needs.

    ``owner.requires`` becomes, on the instance, the base strategy's requirements.

    Returns
    -------
    Strategy
        The resolved base strategy.
    """
    strategy = resolve_base(base, owner.name)
    owner.requires = frozenset(strategy.requires)  # type: ignore[misc]  # instance-level: follows the base
    return strategy


def base_scores(base: Strategy, estimate: PoolEstimate, owner: str) -> np.ndarray:
    """Scores of ``base`` on ``estimate``, re-raising missing fields in ``owner``'s name."""
    for field in base.requires:
        if getattr(estimate, FIELD_HELP[field][0]) is None:
            attr, what, how = FIELD_HELP[field]
            raise ValueError(
                f"strategy {owner!r} (base score {base.name!r}) needs {what} ({attr}); {how}"
            )
    scores: Optional[np.ndarray] = base.score(estimate)
    if scores is None:
        raise ValueError(f"strategy {owner!r}: base strategy {base.name!r} returned no score")
    scores = np.asarray(scores, dtype=np.float64)
    if scores.shape != (estimate.n_items,):
        raise ValueError(
            f"strategy {owner!r}: base score has shape {scores.shape}, "
            f"expected ({estimate.n_items},)"
        )
    return scores
