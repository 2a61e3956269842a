"""FIR filtering with up/downsampling (``upfirdn2d``), written once in plain PyTorch.

Semantics follow NVlabs' ``upfirdn2d`` (zero-insertion upsampling, pad/crop, true convolution with the
filter, then decimation), so that real StyleGAN2 checkpoints reproduce their outputs.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

__all__ = ["make_filter", "upfirdn2d", "upsample2d"]


def make_filter(taps: list[float] | tuple[float, ...] = (1, 3, 3, 1)) -> torch.Tensor:
    """Separable 1-D taps -> normalised 2-D filter ``[k, k]`` summing to 1."""
    f = torch.as_tensor(taps, dtype=torch.float32)
    if f.ndim != 1 or f.numel() == 0:
        raise ValueError(f"filter taps must be a non-empty 1-D sequence, got shape {tuple(f.shape)}")
    f = torch.outer(f, f)
    return f / f.sum()


def upfirdn2d(
    x: torch.Tensor,
    f: torch.Tensor,
    up: int = 1,
    down: int = 1,
    padding: tuple[int, int, int, int] = (0, 0, 0, 0),
    gain: float = 1.0,
) -> torch.Tensor:
    """Upsample by zero insertion, pad, convolve with ``f`` and downsample.

    x: ``[N, C, H, W]``; f: ``[kh, kw]``; padding: ``(x0, x1, y0, y1)`` (negative values crop).
    The filter is applied as a true convolution (flipped), scaled by ``gain``.
    """
    n, c, h, w = x.shape
    px0, px1, py0, py1 = padding
    if up > 1:
        x = x.reshape(n, c, h, 1, w, 1)
        x = F.pad(x, [0, up - 1, 0, 0, 0, up - 1])
        x = x.reshape(n, c, h * up, w * up)
    x = F.pad(x, [max(px0, 0), max(px1, 0), max(py0, 0), max(py1, 0)])
    x = x[:, :, max(-py0, 0) : x.shape[2] - max(-py1, 0), max(-px0, 0) : x.shape[3] - max(-px1, 0)]
    kernel = (f * gain).to(dtype=x.dtype, device=x.device).flip([0, 1])
    col, row = _separate(kernel)
    if col is not None:
        # Rank-1 filters (all of ours) run as two 1-D passes: 2k instead of k² multiply-adds per pixel,
        # each a sum of shifted slices. That is 3-4x faster on CPU than a depthwise (grouped) convolution
        # and keeps the memory format (channels_last stays channels_last, no layout copies).
        x = _taps_pass(x, col.tolist(), dim=2)
        x = _taps_pass(x, row.tolist(), dim=3)
    else:
        x = x.contiguous(memory_format=torch.contiguous_format)
        x = F.conv2d(x, kernel[None, None].expand(c, 1, *kernel.shape), groups=c)
    if down > 1:
        x = x[:, :, ::down, ::down]
    return x


def _taps_pass(x: torch.Tensor, taps: list[float], dim: int) -> torch.Tensor:
    """Valid 1-D correlation of ``x`` with ``taps`` along ``dim``: ``Σ_j taps[j] · x[..., j : j + L, ...]``."""
    length = x.shape[dim] - len(taps) + 1
    if length < 1:
        raise ValueError(f"upfirdn2d: the padded input ({x.shape[dim]} pixels) is shorter than the filter ({len(taps)} taps)")
    out = x.narrow(dim, 0, length) * taps[0]
    for j in range(1, len(taps)):
        out = out.add_(x.narrow(dim, j, length), alpha=taps[j])
    return out


def _separate(kernel: torch.Tensor) -> tuple[torch.Tensor | None, torch.Tensor | None]:
    """Split a rank-1 ``[kh, kw]`` kernel into column and row taps, or ``(None, None)``."""
    total = kernel.sum()
    if total == 0:
        return None, None
    col, row = kernel.sum(dim=1), kernel.sum(dim=0) / total
    if not torch.allclose(torch.outer(col, row), kernel, rtol=1e-5, atol=1e-7):
        return None, None
    return col, row


def upsample2d(x: torch.Tensor, f: torch.Tensor, up: int = 2) -> torch.Tensor:
    """Upsample ``[N, C, H, W] -> [N, C, H*up, W*up]`` with the FIR filter ``f``, preserving the mean."""
    fh, fw = f.shape
    pad = ((fw + up - 1) // 2, (fw - up) // 2, (fh + up - 1) // 2, (fh - up) // 2)
    return upfirdn2d(x, f, up=up, padding=pad, gain=up * up)
