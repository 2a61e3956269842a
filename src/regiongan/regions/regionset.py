"""The :class:`RegionSet` class: ``K`` soft masks ``[N, K, H, W]`` that partition the image."""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import numpy as np
import torch

from regiongan.ops.masks import resize_mask

from ..validate import feather_sigma
from ._checks import _as_float_mask, _check_batch, _check_range, _check_size
from .blur import _gaussian_blur
from .errors import RegionError
from .region import Region

# A RegionSet must sum to one within this tolerance at every pixel.
_PARTITION_TOL = 1e-4


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
        s = feather_sigma(sigma, self.size, error=RegionError)
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
