"""The command-line region syntax: :func:`parse_region` and :data:`REGION_SYNTAX_HELP`."""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence

import numpy as np
import torch

from ._checks import _check_size
from .errors import RegionError
from .region import Region


# ----------------------------------------------------------------------------------------------------------
# The command-line region syntax

REGION_SYNTAX_HELP = """\
Region syntax (coordinates in pixels of the output image, x along the width, y along the height):
  box:X0,Y0,X1,Y1        box with exclusive ends, e.g. box:64,96,192,160
                         (if all four numbers are in [0, 1] and one is fractional, they are relative:
                         box:0.25,0.5,0.75,1 is the lower middle)
  rbox:X0,Y0,X1,Y1       box in relative coordinates [0, 1], e.g. rbox:0,0,0.5,1 (left half)
  poly:X0,Y0,X1,Y1,...   polygon with >= 3 points (pixels), e.g. poly:128,40,200,200,56,200
  rpoly:X0,Y0,...        polygon in relative coordinates, e.g. rpoly:0.5,0,1,1,0,1
  mask:PATH.png          brush mask: grayscale value, RGB luminance or RGBA alpha, e.g. mask:brush.png
  label:PATH.png:IDS     pixels of a label-map PNG with class id(s), e.g. label:seg.png:3 or label:seg.png:3,4
  part:NAME              a named part from the model's part parser, e.g. part:mouth
  full                   the whole image
Combine left to right with + (union) and - (difference), e.g. box:0,0,128,128-box:32,32,96,96
or part:mouth+part:nose. Coordinates cannot be negative (there is no minus sign in numbers).
"""

_PREFIXES = ("rbox", "box", "rpoly", "poly", "mask", "label", "part")
# Split only at a '+' or '-' that is followed by the start of another spec, so that paths such as
# mask:my-brush.png keep their '-'.
_OPERATOR = re.compile(r"\s*([+-])\s*(?=(?:" + "|".join(_PREFIXES) + r"):|full\s*(?:$|[+-]))")


def parse_region(
    spec: str,
    size: tuple[int, int],
    labels: torch.Tensor | np.ndarray | None = None,
    part_names: Mapping[str, int | Sequence[int]] | None = None,
) -> Region:
    """Parse a command-line region spec (see :data:`REGION_SYNTAX_HELP`) into a :class:`Region`.

    Args:
        spec: e.g. ``"box:0,0,32,32-box:8,8,16,16"`` or ``"part:mouth+mask:my-brush.png"``.
        size: image size ``(H, W)`` of the result.
        labels: part label map ``[H, W]`` or ``[N, H, W]`` for ``part:`` specs (any resolution; resized).
        part_names: part name -> class id(s) in ``labels``, for ``part:`` specs.

    Returns:
        :class:`Region` ``[N, 1, H, W]``. Terms combine left to right (``A+B-C = (A | B) - C``).

    Operators split the spec only where the text after them starts with a known form (``box:``,
    ``mask:``, ..., ``full``), so paths may contain ``-`` or ``+`` elsewhere. Coordinates are never
    negative.
    """
    if not isinstance(spec, str) or not spec.strip():
        raise RegionError(f"region spec must be a non-empty string, got {spec!r}; see `regiongan regions` for the syntax")
    size = _check_size(size)
    parts = _OPERATOR.split(spec.strip())
    terms, ops = parts[0::2], parts[1::2]
    region = _parse_term(terms[0], spec, size, labels, part_names)
    for op, term in zip(ops, terms[1:]):
        other = _parse_term(term, spec, size, labels, part_names)
        region = region | other if op == "+" else region - other
    return region


def _parse_numbers(text: str, form: str, spec: str) -> list[float]:
    values = []
    for piece in text.split(","):
        piece = piece.strip()
        try:
            v = float(piece)
        except ValueError:
            hint = (
                "; a '+' or '-' combines regions only when a known form follows it "
                f"({', '.join(p + ':' for p in _PREFIXES)} or full)"
                if ("+" in piece or "-" in piece)
                else ""
            )
            raise RegionError(
                f"'{form}:{text}' in region spec {spec!r}: cannot read {piece!r} as a number; write "
                f"comma-separated non-negative numbers, e.g. box:8,8,24,24{hint}"
            ) from None
        if not math.isfinite(v) or v < 0:
            raise RegionError(
                f"'{form}:{text}' in region spec {spec!r}: coordinates must be finite and non-negative, got "
                f"{piece!r} (negative coordinates are not supported; boxes are clipped to the image anyway)"
            )
        values.append(v)
    return values


def _parse_term(
    term: str,
    spec: str,
    size: tuple[int, int],
    labels: torch.Tensor | np.ndarray | None,
    part_names: Mapping[str, int | Sequence[int]] | None,
) -> Region:
    term = term.strip()
    if term == "full":
        return Region.full(size)
    form, sep, rest = term.partition(":")
    if not sep or form not in _PREFIXES:
        shown = term if term else "(empty)"
        raise RegionError(
            f"unknown region form {shown!r} in spec {spec!r}; accepted forms: box:, rbox:, poly:, rpoly:, mask:, "
            "label:, part:, full (see `regiongan regions`)"
        )
    rest = rest.strip()
    if form in ("box", "rbox"):
        nums = _parse_numbers(rest, form, spec)
        if len(nums) != 4:
            raise RegionError(
                f"'{term}' in region spec {spec!r}: a box needs 4 numbers X0,Y0,X1,Y1, got {len(nums)}; "
                "e.g. box:8,8,24,24"
            )
        relative = form == "rbox" or (
            all(0.0 <= v <= 1.0 for v in nums) and any(v != int(v) for v in nums)
        )
        return Region.box(*nums, size=size, relative=relative)
    if form in ("poly", "rpoly"):
        nums = _parse_numbers(rest, form, spec)
        if len(nums) % 2 or len(nums) < 6:
            raise RegionError(
                f"'{term}' in region spec {spec!r}: a polygon needs an even count of >= 6 numbers "
                f"(>= 3 x,y points), got {len(nums)}; e.g. poly:0,0,32,0,16,32"
            )
        points = list(zip(nums[0::2], nums[1::2]))
        return Region.polygon(points, size=size, relative=form == "rpoly")
    if form == "mask":
        if not rest:
            raise RegionError(f"'{term}' in region spec {spec!r}: give a PNG path, e.g. mask:brush.png")
        return Region.from_image(rest, size=size)
    if form == "label":
        path, colon, ids = rest.rpartition(":")
        if not colon or not path or not ids.strip():
            raise RegionError(
                f"'{term}' in region spec {spec!r}: write label:PATH.png:IDS, e.g. label:seg.png:3 or "
                "label:seg.png:3,4"
            )
        try:
            classes = [int(c) for c in ids.split(",")]
        except ValueError:
            raise RegionError(
                f"'{term}' in region spec {spec!r}: class ids must be comma-separated ints, got {ids!r}"
            ) from None
        return Region.from_labels(path, classes, size=size)
    # form == "part"
    if part_names is None or labels is None:
        missing = " and ".join(
            n for n, v in (("a part-name mapping", part_names), ("a part label map", labels)) if v is None
        )
        raise RegionError(
            f"'{term}' in region spec {spec!r}: part regions need a part parser, but {missing} was not "
            "given; use a model that provides a part parser / label map, or use box:, poly:, mask: or label:"
        )
    if rest not in part_names:
        raise RegionError(
            f"unknown part name {rest!r} in region spec {spec!r}; available parts: {sorted(part_names)}"
        )
    return Region.from_labels(labels, part_names[rest], size=size)
