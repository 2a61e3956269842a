"""Small validators shared by :class:`~regiongan.regions.Region` and :class:`~regiongan.regions.RegionSet`.

Each checks one argument (a size, a batch, a mask's dtype and value range, coordinates) and raises
:class:`~regiongan.regions.RegionError` with a message saying what to pass instead. A feather sigma is
checked by :func:`regiongan.validate.feather_sigma` (the one rule the CLI's ``--feather`` shares).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from ..limits import check_count
from ..validate import MAX_COORDINATE, finite
from .errors import RegionError

# Values this far outside [0, 1] are treated as rounding noise and clamped; anything further is an error.
_RANGE_TOL = 1e-6


# ----------------------------------------------------------------------------------------------------------
# Small validation helpers


def _check_size(size: object, what: str = "size") -> tuple[int, int]:
    """Validate an image size ``(height, width)`` of two positive ints whose product is within
    ``limit("image_pixels")`` (a mask is allocated at this size)."""
    try:
        h, w = size  # type: ignore[misc]
        ok = all(isinstance(v, (int, np.integer)) and not isinstance(v, bool) and v > 0 for v in (h, w))
    except (TypeError, ValueError):
        ok = False
    if not ok:
        raise RegionError(
            f"{what} must be (height, width) with two positive ints, got {size!r}; "
            "e.g. size=(256, 256) for a 256x256 image"
        )
    check_count(int(h) * int(w), "image_pixels", f"the pixel count of {what} {int(h)}x{int(w)}")
    return int(h), int(w)


def _check_batch(batch: object) -> int:
    """The number of masks N: a positive int, at most ``limit("images")`` (one mask per image)."""
    if not isinstance(batch, (int, np.integer)) or isinstance(batch, bool) or batch < 1:
        raise RegionError(f"batch must be a positive int (number of masks N), got {batch!r}")
    return check_count(int(batch), "images", "batch (the number of masks N)")


def _check_range(x: torch.Tensor, what: str) -> torch.Tensor:
    """Error on NaN/inf or values clearly outside [0, 1]; clamp rounding noise. Returns the clamped tensor."""
    finite = torch.isfinite(x)
    if not bool(finite.all()):
        n_nan = int(torch.isnan(x).sum())
        n_inf = int((~finite).sum()) - n_nan
        found = "NaN" if n_nan else "inf"
        raise RegionError(
            f"{what} contains {found} ({n_nan} NaN and {n_inf} inf values out of {x.numel()}); masks must be "
            "finite values in [0, 1]. Check the computation that produced the mask (e.g. a division by zero)"
        )
    lo, hi = float(x.min()), float(x.max())
    if lo < -_RANGE_TOL or hi > 1.0 + _RANGE_TOL:
        hint = " It looks like an 8-bit image: divide by 255." if hi > 1.0 and hi <= 255.0 and lo >= 0 else ""
        raise RegionError(
            f"{what} values must lie in [0, 1], got min {lo:.6g} and max {hi:.6g}.{hint} "
            "Rescale the mask (or use .clamp(0, 1) / .sigmoid() if that is what you mean)"
        )
    return x.clamp(0.0, 1.0)


def _as_float_mask(x: object, what: str) -> torch.Tensor:
    """Check a mask-like tensor's type and dtype; return it as float32 (bool is accepted as 0/1)."""
    if isinstance(x, np.ndarray):
        x = torch.from_numpy(np.ascontiguousarray(x))
    if not isinstance(x, torch.Tensor):
        raise RegionError(
            f"{what} must be a torch.Tensor, got {type(x).__name__}; "
            "use Region.from_tensor / Region.from_image / Region.box to build a region"
        )
    if x.dtype == torch.bool:
        return x.to(torch.float32)
    if not (x.is_floating_point()):
        raise RegionError(
            f"{what} must be a float (or bool) tensor with values in [0, 1], got dtype {x.dtype}; "
            "for an 8-bit image use Region.from_image or t.float() / 255, for a label map use Region.from_labels"
        )
    return x.to(torch.float32)


def _check_coords(values: Sequence[float], what: str) -> list[float]:
    """Coordinates as floats: finite numbers within ±MAX_COORDINATE pixels (regions are clipped to the image
    anyway; larger values overflow the polygon arithmetic)."""
    return [finite(v, what, -MAX_COORDINATE, MAX_COORDINATE, error=RegionError) for v in values]
