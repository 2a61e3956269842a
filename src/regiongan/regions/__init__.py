"""Regions: the one type every region method uses to say *where* an edit happens.

A :class:`Region` is a soft mask ``[N, 1, H, W]`` (float32, values in ``[0, 1]``) in *image space*. Methods
that act on a generator layer of a different resolution call :meth:`Region.at` to resample it, which goes
through :func:`regiongan.ops.masks.resize_mask` -- the single resizing rule of the library.

A :class:`RegionSet` is ``K`` soft masks ``[N, K, H, W]`` that partition the image (they sum to one at
every pixel), for methods that assign every pixel to some region (e.g. SPADE-style label maps).

:func:`parse_region` is the one parser of the command-line region syntax (see :data:`REGION_SYNTAX_HELP`).
"""

from __future__ import annotations

from .errors import RegionError
from .region import Region
from .regionset import RegionSet
from .spec import REGION_SYNTAX_HELP, parse_region

__all__ = ["REGION_SYNTAX_HELP", "Region", "RegionError", "RegionSet", "parse_region"]
