"""The Gaussian blur behind :meth:`Region.feather <regiongan.regions.Region.feather>` and
:meth:`RegionSet.feather <regiongan.regions.RegionSet.feather>`."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F


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
