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
    kh, kw = f.shape
    if up > 1 and down == 1:
        # Zero insertion + padding + filter is one transposed depthwise convolution with stride ``up`` when
        # the full output is cropped evenly: crop ``k-1-pad0`` before and ``k-up-pad1`` after, per axis.
        cy, cx = (kh - 1 - py0, kh - up - py1), (kw - 1 - px0, kw - up - px1)
        if cy[0] == cy[1] >= 0 and cx[0] == cx[1] >= 0:
            kernel = (f * gain).to(dtype=x.dtype, device=x.device)
            return F.conv_transpose2d(x, kernel[None, None].expand(c, 1, kh, kw), stride=up, padding=(cy[0], cx[0]), groups=c)
    if up > 1:
        x = x.reshape(n, c, h, 1, w, 1)
        x = F.pad(x, [0, up - 1, 0, 0, 0, up - 1])
        x = x.reshape(n, c, h * up, w * up)
    # Symmetric non-negative padding goes to the convolution itself (no padded copy of the input);
    # anything else is padded or cropped first.
    conv_pad = (py0, px0) if (px0 == px1 >= 0 and py0 == py1 >= 0) else (0, 0)
    if conv_pad == (0, 0):
        x = F.pad(x, [max(px0, 0), max(px1, 0), max(py0, 0), max(py1, 0)])
        x = x[:, :, max(-py0, 0) : x.shape[2] - max(-py1, 0), max(-px0, 0) : x.shape[3] - max(-px1, 0)]
    if x.shape[2] + 2 * conv_pad[0] < kh or x.shape[3] + 2 * conv_pad[1] < kw:
        raise ValueError(f"upfirdn2d: the padded input ({tuple(x.shape[2:])}) is smaller than the filter ({kh}x{kw})")
    # One depthwise convolution (a single pass over the map, in its memory format): on CPU several times
    # faster than separable passes of shifted slices, which re-read and re-write the map once per tap.
    kernel = (f * gain).to(dtype=x.dtype, device=x.device).flip([0, 1])
    x = F.conv2d(x, kernel[None, None].expand(c, 1, kh, kw), padding=conv_pad, stride=down, groups=c)
    return x


def upsample2d(x: torch.Tensor, f: torch.Tensor, up: int = 2) -> torch.Tensor:
    """Upsample ``[N, C, H, W] -> [N, C, H*up, W*up]`` with the FIR filter ``f``, preserving the mean."""
    fh, fw = f.shape
    pad = ((fw + up - 1) // 2, (fw - up) // 2, (fh + up - 1) // 2, (fh - up) // 2)
    return upfirdn2d(x, f, up=up, padding=pad, gain=up * up)
