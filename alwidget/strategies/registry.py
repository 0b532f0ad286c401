"""The strategy registry: names to :class:`~alwidget.strategies.base.Strategy` classes.

Strategies register themselves with the :func:`register_strategy` class decorator;
importing :mod:`alwidget.strategies` imports every built-in strategy module, so all
built-in names are available afterwards.

Examples
--------
>>> import alwidget.strategies as S
>>> S.create_strategy("entropy")
EntropyStrategy()
>>> sorted(S.strategy_requires("bald"))
['samples']
"""

from __future__ import annotations

import inspect
from typing import Any, Dict, FrozenSet, List, Type, TypeVar, Union

from ._common import VALID_REQUIREMENTS
from .base import Strategy

__all__ = [
    "register_strategy",
    "create_strategy",
    "available_strategies",
    "strategy_requires",
    "get_strategy_class",
]

_REGISTRY: Dict[str, Type[Strategy]] = {}

StrategyT = TypeVar("StrategyT", bound=Type[Strategy])


def _normalise(name: str) -> str:
    return name.strip().lower().replace("-", "_")


def register_strategy(cls: StrategyT) -> StrategyT:
    """Class decorator: add a :class:`Strategy` subclass to the registry under ``cls.name``.

    Parameters
    ----------
    cls : type
        A concrete subclass of :class:`Strategy` with a non-empty ``name`` and
        ``requires`` a subset of ``{"samples", "features", "alpha"}``.

    Returns
    -------
    type
        ``cls`` unchanged.

    Raises
    ------
    TypeError
        If ``cls`` is not a :class:`Strategy` subclass.
    ValueError
        If the name is empty, already taken by another class, or ``requires`` names
        an unknown field.
    """
    if not (isinstance(cls, type) and issubclass(cls, Strategy)):
        raise TypeError(f"register_strategy expects a Strategy subclass, got {cls!r}")
    if not cls.name:
        raise ValueError(f"{cls.__name__} must set a non-empty class attribute 'name'")
    key = _normalise(cls.name)
    if key != cls.name:
        raise ValueError(
            f"strategy name {cls.name!r} must be lower case with underscores, e.g. {key!r}"
        )
    unknown = set(cls.requires) - VALID_REQUIREMENTS
    if unknown:
        raise ValueError(
            f"{cls.__name__}.requires has unknown field(s) {sorted(unknown)}; "
            f"allowed: {sorted(VALID_REQUIREMENTS)}"
        )
    existing = _REGISTRY.get(key)
    if existing is not None and existing is not cls:
        if (existing.__module__, existing.__qualname__) != (cls.__module__, cls.__qualname__):
            raise ValueError(
                f"strategy name {key!r} is already registered by "
                f"{existing.__module__}.{existing.__qualname__}"
            )
    _REGISTRY[key] = cls
    return cls


def available_strategies() -> List[str]:
    """Names of all registered strategies, sorted.

    Returns
    -------
    list of str
    """
    return sorted(_REGISTRY)


def get_strategy_class(name: str) -> Type[Strategy]:
    """Look up the class registered under ``name``.

    Parameters
    ----------
    name : str
        Registry name; case and ``-``/``_`` are not significant.

    Returns
    -------
    type
        The :class:`Strategy` subclass.

    Raises
    ------
    ValueError
        If no strategy has that name (the message lists the available names).
    """
    if not isinstance(name, str):
        raise TypeError(f"strategy name must be a str, got {type(name).__name__}")
    try:
        return _REGISTRY[_normalise(name)]
    except KeyError:
        raise ValueError(
            f"unknown strategy {name!r}; available strategies: " + ", ".join(available_strategies())
        ) from None


def create_strategy(name: Union[str, Strategy], **params: Any) -> Strategy:
    """Build a strategy by registry name, or pass a :class:`Strategy` through.

    Parameters
    ----------
    name : str or Strategy
        A registered name (see :func:`available_strategies`) or an existing instance,
        which is returned unchanged.
    **params
        Keyword arguments of the strategy's constructor (e.g. ``beta=2.0`` for
        ``"power"``). Not allowed together with an instance.

    Returns
    -------
    Strategy

    Raises
    ------
    ValueError
        Unknown name (the message lists the available names), or a parameter value
        the strategy rejects.
    TypeError
        Parameters the strategy does not accept (the message lists those it does).
    """
    if isinstance(name, Strategy):
        if params:
            raise TypeError(
                f"create_strategy got a {type(name).__name__} instance and parameters "
                f"{sorted(params)}; pass either a name with parameters or a ready instance"
            )
        return name
    cls = get_strategy_class(name)
    signature = inspect.signature(cls)
    try:
        signature.bind(**params)
    except TypeError as exc:
        accepted = [
            p.name
            for p in signature.parameters.values()
            if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)
        ]
        raise TypeError(
            f"strategy {cls.name!r} got invalid parameters {sorted(params)} ({exc}); "
            f"accepted parameters: {', '.join(accepted) if accepted else '(none)'}"
        ) from None
    return cls(**params)


def strategy_requires(name: Union[str, Strategy], **params: Any) -> FrozenSet[str]:
    """Which optional :class:`PoolEstimate` fields a strategy reads.

    Parameters
    ----------
    name : str or Strategy
        Registry name or instance.
    **params
        Constructor parameters. Only matters for strategies wrapping a base score
        (``"power"``, ``"threshold"``), whose needs follow the base, e.g.
        ``strategy_requires("power", base="bald") == {"samples"}``.

    Returns
    -------
    frozenset of str
        Subset of ``{"samples", "features", "alpha"}``. For a name without parameters
        this is the class default.
    """
    if isinstance(name, Strategy) or params:
        return frozenset(create_strategy(name, **params).requires)
    return frozenset(get_strategy_class(name).requires)
