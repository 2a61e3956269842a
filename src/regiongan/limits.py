"""Resource limits: every cap regiongan enforces, in one table, each with an override.

A small file must not make regiongan allocate gigabytes or loop for hours, and a typo in a count must not
start a job of a billion images. Each limit below is checked *before* the work or the allocation it bounds.
Raise one with an environment variable (``REGIONGAN_MAX_IMAGE_PIXELS=400000000``) or, on the command line,
``regiongan --limit image_pixels=4e8 COMMAND …``. docs/security.md lists them.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from typing import Any

__all__ = ["Limit", "LIMITS", "LimitError", "limit", "check_count", "env_name"]


class LimitError(ValueError):
    """A request above one of regiongan's resource limits (the message names the limit and how to raise it)."""


@dataclass(frozen=True)
class Limit:
    """name: key in :data:`LIMITS`; default: the cap; what: what it bounds, in words."""

    name: str
    default: int
    what: str


LIMITS: dict[str, Limit] = {
    limit.name: limit
    for limit in (
        Limit("model_parameters", 1_000_000_000, "parameters of a model declared by a checkpoint's config (4 GB in fp32; 1024² StyleGAN2 has 30 M, BigGAN-deep 512 has 56 M)"),
        Limit("model_activation_pixels", 1 << 30, "output pixels × channels of one layer of a declared model (img_resolution² × width)"),
        Limit("checkpoint_bytes", 8 << 30, "size of a checkpoint file read from disk"),
        Limit("pickle_objects", 2_000_000, "objects a pickle may build while it is read, and bytes of a JSON file or safetensors header"),
        Limit("image_pixels", 64_000_000, "pixels of a mask, label map or image file read from disk (8000 × 8000)"),
        Limit("images", 10_000, "images one command or call generates (seeds, codes × strengths)"),
        Limit("variations", 256, "variations of one ITAN resample"),
        Limit("samples", 100_000, "samples a statistic is computed over (catalog, ReSeFa Grams, FD)"),
        Limit("strengths", 64, "strengths of one ReSeFa edit"),
        Limit("preview_size", 4096, "side of a preview or exported world image in pixels"),
    )
}


def env_name(name: str) -> str:
    """The environment variable that overrides limit ``name``: ``REGIONGAN_MAX_<NAME>``."""
    return "REGIONGAN_MAX_" + name.upper()


def limit(name: str) -> int:
    """The cap ``name`` in force: its environment override if set (a positive number, ``1e9`` allowed), else the
    default."""
    if name not in LIMITS:
        raise KeyError(f"unknown limit {name!r}; known: {sorted(LIMITS)}")
    raw = os.environ.get(env_name(name))
    if raw is None or raw.strip() == "":
        return LIMITS[name].default
    try:
        value = float(raw)
    except ValueError:
        raise LimitError(f"{env_name(name)}={raw!r} is not a number; give a positive number such as 1e9") from None
    if not math.isfinite(value) or value < 1:
        raise LimitError(f"{env_name(name)}={raw!r} must be a finite number >= 1")
    return int(value)


def check_count(value: Any, name: str, what: str, minimum: int = 1) -> int:
    """``value`` as an int in ``minimum .. limit(name)``, else a one-line error naming the limit and how to
    raise it (ValueError for a value that is not an int or below ``minimum``, :class:`LimitError` above the cap)."""
    if isinstance(value, bool) or not isinstance(value, int):
        try:
            is_int = float(value).is_integer()
        except (TypeError, ValueError, OverflowError):
            is_int = False
        if not is_int or isinstance(value, (bool, str)):
            raise ValueError(f"{what} must be an int >= {minimum}, got {value!r}")
        value = int(value)
    if value < minimum:
        raise ValueError(f"{what} must be an int >= {minimum}, got {value}")
    cap = limit(name)
    if value > cap:
        raise LimitError(
            f"{what} is {value}, above the limit of {cap} ({LIMITS[name].what}); raise it with "
            f"{env_name(name)}={value} or `regiongan --limit {name}={value}`"
        )
    return value
