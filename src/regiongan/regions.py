"""Regions: the one type every region method uses to say *where* an edit happens.

A :class:`Region` is a soft mask ``[N, 1, H, W]`` (float32, values in ``[0, 1]``) in *image space*. Methods
that act on a generator layer of a different resolution call :meth:`Region.at` to resample it, which goes
through :func:`regiongan.ops.masks.resize_mask` -- the single resizing rule of the library.

A :class:`RegionSet` is ``K`` soft masks ``[N, K, H, W]`` that partition the image (they sum to one at
every pixel), for methods that assign every pixel to some region (e.g. SPADE-style label maps).

:func:`parse_region` is the one parser of the command-line region syntax (see :data:`REGION_SYNTAX_HELP`).
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Union

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image, UnidentifiedImageError

from regiongan.ops.masks import resize_mask

__all__ = ["REGION_SYNTAX_HELP", "Region", "RegionError", "RegionSet", "parse_region"]

# Values this far outside [0, 1] are treated as rounding noise and clamped; anything further is an error.
_RANGE_TOL = 1e-6
# A RegionSet must sum to one within this tolerance at every pixel.
_PARTITION_TOL = 1e-4

PathLike = Union[str, os.PathLike]
ImageSource = Union[str, os.PathLike, Image.Image, np.ndarray]
LabelSource = Union[torch.Tensor, np.ndarray, str, os.PathLike]


class RegionError(ValueError):
    """Bad region input: an empty box, a NaN mask, mismatched sizes, an unknown region syntax, ..."""


# ----------------------------------------------------------------------------------------------------------
# Small validation helpers


def _check_size(size: object, what: str = "size") -> tuple[int, int]:
    """Validate an image size ``(height, width)`` of two positive ints."""
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
    return int(h), int(w)


def _check_batch(batch: object) -> int:
    if not isinstance(batch, (int, np.integer)) or isinstance(batch, bool) or batch < 1:
        raise RegionError(f"batch must be a positive int (number of masks N), got {batch!r}")
    return int(batch)


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
    out = []
    for v in values:
        try:
            f = float(v)
        except (TypeError, ValueError):
            raise RegionError(f"{what} must be numbers, got {v!r}") from None
        if not math.isfinite(f):
            raise RegionError(f"{what} must be finite numbers, got {v!r}")
        out.append(f)
    return out


def _gaussian_blur(x: torch.Tensor, sigma: float) -> torch.Tensor:
    """Separable Gaussian blur of ``[N, C, H, W]`` with std ``sigma`` pixels and reflect padding.

    The kernel radius is ``ceil(3 sigma)``, shortened to ``dim - 1`` on small images (reflect padding
    cannot pad more than that); the kernel is renormalised so that a constant image stays constant.
    """
    n, c, h, w = x.shape
    for dim, length in ((3, w), (2, h)):
        radius = min(math.ceil(3.0 * sigma), length - 1)
        if radius <= 0:
            continue
        t = torch.arange(-radius, radius + 1, dtype=torch.float64)
        k = torch.exp(-0.5 * (t / sigma) ** 2)
        k = (k / k.sum()).to(dtype=x.dtype, device=x.device)
        if dim == 3:
            kernel = k.view(1, 1, 1, -1).expand(c, 1, 1, k.numel())
            x = F.conv2d(F.pad(x, (radius, radius, 0, 0), mode="reflect"), kernel, groups=c)
        else:
            kernel = k.view(1, 1, -1, 1).expand(c, 1, k.numel(), 1)
            x = F.conv2d(F.pad(x, (0, 0, radius, radius), mode="reflect"), kernel, groups=c)
    return x


def _check_sigma(sigma: object) -> float:
    try:
        s = float(sigma)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise RegionError(f"feather sigma must be a number of pixels, got {sigma!r}") from None
    if not math.isfinite(s) or s < 0:
        raise RegionError(
            f"feather sigma must be a finite number >= 0 (Gaussian std in pixels), got {sigma!r}; "
            "use sigma=0 for no feathering"
        )
    return s


def _open_image(source: ImageSource | PathLike, what: str) -> Image.Image:
    if isinstance(source, Image.Image):
        return source
    path = Path(source)  # type: ignore[arg-type]
    if not path.exists():
        raise RegionError(f"{what} file not found: '{path}' (resolved to '{path.resolve()}'); check the path")
    if path.is_dir():
        raise RegionError(f"{what} path '{path}' is a directory; give the path of a PNG file")
    try:
        with Image.open(path) as img:
            img.load()
            return img.copy()
    except (UnidentifiedImageError, OSError) as e:
        raise RegionError(
            f"{what} '{path}' is not a readable image ({e}); give a PNG file (grayscale, RGB or RGBA)"
        ) from None


# ----------------------------------------------------------------------------------------------------------
# Region


@dataclass(frozen=True, eq=False, repr=False)
class Region:
    """A soft mask in image space.

    Attributes:
        mask: ``[N, 1, H, W]`` float32 in ``[0, 1]``; 1 = inside the region, 0 = outside, fractions at
            anti-aliased or feathered edges. ``N`` is the batch (one mask per image, or ``N = 1`` shared).

    Regions are immutable; every operation returns a new one. ``eq`` is off on purpose: comparing two
    masks is a tensor operation (``torch.allclose(a.mask, b.mask)``), not ``a == b``.
    """

    mask: torch.Tensor

    def __post_init__(self) -> None:
        m = _as_float_mask(self.mask, "Region mask")
        if m.ndim != 4 or m.shape[1] != 1:
            raise RegionError(
                f"Region mask must be [N, 1, H, W], got shape {list(m.shape)}; "
                "use Region.from_tensor(t) for [H, W] or [1, H, W] tensors"
            )
        if m.numel() == 0:
            raise RegionError(f"Region mask must not have a zero-sized dimension, got shape {list(m.shape)}")
        object.__setattr__(self, "mask", _check_range(m, "Region mask"))

    # --- constructors -----------------------------------------------------------------------------------

    @classmethod
    def box(
        cls,
        x0: float,
        y0: float,
        x1: float,
        y1: float,
        size: tuple[int, int],
        relative: bool = False,
        batch: int = 1,
    ) -> Region:
        """Axis-aligned box ``[x0, x1) x [y0, y1)`` -> mask ``[batch, 1, H, W]``.

        ``x`` runs along the width, ``y`` along the height; pixel ``(row i, col j)`` is the square
        ``[j, j+1) x [i, i+1)``. With ``relative=True`` the coordinates are fractions of the image in
        ``[0, 1]``. Edges use fractional pixel coverage (an edge at ``x = 2.5`` gives column 2 coverage
        0.5), so the mask sums to exactly the box area at any resolution. Parts outside the image are
        clipped; a box that is empty or lies fully outside the image is an error.
        """
        h, w = _check_size(size)
        batch = _check_batch(batch)
        x0, y0, x1, y1 = _check_coords((x0, y0, x1, y1), "box coordinates")
        if relative:
            bad = [(n, v) for n, v in zip(("x0", "y0", "x1", "y1"), (x0, y0, x1, y1)) if not 0.0 <= v <= 1.0]
            if bad:
                raise RegionError(
                    "relative box coordinates must lie in [0, 1], got "
                    + ", ".join(f"{n}={v:g}" for n, v in bad)
                    + "; pass relative=False for pixel coordinates"
                )
            x0, x1, y0, y1 = x0 * w, x1 * w, y0 * h, y1 * h
        if x1 <= x0 or y1 <= y0:
            raise RegionError(
                f"box is empty: need x1 > x0 and y1 > y0, got x0={x0:g}, y0={y0:g}, x1={x1:g}, y1={y1:g} "
                "(in pixels); x1/y1 are exclusive ends, e.g. Region.box(8, 8, 24, 24, size) is 16x16 pixels"
            )
        cols = torch.arange(w, dtype=torch.float64)
        rows = torch.arange(h, dtype=torch.float64)
        cover_x = (torch.minimum(cols + 1, torch.tensor(x1)) - torch.maximum(cols, torch.tensor(x0))).clamp(0, 1)
        cover_y = (torch.minimum(rows + 1, torch.tensor(y1)) - torch.maximum(rows, torch.tensor(y0))).clamp(0, 1)
        if float(cover_x.sum()) == 0.0 or float(cover_y.sum()) == 0.0:
            raise RegionError(
                f"box x0={x0:g}, y0={y0:g}, x1={x1:g}, y1={y1:g} (pixels) lies fully outside the {h}x{w} "
                "image (x in [0, width), y in [0, height)); check the coordinates and the image size"
            )
        m = torch.outer(cover_y, cover_x).to(torch.float32)
        return cls(m.expand(batch, 1, h, w).contiguous())

    @classmethod
    def polygon(
        cls,
        points: Sequence[tuple[float, float]],
        size: tuple[int, int],
        relative: bool = False,
        batch: int = 1,
        supersample: int = 4,
    ) -> Region:
        """Filled polygon ``[(x, y), ...]`` -> mask ``[batch, 1, H, W]``, anti-aliased.

        Each pixel is sampled on a ``supersample x supersample`` grid and gets the fraction of samples
        inside the polygon (even-odd rule, so self-intersecting outlines leave holes). Coordinates are
        pixels (same convention as :meth:`box`) or fractions in ``[0, 1]`` with ``relative=True``.
        """
        h, w = _check_size(size)
        batch = _check_batch(batch)
        if not isinstance(supersample, int) or supersample < 1:
            raise RegionError(f"supersample must be a positive int, got {supersample!r}")
        try:
            pts = [tuple(p) for p in points]
        except TypeError:
            raise RegionError(f"polygon points must be a list of (x, y) pairs, got {points!r}") from None
        if any(len(p) != 2 for p in pts):
            raise RegionError(f"polygon points must be (x, y) pairs, got {pts!r}")
        if len(pts) < 3:
            raise RegionError(
                f"a polygon needs at least 3 points, got {len(pts)}: {pts!r}; "
                "e.g. [(0, 0), (32, 0), (16, 32)] for a triangle"
            )
        flat = _check_coords([v for p in pts for v in p], "polygon coordinates")
        xs = torch.tensor(flat[0::2], dtype=torch.float64)
        ys = torch.tensor(flat[1::2], dtype=torch.float64)
        if relative:
            if bool(((xs < 0) | (xs > 1) | (ys < 0) | (ys > 1)).any()):
                raise RegionError(
                    f"relative polygon coordinates must lie in [0, 1], got {pts!r}; "
                    "pass relative=False for pixel coordinates"
                )
            xs, ys = xs * w, ys * h
        # Only sample pixels inside the polygon's bounding box (clipped to the image).
        c0, c1 = max(int(math.floor(float(xs.min()))), 0), min(int(math.ceil(float(xs.max()))), w)
        r0, r1 = max(int(math.floor(float(ys.min()))), 0), min(int(math.ceil(float(ys.max()))), h)
        m = torch.zeros(h, w, dtype=torch.float32)
        if c1 > c0 and r1 > r0:
            s = supersample
            offsets = (torch.arange(s, dtype=torch.float64) + 0.5) / s
            px = (torch.arange(c0, c1, dtype=torch.float64)[:, None] + offsets).reshape(1, -1)  # [1, Ws]
            py = (torch.arange(r0, r1, dtype=torch.float64)[:, None] + offsets).reshape(-1, 1)  # [Hs, 1]
            inside = torch.zeros(py.shape[0], px.shape[1], dtype=torch.bool)
            n = xs.numel()
            for i in range(n):
                xi, yi, xj, yj = xs[i], ys[i], xs[(i + 1) % n], ys[(i + 1) % n]
                if yi == yj:
                    continue  # horizontal edges never cross a horizontal ray
                crosses = (yi > py) != (yj > py)  # [Hs, 1]
                x_at = xi + (py - yi) * (xj - xi) / (yj - yi)  # [Hs, 1]
                inside ^= crosses & (px < x_at)
            cover = inside.to(torch.float32).reshape(r1 - r0, s, c1 - c0, s).mean(dim=(1, 3))
            m[r0:r1, c0:c1] = cover
        if float(m.sum()) == 0.0:
            raise RegionError(
                f"polygon {pts!r} covers no pixel of the {h}x{w} image: it is degenerate (zero area), "
                f"smaller than 1/{supersample} pixel, or fully outside the image; check the points "
                "(x along the width, y along the height)"
            )
        return cls(m.expand(batch, 1, h, w).contiguous())

    @classmethod
    def from_image(
        cls, image: ImageSource, size: tuple[int, int] | None = None, batch: int = 1
    ) -> Region:
        """Brush mask from a PNG path, a PIL image or an array -> ``[batch, 1, H, W]``.

        Grayscale (``L``) images give ``value / 255``; RGB gives luminance (ITU-R 601 luma, as PIL's
        ``convert("L")``); RGBA / LA give the alpha channel; 16-bit grayscale gives ``value / 65535``.
        Arrays: ``[H, W]`` (or ``[H, W, 3]`` RGB / ``[H, W, 4]`` RGBA) of uint8 (``/ 255``), uint16
        (``/ 65535``), bool, or float already in ``[0, 1]``. With ``size=(H, W)`` the mask is resized by
        :func:`regiongan.ops.masks.resize_mask` (area average when shrinking).
        """
        batch = _check_batch(batch)
        if size is not None:
            size = _check_size(size)
        if isinstance(image, np.ndarray):
            m = _array_to_mask(image)
        else:
            img = _open_image(image, "mask image")
            m = _pil_to_mask(img)
        m = cls(m[None, None])
        if size is not None:
            m = cls(m.at(*size))
        return m.expand(batch)

    @classmethod
    def from_labels(
        cls,
        labels: LabelSource,
        classes: int | Iterable[int],
        size: tuple[int, int] | None = None,
        batch: int = 1,
    ) -> Region:
        """Region where an integer label map equals one of ``classes`` -> ``[N, 1, H, W]``.

        ``labels``: ``[H, W]`` or ``[N, H, W]`` integer tensor / array, or the path of a single-channel
        label PNG (``L``, ``P`` palette indices, or 16-bit) whose pixel values are class ids. With
        ``size`` the binary mask is resized by :func:`~regiongan.ops.masks.resize_mask` (area average
        when shrinking, so edges become soft). ``batch`` broadcasts a single label map to ``batch`` masks;
        a batched ``[N, H, W]`` map gives ``N`` masks (``batch`` must then be 1 or ``N``).
        """
        batch = _check_batch(batch)
        if size is not None:
            size = _check_size(size)
        class_ids = _check_classes(classes)
        lab = _load_labels(labels)
        if lab.ndim == 2:
            lab = lab[None]
        ids = torch.tensor(class_ids, dtype=lab.dtype, device=lab.device)
        hit = torch.isin(lab, ids)  # [N, H, W]
        if not bool(hit.any()):
            present = torch.unique(lab).tolist()
            shown = ", ".join(str(v) for v in present[:40]) + (", ..." if len(present) > 40 else "")
            raise RegionError(
                f"no pixel of the label map has class(es) {class_ids}; the classes present are [{shown}]. "
                "Pick class ids from that list (or check which label map you loaded)"
            )
        r = cls(hit[:, None].to(torch.float32))
        if size is not None:
            r = cls(r.at(*size))
        return r.expand(batch) if batch != 1 else r

    @classmethod
    def from_tensor(cls, t: torch.Tensor | np.ndarray) -> Region:
        """Region from a soft mask tensor with values in ``[0, 1]``.

        Accepted shapes: ``[H, W]`` and ``[1, H, W]`` (one mask, ``N = 1``) and ``[N, 1, H, W]``.
        A 3-D ``[N, H, W]`` tensor with ``N > 1`` is rejected because it is ambiguous (N masks of one
        region? K regions of a partition? C image channels?): use ``t.unsqueeze(1)`` for N masks, or
        :class:`RegionSet` for K regions.
        """
        m = _as_float_mask(t, "Region.from_tensor input")
        shape = list(m.shape)
        if m.ndim == 2:
            m = m[None, None]
        elif m.ndim == 3:
            if m.shape[0] != 1:
                raise RegionError(
                    f"Region.from_tensor got a 3-D tensor of shape {shape}, which is ambiguous: N masks, "
                    "K regions of a partition, or C image channels? Pass t.unsqueeze(1) ([N, 1, H, W]) for "
                    "N masks of one region, or RegionSet(t.unsqueeze(0)) for K regions"
                )
            m = m[None]
        elif m.ndim != 4:
            raise RegionError(
                f"Region.from_tensor expects [H, W], [1, H, W] or [N, 1, H, W], got {m.ndim}-D shape {shape}"
            )
        return cls(m)

    @classmethod
    def full(cls, size: tuple[int, int], batch: int = 1) -> Region:
        """The whole image: ones ``[batch, 1, H, W]``."""
        h, w = _check_size(size)
        return cls(torch.ones(_check_batch(batch), 1, h, w))

    # --- properties -------------------------------------------------------------------------------------

    @property
    def size(self) -> tuple[int, int]:
        """Image size ``(H, W)``."""
        return int(self.mask.shape[2]), int(self.mask.shape[3])

    @property
    def batch(self) -> int:
        """Number of masks ``N``."""
        return int(self.mask.shape[0])

    @property
    def device(self) -> torch.device:
        return self.mask.device

    def area(self) -> torch.Tensor:
        """Fraction of the image covered, per mask: ``[N]`` in ``[0, 1]``."""
        return self.mask.mean(dim=(1, 2, 3))

    def is_empty(self, eps: float = 1e-6) -> torch.Tensor:
        """Per mask, whether no pixel exceeds ``eps``: bool ``[N]``."""
        return self.mask.amax(dim=(1, 2, 3)) <= eps

    def covers_all(self, eps: float = 1e-6) -> torch.Tensor:
        """Per mask, whether every pixel is at least ``1 - eps``: bool ``[N]``."""
        return self.mask.amin(dim=(1, 2, 3)) >= 1.0 - eps

    def require_nonempty(self, name: str = "region", eps: float = 1e-6) -> Region:
        """Return ``self``, or raise :class:`RegionError` if any mask in the batch is empty."""
        empty = self.is_empty(eps)
        if bool(empty.any()):
            which = f" for batch item(s) {empty.nonzero().flatten().tolist()}" if self.batch > 1 else ""
            raise RegionError(
                f"{name} is empty (covers 0 pixels){which}; a region method needs something to act on. "
                "Check the box/polygon coordinates, the label classes, or whether a difference (A-B) "
                "removed everything"
            )
        return self

    def require_not_full(self, name: str = "region", eps: float = 1e-6) -> Region:
        """Return ``self``, or raise :class:`RegionError` if any mask covers the whole image.

        For methods that need a background (pixels outside the region) to compare against.
        """
        full = self.covers_all(eps)
        if bool(full.any()):
            which = f" for batch item(s) {full.nonzero().flatten().tolist()}" if self.batch > 1 else ""
            raise RegionError(
                f"{name} covers the whole image{which}, so there is no background outside it; this method "
                "needs pixels outside the region. Use a smaller region (e.g. a box or a part)"
            )
        return self

    # --- resampling and shaping -------------------------------------------------------------------------

    def at(self, height: int, width: int) -> torch.Tensor:
        """The mask resampled to a layer's resolution: ``[N, 1, height, width]``.

        Uses :func:`regiongan.ops.masks.resize_mask` (area average when shrinking, bilinear when
        enlarging) -- the library's one resizing rule.
        """
        height, width = _check_size((height, width), "Region.at(height, width)")
        return resize_mask(self.mask, height, width)

    def resize(self, size: tuple[int, int]) -> Region:
        """This region as a new :class:`Region` of image size ``(H, W)`` (same rule as :meth:`at`)."""
        return Region(self.at(*_check_size(size)))

    def feather(self, sigma: float) -> Region:
        """Soften the edges with a Gaussian blur of std ``sigma`` pixels (separable, reflect padding).

        ``sigma = 0`` returns ``self``. The total mass (``area``) is kept up to what leaks at the borders.
        """
        s = _check_sigma(sigma)
        if s == 0.0:
            return self
        return Region(_gaussian_blur(self.mask, s).clamp(0.0, 1.0))

    def expand(self, batch: int) -> Region:
        """Broadcast a single mask to ``batch`` masks: ``[1, 1, H, W] -> [batch, 1, H, W]``."""
        batch = _check_batch(batch)
        if self.batch == batch:
            return self
        if self.batch != 1:
            raise RegionError(
                f"cannot expand a region of batch {self.batch} to batch {batch}; only a single mask (N=1) "
                "broadcasts. Build the region with batch=1 or with the matching batch"
            )
        return Region(self.mask.expand(batch, -1, -1, -1).contiguous())

    def to(self, device: torch.device | str) -> Region:
        """The same region on ``device``."""
        return Region(self.mask.to(device))

    # --- set operations ---------------------------------------------------------------------------------

    def _aligned(self, other: Region, op: str) -> tuple[torch.Tensor, torch.Tensor]:
        if self.size != other.size:
            raise RegionError(
                f"cannot combine regions of different image sizes with '{op}': {self.size} vs {other.size} "
                f"(height, width). Resample one first, e.g. b.resize(a.size) (or use b.at(h, w) for a tensor)"
            )
        n = max(self.batch, other.batch)
        if self.batch not in (1, n) or other.batch not in (1, n):
            raise RegionError(
                f"cannot combine regions with batches {self.batch} and {other.batch} with '{op}'; batches "
                "must match or one of them must be 1 (which broadcasts)"
            )
        a, b = self.mask, other.mask.to(self.mask.device)
        return a.expand(n, -1, -1, -1), b.expand(n, -1, -1, -1)

    def __or__(self, other: Region) -> Region:
        """Union: pointwise max."""
        if not isinstance(other, Region):
            return NotImplemented
        a, b = self._aligned(other, "|")
        return Region(torch.maximum(a, b))

    def __and__(self, other: Region) -> Region:
        """Intersection: pointwise min."""
        if not isinstance(other, Region):
            return NotImplemented
        a, b = self._aligned(other, "&")
        return Region(torch.minimum(a, b))

    def __sub__(self, other: Region) -> Region:
        """Difference: ``min(a, 1 - b)``."""
        if not isinstance(other, Region):
            return NotImplemented
        a, b = self._aligned(other, "-")
        return Region(torch.minimum(a, 1.0 - b))

    def __invert__(self) -> Region:
        """Complement: ``1 - m``."""
        return Region(1.0 - self.mask)

    # --- output -----------------------------------------------------------------------------------------

    def to_image(self) -> Image.Image:
        """The first mask as an 8-bit grayscale (``L``) PIL image of size ``W x H``."""
        arr = (self.mask[0, 0].detach().cpu() * 255.0).round().clamp(0, 255).to(torch.uint8).numpy()
        return Image.fromarray(arr)

    def save(self, path: PathLike) -> None:
        """Save the first mask as a grayscale PNG (readable again with :meth:`from_image`)."""
        self.to_image().save(path)

    def __repr__(self) -> str:
        area = [round(v, 4) for v in self.area().tolist()[:8]]
        more = ", ..." if self.batch > 8 else ""
        return f"Region(batch={self.batch}, size={self.size}, area={area}{more})"


def _pil_to_mask(img: Image.Image) -> torch.Tensor:
    """PIL image -> ``[H, W]`` float32 in [0, 1] (see :meth:`Region.from_image` for the mode rules)."""
    mode = img.mode
    if mode == "P":
        img = img.convert("RGBA" if "transparency" in img.info else "RGB")
        mode = img.mode
    if mode == "PA":
        img = img.convert("RGBA")
        mode = "RGBA"
    if mode in ("RGBA", "LA", "La", "RGBa"):
        arr = np.asarray(img.getchannel("A"), dtype=np.float32) / 255.0
    elif mode == "RGB":
        arr = np.asarray(img.convert("L"), dtype=np.float32) / 255.0
    elif mode == "L":
        arr = np.asarray(img, dtype=np.float32) / 255.0
    elif mode == "1":
        arr = np.asarray(img, dtype=np.float32)
    elif mode.startswith("I;16") or mode == "I":
        arr = np.asarray(img, dtype=np.float32) / 65535.0
    else:
        raise RegionError(
            f"cannot read a mask from a '{mode}' mode image; use a grayscale (L), RGB, RGBA or 16-bit PNG"
        )
    return torch.from_numpy(np.ascontiguousarray(arr))


def _array_to_mask(arr: np.ndarray) -> torch.Tensor:
    """Array ``[H, W]`` / ``[H, W, 3]`` / ``[H, W, 4]`` -> ``[H, W]`` float32 (values checked later)."""
    if arr.ndim == 3 and arr.shape[2] in (3, 4):
        if arr.shape[2] == 4:
            arr = arr[..., 3]
        else:  # ITU-R 601 luma, as PIL's convert("L")
            arr = (arr[..., 0] * 0.299 + arr[..., 1] * 0.587 + arr[..., 2] * 0.114).astype(arr.dtype)
    if arr.ndim != 2:
        raise RegionError(
            f"mask array must be [H, W], [H, W, 3] (RGB) or [H, W, 4] (RGBA), got shape {list(arr.shape)}"
        )
    if arr.dtype == np.uint8:
        out = arr.astype(np.float32) / 255.0
    elif arr.dtype == np.uint16:
        out = arr.astype(np.float32) / 65535.0
    elif arr.dtype == np.bool_ or np.issubdtype(arr.dtype, np.floating):
        out = arr.astype(np.float32)
    else:
        raise RegionError(
            f"mask array must be uint8 (0-255), uint16, bool or float in [0, 1], got dtype {arr.dtype}; "
            "for an integer label map use Region.from_labels"
        )
    return torch.from_numpy(np.ascontiguousarray(out))


def _check_classes(classes: int | Iterable[int]) -> list[int]:
    if isinstance(classes, (int, np.integer)) and not isinstance(classes, bool):
        return [int(classes)]
    try:
        ids = list(classes)  # type: ignore[arg-type]
    except TypeError:
        raise RegionError(f"classes must be an int or an iterable of ints, got {classes!r}") from None
    if not ids:
        raise RegionError("classes is empty; give at least one class id, e.g. classes=3 or classes=[3, 4]")
    out = []
    for c in ids:
        if isinstance(c, torch.Tensor) and c.numel() == 1 and not c.is_floating_point():
            c = int(c)
        if not isinstance(c, (int, np.integer)) or isinstance(c, bool):
            raise RegionError(f"class ids must be ints, got {c!r} in {ids!r}")
        out.append(int(c))
    return out


def _load_labels(labels: LabelSource) -> torch.Tensor:
    """Label map -> integer tensor ``[H, W]`` or ``[N, H, W]``."""
    if isinstance(labels, (str, os.PathLike)):
        img = _open_image(labels, "label image")
        if img.mode not in ("L", "P", "I", "1") and not img.mode.startswith("I;16"):
            raise RegionError(
                f"label image '{labels}' has mode '{img.mode}'; a label map must be a single-channel PNG "
                "(L, P palette indices, or 16-bit) whose pixel values are class ids. For a colour-coded "
                "map, convert colours to ids first"
            )
        arr = np.asarray(img)
        labels = torch.from_numpy(arr.astype(np.int64))
    elif isinstance(labels, np.ndarray):
        if not (np.issubdtype(labels.dtype, np.integer) or labels.dtype == np.bool_):
            raise RegionError(
                f"label map must hold integer class ids, got dtype {labels.dtype}; convert with .astype(int)"
            )
        labels = torch.from_numpy(labels.astype(np.int64))
    elif isinstance(labels, torch.Tensor):
        if labels.is_floating_point() or labels.is_complex():
            raise RegionError(
                f"label map must hold integer class ids, got dtype {labels.dtype}; convert with .long() "
                "(or use Region.from_tensor for a soft mask)"
            )
        labels = labels.to(torch.int64)
    else:
        raise RegionError(
            f"labels must be a tensor, a numpy array or the path of a label PNG, got {type(labels).__name__}"
        )
    if labels.ndim not in (2, 3) or labels.numel() == 0:
        raise RegionError(
            f"label map must be [H, W] or [N, H, W], got shape {list(labels.shape)}; "
            "for a [N, 1, H, W] map use labels[:, 0]"
        )
    return labels


# ----------------------------------------------------------------------------------------------------------
# RegionSet


class RegionSet:
    """``K`` soft masks that partition the image: ``masks [N, K, H, W]`` summing to 1 over ``K``.

    Args:
        masks: ``[N, K, H, W]`` float in ``[0, 1]``; must sum to 1 (within 1e-4) at every pixel.
            Drift within that tolerance is renormalised away.
        names: optional ``K`` distinct names, so regions can be fetched with ``regions["mouth"]``.
        normalize: divide by the per-pixel sum instead of requiring it to be 1 (every pixel must then
            have a positive sum).
    """

    __slots__ = ("_masks", "_names")

    def __init__(
        self, masks: torch.Tensor, names: Sequence[str] | None = None, normalize: bool = False
    ) -> None:
        m = _as_float_mask(masks, "RegionSet masks")
        if m.ndim != 4 or m.numel() == 0:
            raise RegionError(
                f"RegionSet masks must be [N, K, H, W] (K regions), got shape {list(m.shape)}; "
                "for a list of Region objects use RegionSet.from_regions"
            )
        m = _check_range(m, "RegionSet masks")
        total = m.sum(dim=1, keepdim=True)  # [N, 1, H, W]
        if normalize:
            zero = total <= 1e-12
            if bool(zero.any()):
                raise RegionError(
                    f"cannot normalize: {int(zero.sum())} pixel(s) have all K masks equal to 0, so they "
                    "belong to no region; add a background region (RegionSet.from_regions does this)"
                )
        else:
            lo, hi = float(total.min()), float(total.max())
            if lo < 1.0 - _PARTITION_TOL or hi > 1.0 + _PARTITION_TOL:
                raise RegionError(
                    f"RegionSet masks must sum to 1 over K at every pixel (a partition), but the sum ranges "
                    f"from {lo:.6g} to {hi:.6g}. Pass normalize=True to divide by the sum, or build the set "
                    "with RegionSet.from_regions(regions), which resolves overlaps and adds a background"
                )
        object.__setattr__(self, "_masks", m / total)
        object.__setattr__(self, "_names", self._check_names(names, m.shape[1]))

    @staticmethod
    def _check_names(names: Sequence[str] | None, k: int) -> tuple[str, ...] | None:
        if names is None:
            return None
        if isinstance(names, str):
            raise RegionError(f"names must be a sequence of K={k} strings, got the single string {names!r}")
        out = tuple(names)
        if len(out) != k or not all(isinstance(n, str) and n for n in out):
            raise RegionError(f"names must be {k} non-empty strings (one per mask), got {out!r}")
        if len(set(out)) != k:
            dup = sorted({n for n in out if out.count(n) > 1})
            raise RegionError(f"region names must be distinct, got duplicates {dup} in {out!r}")
        return out

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError(f"RegionSet is immutable; build a new one instead of setting '{name}'")

    # --- constructors -----------------------------------------------------------------------------------

    @classmethod
    def from_regions(
        cls,
        regions: Sequence[Region],
        names: Sequence[str] | None = None,
        background: str | None = "background",
    ) -> RegionSet:
        """Partition from regions in order of priority -> ``[N, K(+1), H, W]``.

        Later regions override earlier ones where they overlap (soft: ``m_k' = m_k * prod_{j>k}(1 - m_j)``).
        The remainder ``prod_j (1 - m_j)`` becomes a first region named ``background`` (unless
        ``background=None``, in which case the regions must already cover every pixel). Default names are
        ``region0, region1, ...``. Batches broadcast (N=1 with N=B).
        """
        regs = list(regions)
        if not regs:
            raise RegionError("RegionSet.from_regions needs at least one Region, got an empty sequence")
        for i, r in enumerate(regs):
            if not isinstance(r, Region):
                raise RegionError(f"regions[{i}] must be a Region, got {type(r).__name__}")
        sizes = {r.size for r in regs}
        if len(sizes) > 1:
            raise RegionError(
                f"all regions must have the same image size, got {[r.size for r in regs]}; resample them "
                "first, e.g. r.resize(size)"
            )
        n = max(r.batch for r in regs)
        if any(r.batch not in (1, n) for r in regs):
            raise RegionError(
                f"region batches must match or be 1, got {[r.batch for r in regs]}"
            )
        if names is None:
            names = [f"region{i}" for i in range(len(regs))]
        names = list(names) if not isinstance(names, str) else [names]
        if len(names) != len(regs):
            raise RegionError(f"got {len(regs)} regions but {len(names)} names {names!r}; give one name per region")
        device = regs[0].device
        ms = [r.mask.to(device).expand(n, -1, -1, -1) for r in regs]
        remainder = torch.ones_like(ms[0])  # prod over the regions already placed (from the last one back)
        resolved: list[torch.Tensor] = []
        for m in reversed(ms):
            resolved.append(m * remainder)
            remainder = remainder * (1.0 - m)
        resolved.reverse()
        if background is not None:
            if background in names:
                raise RegionError(
                    f"background name {background!r} clashes with a region name in {names!r}; "
                    "rename the region or pass another background name"
                )
            return cls(torch.cat([remainder, *resolved], dim=1), names=[background, *names])
        uncovered = float(remainder.max())
        if uncovered > _PARTITION_TOL:
            raise RegionError(
                f"with background=None the regions must cover every pixel, but up to {uncovered:.4g} of a "
                "pixel is left uncovered; pass background='background' to collect the remainder"
            )
        return cls(torch.cat(resolved, dim=1), names=names, normalize=True)

    @classmethod
    def foreground_background(cls, region: Region, name: str = "region") -> RegionSet:
        """Two-way partition ``[1 - m, m]`` -> ``[N, 2, H, W]`` named ``("background", name)``."""
        if not isinstance(region, Region):
            raise RegionError(f"foreground_background needs a Region, got {type(region).__name__}")
        return cls(torch.cat([1.0 - region.mask, region.mask], dim=1), names=("background", name))

    # --- properties -------------------------------------------------------------------------------------

    @property
    def masks(self) -> torch.Tensor:
        """``[N, K, H, W]``, summing to 1 over ``K``."""
        return self._masks

    @property
    def names(self) -> tuple[str, ...] | None:
        return self._names

    @property
    def k(self) -> int:
        """Number of regions ``K``."""
        return int(self._masks.shape[1])

    @property
    def batch(self) -> int:
        return int(self._masks.shape[0])

    @property
    def size(self) -> tuple[int, int]:
        """Image size ``(H, W)``."""
        return int(self._masks.shape[2]), int(self._masks.shape[3])

    def __len__(self) -> int:
        return self.k

    def __iter__(self) -> Iterator[Region]:
        return (self[i] for i in range(self.k))

    def __getitem__(self, key: int | str) -> Region:
        """One region of the set, by position or name -> :class:`Region` ``[N, 1, H, W]``."""
        if isinstance(key, str):
            if self._names is None:
                raise RegionError(
                    f"this RegionSet has no names, so {key!r} cannot be looked up; index by position "
                    f"(0..{self.k - 1}) or build it with names=..."
                )
            if key not in self._names:
                raise RegionError(f"no region named {key!r}; available names: {list(self._names)}")
            idx = self._names.index(key)
        elif isinstance(key, (int, np.integer)) and not isinstance(key, bool):
            idx = int(key)
            if not -self.k <= idx < self.k:
                raise RegionError(f"region index {idx} out of range for a RegionSet of K={self.k} regions")
            idx %= self.k
        else:
            raise RegionError(f"index a RegionSet with an int or a name, got {type(key).__name__}")
        return Region(self._masks[:, idx : idx + 1])

    # --- resampling and shaping -------------------------------------------------------------------------

    def at(self, height: int, width: int) -> torch.Tensor:
        """Masks resampled to ``[N, K, height, width]`` by :func:`~regiongan.ops.masks.resize_mask`.

        Both area averaging and bilinear interpolation are linear with weights summing to one, so the
        result is still a partition.
        """
        height, width = _check_size((height, width), "RegionSet.at(height, width)")
        return resize_mask(self._masks, height, width)

    def feather(self, sigma: float) -> RegionSet:
        """Gaussian-blur every mask by ``sigma`` pixels, then renormalise so the set still partitions."""
        s = _check_sigma(sigma)
        if s == 0.0:
            return self
        return RegionSet(_gaussian_blur(self._masks, s).clamp(0.0, 1.0), names=self._names, normalize=True)

    def expand(self, batch: int) -> RegionSet:
        """Broadcast ``[1, K, H, W] -> [batch, K, H, W]``."""
        batch = _check_batch(batch)
        if self.batch == batch:
            return self
        if self.batch != 1:
            raise RegionError(
                f"cannot expand a RegionSet of batch {self.batch} to batch {batch}; only N=1 broadcasts"
            )
        return RegionSet(self._masks.expand(batch, -1, -1, -1).contiguous(), names=self._names)

    def to(self, device: torch.device | str) -> RegionSet:
        return RegionSet(self._masks.to(device), names=self._names)

    def __repr__(self) -> str:
        return f"RegionSet(batch={self.batch}, k={self.k}, size={self.size}, names={self._names})"


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
        raise RegionError(f"region spec must be a non-empty string, got {spec!r}.\n{REGION_SYNTAX_HELP}")
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
            f"unknown region form {shown!r} in spec {spec!r}. Accepted forms:\n{REGION_SYNTAX_HELP}"
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
