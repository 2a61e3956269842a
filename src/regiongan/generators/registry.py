"""The generator-family registry: ``model_type`` (stored in ``config.json``) -> class.

Like timm's ``_registry``, this module imports no family: each family module registers itself with
:func:`register_family` when :mod:`regiongan.generators` imports it. Every registered family is built from
its constructor arguments (its ``config``) and runs through the shared generator tests.
"""

from __future__ import annotations

from typing import Any, Callable, TypeVar

import torch.nn as nn

__all__ = ["register_family", "build_model", "list_families", "family_class"]

_FAMILIES: dict[str, type[nn.Module]] = {}
T = TypeVar("T", bound=type)


def register_family(model_type: str) -> Callable[[T], T]:
    """Class decorator: make ``cls(**config)`` loadable as ``model_type``; sets ``cls.model_type``."""

    def deco(cls: T) -> T:
        old = _FAMILIES.get(model_type)
        if old is not None and old.__qualname__ != cls.__qualname__:
            raise ValueError(f"generator family {model_type!r} is already registered by {old.__module__}")
        cls.model_type = model_type  # type: ignore[attr-defined]
        _FAMILIES[model_type] = cls  # type: ignore[assignment]
        return cls

    return deco


def list_families() -> list[str]:
    """Registered ``model_type`` names."""
    return sorted(_FAMILIES)


def family_class(model_type: str) -> type[nn.Module]:
    """The class registered as ``model_type``, or a ValueError listing the known ones."""
    if model_type not in _FAMILIES:
        raise ValueError(f"unknown model_type {model_type!r}; known: {list_families()}")
    return _FAMILIES[model_type]


def build_model(model_type: str, config: dict[str, Any]) -> nn.Module:
    """Instantiate a registered family from its constructor arguments."""
    cls = family_class(model_type)
    if not isinstance(config, dict):
        raise ValueError(f"the config of a {model_type} model must be an object, got {type(config).__name__}")
    try:
        return cls(**config)
    except TypeError as e:
        raise ValueError(f"config does not fit {model_type}: {e}") from e
