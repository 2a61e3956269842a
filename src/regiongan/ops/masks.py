"""Resizing soft masks between resolutions: the one rule every region method uses."""

from __future__ import annotations

import torch
import torch.nn.functional as F

__all__ = ["resize_mask"]


def resize_mask(mask: torch.Tensor, height: int, width: int) -> torch.Tensor:
    """Resize soft masks ``[N, K, H, W] -> [N, K, height, width]``.

    Shrinking uses area averaging (a coarse cell holds the fraction of its pixels inside the region, so a
    partition still sums to one); enlarging uses bilinear interpolation (align_corners=False).
    """
    if mask.ndim != 4:
        raise ValueError(f"mask must be [N, K, H, W], got shape {tuple(mask.shape)}")
    if height <= 0 or width <= 0:
        raise ValueError(f"target size must be positive, got {height}x{width}")
    h, w = mask.shape[-2:]
    if (h, w) == (height, width):
        return mask
    if height <= h and width <= w:
        return F.adaptive_avg_pool2d(mask, (height, width)) if (h % height or w % width) else F.avg_pool2d(
            mask, (h // height, w // width)
        )
    return F.interpolate(mask, size=(height, width), mode="bilinear", align_corners=False)
