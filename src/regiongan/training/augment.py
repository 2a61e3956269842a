"""Differentiable augmentation (DiffAugment, Zhao et al. 2020) applied to real and fake images before D.

Every op draws its parameters from an explicit ``torch.Generator`` (on the CPU; the values are then moved
to the images' device), so augmentation is reproducible and its state is part of a training snapshot.
Ops and their parameters follow the reference implementation: ``color`` (brightness ±0.5, saturation
×[0, 2], contrast ×[0.5, 1.5]), ``translation`` (up to 1/8 of the image, zero padded) and ``cutout``
(a zeroed square of half the image size).
"""

from __future__ import annotations

from typing import Callable, Sequence

import torch
import torch.nn.functional as F

__all__ = ["DiffAugment", "color", "translation", "cutout"]


def _rand(shape: Sequence[int], generator: torch.Generator, like: torch.Tensor) -> torch.Tensor:
    return torch.rand(list(shape), generator=generator).to(device=like.device, dtype=like.dtype)


def color(x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """Random brightness, saturation and contrast per sample. x: ``[N, C, H, W]``."""
    n = x.shape[0]
    x = x + (_rand([n, 1, 1, 1], generator, x) - 0.5)
    mean = x.mean(dim=1, keepdim=True)
    x = (x - mean) * (_rand([n, 1, 1, 1], generator, x) * 2) + mean
    mean = x.mean(dim=[1, 2, 3], keepdim=True)
    return (x - mean) * (_rand([n, 1, 1, 1], generator, x) + 0.5) + mean


def translation(x: torch.Tensor, generator: torch.Generator, ratio: float = 0.125) -> torch.Tensor:
    """Shift each sample by up to ``ratio`` of its size, filling with zeros. x: ``[N, C, H, W]``."""
    n, _, h, w = x.shape
    sh, sw = int(h * ratio + 0.5), int(w * ratio + 0.5)
    ty = torch.randint(-sh, sh + 1, [n, 1, 1], generator=generator).to(x.device)
    tx = torch.randint(-sw, sw + 1, [n, 1, 1], generator=generator).to(x.device)
    gb, gy, gx = torch.meshgrid(
        torch.arange(n, device=x.device), torch.arange(h, device=x.device), torch.arange(w, device=x.device),
        indexing="ij",
    )  # fmt: skip
    # index into a one-pixel zero border: out-of-range positions read the border
    gy = (gy + ty + 1).clamp(0, h + 1)
    gx = (gx + tx + 1).clamp(0, w + 1)
    padded = F.pad(x, [1, 1, 1, 1])
    return padded.permute(0, 2, 3, 1)[gb, gy, gx].permute(0, 3, 1, 2).contiguous()


def cutout(x: torch.Tensor, generator: torch.Generator, ratio: float = 0.5) -> torch.Tensor:
    """Zero one square of ``ratio`` × the image size at a random position per sample."""
    n, _, h, w = x.shape
    ch, cw = int(h * ratio + 0.5), int(w * ratio + 0.5)
    oy = torch.randint(0, h + (1 - ch % 2), [n, 1, 1], generator=generator).to(x.device)
    ox = torch.randint(0, w + (1 - cw % 2), [n, 1, 1], generator=generator).to(x.device)
    gb, gy, gx = torch.meshgrid(
        torch.arange(n, device=x.device), torch.arange(ch, device=x.device), torch.arange(cw, device=x.device),
        indexing="ij",
    )  # fmt: skip
    gy = (gy + oy - ch // 2).clamp(0, h - 1)
    gx = (gx + ox - cw // 2).clamp(0, w - 1)
    mask = torch.ones(n, h, w, dtype=x.dtype, device=x.device)
    mask[gb, gy, gx] = 0
    return x * mask.unsqueeze(1)


_OPS: dict[str, Callable[[torch.Tensor, torch.Generator], torch.Tensor]] = {
    "color": color,
    "translation": translation,
    "cutout": cutout,
}


class DiffAugment:
    """``aug(x [N, C, H, W], generator) -> [N, C, H, W]``: the listed ops in order (none: identity)."""

    def __init__(self, ops: Sequence[str]):
        unknown = [op for op in ops if op not in _OPS]
        if unknown:
            raise ValueError(f"unknown augmentation op(s) {unknown}; available: {', '.join(_OPS)}")
        self.ops = list(ops)

    def __bool__(self) -> bool:
        return bool(self.ops)

    def __call__(self, x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        for op in self.ops:
            x = _OPS[op](x, generator)
        return x

    def __repr__(self) -> str:
        return f"DiffAugment({','.join(self.ops) or 'none'})"
