"""One result type for every image-producing operation (in the spirit of diffusers' pipeline outputs)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import torch

from .recipes import Recipe

__all__ = ["Result"]


@dataclass
class Result:
    """What every operation returns.

    images: ``[N, 3, H, W]`` in [-1, 1]; extras: the method's own outputs (e.g. ``"codes"``, ``"masks"``,
    ``"queries"``), documented by each operation; recorded: recipe values that replace the call's arguments
    (e.g. a mask read from a file is stored as the mask itself, so the recipe does not depend on the file).

    Filled in by the method registry: method (the operation's registered name), params (the call's
    arguments), model_name / model_fingerprint, seconds (wall time). ``result.recipe`` is the
    :class:`~regiongan.recipes.Recipe` that reproduces ``images`` (``result.recipe.save(path)``, then
    ``regiongan.replay(path)``).
    """

    images: torch.Tensor
    extras: dict[str, Any] = field(default_factory=dict)
    recorded: dict[str, Any] = field(default_factory=dict, repr=False)
    method: str = ""
    params: dict[str, Any] = field(default_factory=dict, repr=False)
    model_name: str | None = None
    model_fingerprint: str | None = None
    seconds: float = 0.0

    def __post_init__(self) -> None:
        if not isinstance(self.images, torch.Tensor) or self.images.ndim != 4:
            got = tuple(self.images.shape) if isinstance(self.images, torch.Tensor) else type(self.images).__name__
            raise ValueError(f"Result.images must be [N, C, H, W], got {got}")

    @property
    def recipe(self) -> Recipe:
        """The recipe that replays this result (needs a registered method: ``method`` is set)."""
        if not self.method:
            raise ValueError("this Result was not produced by a registered operation, so it has no recipe")
        return Recipe(
            method=self.method, model=self.model_name or "", params=dict(self.params),
            model_fingerprint=self.model_fingerprint,
        )  # fmt: skip

    def __len__(self) -> int:
        return self.images.shape[0]
