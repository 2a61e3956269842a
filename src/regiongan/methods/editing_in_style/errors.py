"""The error every part of Editing in Style raises for bad input, and its check of ints (the rule of
:func:`regiongan.validate.integer`, raised as a :class:`CatalogError`)."""

from __future__ import annotations

from typing import Any

from ...validate import integer

__all__ = ["CatalogError", "check_count"]


class CatalogError(ValueError):
    """Bad catalog input: an unknown layer or part, K larger than the data, an unreadable catalog file, …"""


def check_count(value: Any, what: str, minimum: int) -> int:
    """``value`` if it is an int ``>= minimum`` (not a bool), else a :class:`CatalogError` naming ``what``
    (sizes with a resource cap are checked by :func:`regiongan.limits.check_count` first)."""
    return integer(value, what, minimum, error=CatalogError)
