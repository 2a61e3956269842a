"""Validation at the boundary: one validator per kind of value, used alike by the API, recipes and the CLI.

Every number a user or a file gives regiongan is checked where it enters — an operation's argument, a
field read from a recipe, a catalog or a directions file, a command-line option (whose click type calls
the same validator, so a bad flag is a usage error with the API's own message). Each validator returns the
value in its canonical type or raises ``error`` (a ValueError by default; loaders pass their own error
class) with one line that names the value, the accepted range and what was given.

Where each kind of value is checked (never in two places):

=====================================  ===========================================================
kind                                   validator
=====================================  ===========================================================
a number (finite, in a range)          :func:`finite`
an int (in a range)                    :func:`integer`
a count under a resource cap           :func:`regiongan.limits.check_count`
a seed                                 :func:`seed` (``0 .. MAX_SEED``; numpy RandomState's range)
truncation ψ                           :func:`regiongan.latents.check_truncation_psi`
the class of a conditional model       :func:`regiongan.latents.class_vector`
ReSeFa strengths                       :func:`strengths`
a grid's upscale factor                :func:`scale`
a feather (blur) sigma                 :func:`feather_sigma`
region coordinates, label class ids    :mod:`regiongan.regions` (``_check_coords``, ``_check_classes``)
a loaded tensor (shape, finite)        :func:`finite_tensor`
a loaded JSON field (type)             :func:`json_field`
=====================================  ===========================================================

Bounds that are not resource caps (those are in :mod:`regiongan.limits`, with overrides) are fixed here,
each with the reason it is safe:

* :data:`MAX_STRENGTH` — ``|t| <= 1000`` along a unit direction: 400× the spread of W along its widest
  principal direction in faces-64 (std ≈ 2.3), far past where images saturate, and small enough that
  nothing in the network overflows float32 (``t = 1e38`` gives inf and black images);
* :data:`FEATHER_SIDES` — a feather sigma of at most 4× the image side: at that width the Gaussian's
  weights across the whole image differ by under 3 %, so the mask is already flattened to its mean and a
  larger sigma changes nothing (``1e308`` overflowed the kernel radius);
* :data:`MAX_COORDINATE` — region coordinates within ±10⁶ pixels: boxes and polygons are clipped to the
  image anyway, and beyond ~10¹⁵⁴ the polygon test's products overflow float64 and fill the wrong pixels.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import torch

from .limits import LimitError, check_count, env_name, limit

__all__ = [
    "MAX_SEED",
    "MAX_STRENGTH",
    "FEATHER_SIDES",
    "MAX_COORDINATE",
    "finite",
    "integer",
    "seed",
    "strengths",
    "scale",
    "feather_sigma",
    "finite_tensor",
    "json_field",
]

#: Seeds are numpy RandomState seeds (NVlabs' convention, :mod:`regiongan.latents`): 0 <= seed < 2**32.
MAX_SEED = 2**32 - 1
#: The largest |t| of a ReSeFa strength (a distance along a unit direction; see the module docstring).
MAX_STRENGTH = 1e3
#: A feather sigma may be at most this many times the image's larger side (see the module docstring).
FEATHER_SIDES = 4
#: Region coordinates (pixels) lie within ±MAX_COORDINATE (see the module docstring).
MAX_COORDINATE = 1e6

_MISSING = object()


def _short(value: Any, width: int = 60) -> str:
    text = repr(value)
    return text if len(text) <= width else text[: width - 3] + "..."


def _range_text(lo: float | None, hi: float | None, lo_open: bool = False, hi_open: bool = False, ints: bool = False) -> str:
    """`` in [0, 1]``, `` > 0``, `` in 0..9`` … — the accepted range, for a message."""
    g = (lambda v: str(int(v))) if ints else (lambda v: f"{v:g}")
    if lo is not None and hi is not None:
        if ints:
            return f" in {g(lo)}..{g(hi)}"
        return f" in {'(' if lo_open else '['}{g(lo)}, {g(hi)}{')' if hi_open else ']'}"
    if lo is not None:
        return f" {'>' if lo_open else '>='} {g(lo)}"
    if hi is not None:
        return f" {'<' if hi_open else '<='} {g(hi)}"
    return ""


def finite(
    value: Any,
    what: str,
    lo: float | None = None,
    hi: float | None = None,
    lo_open: bool = False,
    hi_open: bool = False,
    error: type[Exception] = ValueError,
) -> float:
    """``value`` as a float if it is a finite real number (not a bool, not a string) within ``lo`` / ``hi``
    (inclusive unless ``lo_open`` / ``hi_open``), else ``error``: ``"psi must be a finite number > 0, got nan"``."""
    if isinstance(value, torch.Tensor) and value.numel() == 1 and not value.is_complex() and value.dtype != torch.bool:
        value = value.item()  # a one-element tensor is its number
    ok = isinstance(value, numbers.Real) and not isinstance(value, bool)
    try:
        v = float(value) if ok else math.nan
    except OverflowError:  # an int of 400 digits
        v = math.inf
    ok = ok and math.isfinite(v)
    ok = ok and (lo is None or (v > lo if lo_open else v >= lo)) and (hi is None or (v < hi if hi_open else v <= hi))
    if not ok:
        raise error(f"{what} must be a finite number{_range_text(lo, hi, lo_open, hi_open)}, got {_short(value)}")
    return v


def integer(
    value: Any, what: str, lo: int | None = None, hi: int | None = None, error: type[Exception] = ValueError
) -> int:
    """``value`` as an int if it is an integer (Python or numpy; not a bool, not a float) in ``lo .. hi``,
    else ``error``: ``"index must be an int in 0..9, got 12"``."""
    ok = isinstance(value, numbers.Integral) and not isinstance(value, bool)
    ok = ok and (lo is None or int(value) >= lo) and (hi is None or int(value) <= hi)
    if not ok:
        raise error(f"{what} must be an int{_range_text(lo, hi, ints=True)}, got {_short(value)}")
    return int(value)


def seed(value: Any, what: str = "seed", error: type[Exception] = ValueError) -> int:
    """A seed: an int in ``0 .. MAX_SEED`` (every seed, whether it names a z code, noise or variations)."""
    return integer(value, what, 0, MAX_SEED, error)


def strengths(values: Any, what: str = "strengths") -> list[float]:
    """ReSeFa strengths (distances along a unit direction): one number or a non-empty list of at most
    ``limit("strengths")`` finite numbers with ``|t| <= MAX_STRENGTH`` -> a list of floats."""
    if isinstance(values, numbers.Real) and not isinstance(values, bool):
        values = [values]
    if isinstance(values, (str, bytes, Mapping)) or not isinstance(values, Iterable):
        raise ValueError(f"{what} must be a number or a list of numbers, e.g. [-3, 0, 3], got {_short(values)}")
    values = list(values)
    if not values:
        raise ValueError(f"{what} must contain at least one number, e.g. [-3, 0, 3]")
    check_count(len(values), "strengths", f"the number of {what}")
    out = []
    for t in values:
        try:
            out.append(finite(t, what, -MAX_STRENGTH, MAX_STRENGTH))
        except ValueError:
            raise ValueError(
                f"{what} must be finite numbers in [-{MAX_STRENGTH:g}, {MAX_STRENGTH:g}] (distances along the unit "
                f"direction), got {_short(t)}"
            ) from None
    return out


def scale(value: Any, side: int | None = None, what: str = "scale") -> int:
    """A nearest-neighbour upscale factor: an int in ``1 .. limit("preview_size")``; with ``side`` (the
    image's larger side before scaling) an upscaled image must also stay within ``limit("preview_size")``
    (scale 1 is always allowed: it draws nothing larger than the images themselves)."""
    factor = check_count(value, "preview_size", what)
    cap = limit("preview_size")
    if side is not None and factor > 1 and side * factor > cap:
        raise LimitError(
            f"{what} {factor} makes a {side * factor}-pixel side from {side} pixels, above the limit of {cap} "
            f"(preview_size); use {what} {max(1, cap // side)} or less, or raise it with "
            f"{env_name('preview_size')}={side * factor} or `regiongan --limit preview_size={side * factor}`"
        )
    return factor


def feather_sigma(value: Any, size: Sequence[int] | None = None, error: type[Exception] = ValueError) -> float:
    """A feather (Gaussian blur) std in pixels: a finite number >= 0 and, given the image ``size (H, W)``,
    at most ``FEATHER_SIDES`` × its larger side (0: no feathering)."""
    sigma = finite(value, "feather sigma (pixels)", lo=0, error=error)
    if size is not None:
        bound = FEATHER_SIDES * max(int(s) for s in size)
        if sigma > bound:
            raise error(
                f"feather sigma {sigma:g} is wider than {FEATHER_SIDES}x the {size[0]}x{size[1]} image, which already "
                f"blurs the mask flat; use at most {bound} pixels (0: hard edges)"
            )
    return sigma


def _shape_text(shape: Sequence[int | str | None]) -> str:
    return "[" + ", ".join("*" if s is None else str(s) for s in shape) + "]"


def finite_tensor(
    value: Any,
    what: str,
    shape: Sequence[int | str | None] | None = None,
    error: type[Exception] = ValueError,
) -> torch.Tensor:
    """``value`` if it is a floating-point tensor of ``shape`` (an int: that size; a str or None: any size,
    a str naming it in the message) holding no NaN or inf, else ``error``. For tensors read from files."""
    expected = f" {_shape_text(shape)}" if shape is not None else ""
    if not isinstance(value, torch.Tensor) or not value.is_floating_point():
        got = f"dtype {value.dtype}" if isinstance(value, torch.Tensor) else type(value).__name__
        raise error(f"{what} must be a float tensor{expected}, got {got}")
    if shape is not None and (
        value.ndim != len(shape) or any(isinstance(s, int) and s != n for s, n in zip(shape, value.shape))
    ):
        raise error(f"{what} must be{expected}, got {list(value.shape)}")
    if value.numel() and not bool(torch.isfinite(value).all()):
        bad = int((~torch.isfinite(value)).sum())
        raise error(
            f"{what} holds {bad} NaN or inf value{'s' if bad != 1 else ''} out of {value.numel()}; recompute it (NaN / inf "
            "comes from a damaged file or a diverged computation)"
        )
    return value


_KINDS = {str: "a string", int: "an int", float: "a number", bool: "true or false", list: "a list", dict: "an object"}


def json_field(
    data: Any,
    key: str,
    kind: type | tuple[type, ...],
    where: str,
    error: type[Exception] = ValueError,
    default: Any = _MISSING,
) -> Any:
    """``data[key]`` if it is of JSON type ``kind`` (``str``, ``int``, ``float`` = any finite number,
    ``bool``, ``list``, ``dict`` = an object; a tuple: any of them; ``type(None)`` allows null), else
    ``error`` naming ``where`` (the file) and the key. A missing key is an error unless ``default`` is given."""
    if not isinstance(data, Mapping):
        raise error(f"{where}: expected a JSON object, got {type(data).__name__}")
    if key not in data:
        if default is _MISSING:
            raise error(f"{where}: the key {key!r} is missing; the file is incomplete or not the right kind of file")
        return default
    value = data[key]
    kinds = kind if isinstance(kind, tuple) else (kind,)
    for k in kinds:
        if k is type(None) and value is None:
            return value
        if k is int and isinstance(value, int) and not isinstance(value, bool):
            return value
        if k is float and isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value):
            return value
        if k is bool and isinstance(value, bool):
            return value
        if k in (str, list) and isinstance(value, k):
            return value
        if k is dict and isinstance(value, Mapping):
            return value
    names = " or ".join("null" if k is type(None) else _KINDS.get(k, k.__name__) for k in kinds)
    raise error(f"{where}: {key!r} must be {names}, got {_short(value)}")
