"""The recipe registry: ``mode=`` names to :class:`~alwidget.recipes.base.Recipe` classes.

Recipes register themselves with :func:`register_recipe`; importing :mod:`alwidget.recipes`
registers the built-in ones (``semi``, ``embed``, ``finetune``). A new mode is one module with
one registered class.

Examples
--------
>>> from alwidget.recipes import available_recipes, create_recipe
>>> available_recipes()
['embed', 'finetune', 'semi']
>>> create_recipe("semi", refine_every=None).refine_every is None
True
"""

from __future__ import annotations

from typing import Any, Dict, List, Type, TypeVar, Union

from .base import Recipe

__all__ = ["register_recipe", "create_recipe", "available_recipes"]

_REGISTRY: Dict[str, Type[Recipe]] = {}

RecipeT = TypeVar("RecipeT", bound=Type[Recipe])


def register_recipe(cls: RecipeT) -> RecipeT:
    """Class decorator: register a :class:`Recipe` subclass under ``cls.name``.

    Raises ``TypeError`` for a class that is not a Recipe, ``ValueError`` for an empty name or a
    name another class holds.
    """
    if not (isinstance(cls, type) and issubclass(cls, Recipe)):
        raise TypeError(f"register_recipe expects a Recipe subclass, got {cls!r}")
    if not cls.name or cls.name != cls.name.strip().lower():
        raise ValueError(f"{cls.__name__}.name must be a non-empty lower-case name, got {cls.name!r}")
    existing = _REGISTRY.get(cls.name)
    if existing is not None and (existing.__module__, existing.__qualname__) != (cls.__module__, cls.__qualname__):
        raise ValueError(f"mode {cls.name!r} is already registered by {existing.__module__}.{existing.__qualname__}")
    _REGISTRY[cls.name] = cls
    return cls


def available_recipes() -> List[str]:
    """Registered ``mode=`` names, sorted."""
    return sorted(_REGISTRY)


def create_recipe(mode: Union[str, Recipe], **settings: Any) -> Recipe:
    """A recipe from a name (with its own ``settings``) or a recipe object (returned as is;
    ``settings`` must then be empty).

    Raises ``ValueError`` for an unknown name, ``TypeError`` for settings the recipe does not take.
    """
    if isinstance(mode, Recipe):
        if mode.bound:
            raise ValueError(f"this {type(mode).__name__} already serves another learner (it holds that learner's "
                             "representations and cycles): pass a new one with the same settings")
        if settings:
            raise TypeError(f"settings {sorted(settings)} were given beside a {type(mode).__name__}: "
                            "pass them to the recipe itself")
        return mode
    if not isinstance(mode, str) or mode not in _REGISTRY:
        raise ValueError(f"mode must be one of {tuple(available_recipes())} or a Recipe, got {mode!r}")
    return _REGISTRY[mode](**settings)
