"""Procedural, part-annotated worlds: training data and ground-truth label maps."""

from __future__ import annotations

from .base import Params, World, WorldSample
from .faces import FacesWorld
from .scenes import ScenesWorld
from .dataset import WorldDataset

_WORLDS: dict[str, type[World]] = {"faces": FacesWorld, "scenes": ScenesWorld}


def list_worlds() -> list[str]:
    """Names accepted by :func:`get_world`."""
    return sorted(_WORLDS)


def get_world(name: str) -> World:
    """A world by name; unknown names raise a ValueError that lists the available ones."""
    try:
        return _WORLDS[name]()
    except KeyError:
        raise ValueError(f"unknown world {name!r}; available worlds: {', '.join(list_worlds())}") from None


__all__ = ["WorldDataset", "World", "WorldSample", "Params", "FacesWorld", "ScenesWorld", "get_world", "list_worlds"]
