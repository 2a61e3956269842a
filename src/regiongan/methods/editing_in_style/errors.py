"""The error every part of Editing in Style raises for bad input, and the one check of counts."""

from __future__ import annotations

from typing import Any

__all__ = ["CatalogError", "check_count"]


class CatalogError(ValueError):
    """Bad catalog input: an unknown layer or part, K larger than the data, an unreadable catalog file, …"""


def check_count(value: Any, what: str, minimum: int) -> int:
    """``value`` if it is an int ``>= minimum`` (not a bool), else a :class:`CatalogError` naming ``what``."""
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise CatalogError(f"{what} must be an int >= {minimum}, got {value!r}")
    return value
