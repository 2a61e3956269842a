"""The worlds by name: :func:`get_world` and :func:`list_worlds`."""

from __future__ import annotations

from types import MappingProxyType

from .base import World
from .faces import FacesWorld
from .scenes import ScenesWorld

__all__ = ["get_world", "list_worlds"]

_WORLDS = MappingProxyType({"faces": FacesWorld, "scenes": ScenesWorld})  # read-only registry


def list_worlds() -> list[str]:
    """Names accepted by :func:`get_world`, sorted."""
    return sorted(_WORLDS)


def get_world(name: str) -> World:
    """A new world instance by name; unknown names raise a ValueError listing the available worlds."""
    try:
        return _WORLDS[name]()
    except (KeyError, TypeError):
        raise ValueError(f"unknown world {name!r}; available worlds: {', '.join(list_worlds())}") from None
