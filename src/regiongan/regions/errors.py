"""The one exception type of :mod:`regiongan.regions`."""

from __future__ import annotations


class RegionError(ValueError):
    """Bad region input: an empty box, a NaN mask, mismatched sizes, an unknown region syntax, ..."""
