"""Recipes: how a learner turns labels into a model, one per ``mode=``.

========== ================================================================================
mode       what each cycle trains
========== ================================================================================
``semi``   a head on a representation learned from the pool and chosen by the labels, with
           the kNN graph's pseudo-labels; a slow cycle fine-tunes the representation (default)
``embed``  a head on a frozen trunk's features, computed once
``finetune`` the whole network, from scratch
========== ================================================================================

A new mode is one module with one :class:`Recipe` subclass decorated with
:func:`register_recipe`; ``ActiveLearner(pool, mode="<name>")`` then uses it, or pass a recipe
object with its own settings: ``ActiveLearner(pool, mode=SemiRecipe(refine_every=None))``.
"""

from .base import FitPlan, Recipe
from .registry import available_recipes, create_recipe, register_recipe
from .embed import EmbedRecipe
from .finetune import FinetuneRecipe
from .semi import SemiRecipe

__all__ = ["FitPlan", "Recipe", "available_recipes", "create_recipe", "register_recipe", "EmbedRecipe",
           "FinetuneRecipe", "SemiRecipe"]
