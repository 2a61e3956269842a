"""The API layer: everything registered, plus the calls that need every method (replay, listing).

Importing this module imports :mod:`regiongan.methods`, so every built-in operation is registered.
"""

from __future__ import annotations

import os

from . import methods  # noqa: F401  (registers every built-in operation)
from .recipes import load_recipe, load_recipe_model
from .registry import MethodSpec, get_method, list_methods
from .results import Result

__all__ = ["replay", "list_methods", "get_method", "MethodSpec"]


def replay(recipe_path: str | os.PathLike, model: str | None = None, G=None) -> Result:
    """Reproduce a recipe's result (bit-for-bit on the same machine and torch build).

    ``model`` replaces the recipe's model name / path; ``G`` passes an already loaded model instead.
    Warns (:class:`~regiongan.recipes.RecipeWarning`) when the model's weights differ from the recorded ones.
    """
    recipe = load_recipe(recipe_path)
    recipe.check()
    if G is None:
        G = load_recipe_model(recipe, recipe_path, model)
    return recipe.run(G)
