"""The :class:`Region` class: one soft mask ``[N, 1, H, W]`` in image space."""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np
import torch
from PIL import Image

from regiongan.ops.masks import resize_mask

from ..validate import feather_sigma, integer
from ._checks import _as_float_mask, _check_batch, _check_coords, _check_range, _check_size
from .blur import _gaussian_blur
from .errors import RegionError
from .sources import (
    ImageSource,
    LabelSource,
    PathLike,
    _array_to_mask,
    _check_classes,
    _load_labels,
    _open_image,
    _pil_to_mask,
)

#: The most points a polygon may have: a traced outline needs a few hundred, and the fill costs one pass
#: over the image per edge.
MAX_POLYGON_POINTS = 10_000


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
        supersample = integer(supersample, "supersample (samples per pixel side)", 1, 16, error=RegionError)
        try:
            pts = [tuple(p) for p in points]
        except TypeError:
            raise RegionError(f"polygon points must be a list of (x, y) pairs, got {points!r}") from None
        if any(len(p) != 2 for p in pts):
            raise RegionError(f"polygon points must be (x, y) pairs, got {pts!r}")
        if len(pts) > MAX_POLYGON_POINTS:
            raise RegionError(
                f"a polygon has at most {MAX_POLYGON_POINTS} points (the fill visits every edge), got {len(pts)}; "
                "simplify the outline"
            )
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
        s = feather_sigma(sigma, self.size, error=RegionError)
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
