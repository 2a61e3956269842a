"""The spatially modulated convolution of SSN (paper Eq. 1, App. A) and the style maps that drive it.

    y = conv(W, x ⊙ S) / σ_E(W, S),        σ_E(W, S)²_o = (1/HW) Σ_{h,w} (W² ∗ S²)_{o,h,w} + ε      (Eq. 1, 14)

S ``[N, C_in, h, w]`` is the style map at the layer's input resolution, σ_E one normaliser per sample and
output channel from *expected* statistics (the std of an output pixel for unit-variance inputs), not from
the activations. Like StyleGAN2's demodulation, the expectation ignores the image border: every pixel is
counted with its full receptive field (a periodic extension of S), so the spatial mean of ``W² ∗ S²`` is
``Σ_{i,k} W²_{o,i,k} · mean_{h,w} S²_i``, a matrix product, and a spatially constant S gives exactly
StyleGAN2's ``d_o = (Σ_{i,k} W²_{o,i,k} s_i² + ε)^-½`` (docs/ssn.md, tested against the brute-force sum).

The layers subclass StyleGAN2's (:class:`~regiongan.generators.stylegan2.SynthesisLayer`,
:class:`~regiongan.generators.stylegan2.ToRGBLayer`): the same parameters under the same names, so a
StyleGAN2 state dict transfers by name (:mod:`.ssn_transfer`); only ``forward`` differs.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from ..equalized import FullyConnectedLayer, resample_conv2d
from ..ops.activations import bias_act
from ..ops.blocks import block_masks
from ..ops.masks import resize_mask
from .base import BlendedStyle, Style, style_map
from .stylegan2 import SynthesisLayer, ToRGBLayer

__all__ = [
    "SIGMA_EPS", "expected_sigma", "spatially_modulated_conv2d", "grid_to_map", "block_coverage", "block_affine",
    "resolve_style", "SpatialSynthesisLayer", "SpatialToRGBLayer",
]  # fmt: skip

#: Added to σ_E² (StyleGAN2's demodulation epsilon), so a constant style reproduces it bit for bit.
SIGMA_EPS = 1e-8


def expected_sigma(weight: torch.Tensor, smap: torch.Tensor) -> torch.Tensor:
    """σ_E of Eq. 14: weight ``[O, I, k, k]``, style map ``smap [N, I, h, w]`` (or ``[N, I, 1, 1]``) ->
    ``[N, O]``, ``sqrt(mean_{h,w}(S²) · Σ_k W² + ε)``."""
    wsq = weight.float().square().sum(dim=[2, 3])  # [O, I]
    return (smap.float().square().mean(dim=[2, 3]) @ wsq.t() + SIGMA_EPS).sqrt()


def spatially_modulated_conv2d(
    x: torch.Tensor, weight: torch.Tensor, smap: torch.Tensor, up: int, filt: torch.Tensor, demodulate: bool = True
) -> torch.Tensor:
    """``conv(W, x ⊙ S) / σ_E(W, S)`` (Eq. 1); without ``demodulate`` just ``conv(W, x ⊙ S)`` (ToRGB).

    x: ``[N, I, H, W]``; weight ``[O, I, k, k]``; smap ``[N|1, I, H, W]`` or ``[N|1, I, 1, 1]`` (a constant
    style); up: 1 or 2 (transposed convolution + FIR ``filt``) -> ``[N, O, H·up, W·up]``.
    """
    y = resample_conv2d(x * smap.to(x.dtype), weight.to(x.dtype), filt, up=up)
    if not demodulate:
        return y
    wsq = weight.float().square().sum(dim=[2, 3])  # [O, I]
    inv_sigma = (smap.float().square().mean(dim=[2, 3]) @ wsq.t() + SIGMA_EPS).rsqrt()  # 1 / expected_sigma
    return y * inv_sigma.to(y.dtype)[:, :, None, None]


def grid_to_map(grid: torch.Tensor, resolution: int) -> torch.Tensor:
    """A per-block grid ``[N, C, n, n]`` as a map ``[N, C, r, r]``: nearest-neighbour upsampling when
    ``r >= n`` (each block covers exactly its image block, so a block's style never leaks into another
    block's pixels), area averaging when ``r < n`` (both powers of two)."""
    n = grid.shape[-1]
    if resolution == n:
        return grid
    if resolution > n:
        f = resolution // n
        return grid.repeat_interleave(f, dim=2).repeat_interleave(f, dim=3)
    return F.avg_pool2d(grid, n // resolution)


def block_coverage(n: int, resolution: int, device: torch.device | None = None) -> torch.Tensor:
    """``[n², r, r]``: the fraction of pixel ``(h, w)`` of an ``r × r`` map that block ``a`` covers (one-hot
    for ``r >= n``, the rule of :func:`grid_to_map`)."""
    if resolution >= n:
        return block_masks(n, resolution, resolution).to(device)
    return F.avg_pool2d(block_masks(n, n, n), n // resolution).to(device)


def block_affine(affine: FullyConnectedLayer, w_grid: torch.Tensor) -> torch.Tensor:
    """The same affine map applied to every block (a 1×1 convolution): ``[N, w_c, n, n] -> [N, C, n, n]``."""
    n_, c, h, w = w_grid.shape
    y = affine(w_grid.permute(0, 2, 3, 1).reshape(-1, c))
    return y.reshape(n_, h, w, -1).permute(0, 3, 1, 2)


def resolve_style(style: Style, channels: int, n: int, resolution: int, name: str) -> torch.Tensor:
    """Any style of an SSN control point as a map over the layer input ``[N, C, r, r]`` (``[N, C, 1, 1]``
    for a spatially constant one).

    Accepted (``C`` the layer's input channels, ``L = C·n²`` the flattened per-block style, channel-major):
    ``[N, L]`` (what :meth:`SSNGenerator.styles` returns) -> upsampled by :func:`grid_to_map`;
    ``[N, C]`` a constant style; ``[N, C, h, w]`` a per-pixel style (resized with
    :func:`~regiongan.ops.masks.resize_mask`); ``[N, L, h, w]`` a per-pixel flattened style (what a
    per-pixel blend of ``[N, L]`` styles is): each pixel takes the entries of the block it lies in;
    :class:`BlendedStyle` of ``[N, K, L]`` or ``[N, K, C]`` styles: ``S = Σ_k m_k S_k``.
    """
    flat = channels * n * n
    if isinstance(style, BlendedStyle):
        s, m = style.styles, style.masks
        if s.shape[-1] == flat and flat != channels:
            masks = resize_mask(m.to(s.dtype), resolution, resolution)  # [N, K, r, r]
            out = None
            for k in range(s.shape[1]):
                term = grid_to_map(s[:, k].reshape(-1, channels, n, n), resolution) * masks[:, k : k + 1]
                out = term if out is None else out + term
            return out  # type: ignore[return-value]
        return style_map(style, channels, resolution, name)
    if not isinstance(style, torch.Tensor):
        raise ValueError(f"{name}: a style must be a tensor or a BlendedStyle, got {type(style).__name__}")
    if style.ndim == 2 and style.shape[1] == flat:
        return grid_to_map(style.reshape(-1, channels, n, n), resolution)
    if style.ndim == 4 and style.shape[1] == flat and flat != channels:
        per_pixel = resize_mask(style, resolution, resolution).reshape(style.shape[0], channels, n * n, resolution, resolution)
        return torch.einsum("ncbhw,bhw->nchw", per_pixel, block_coverage(n, resolution, style.device).to(style.dtype))
    if (style.ndim == 2 and style.shape[1] == channels) or (style.ndim == 4 and style.shape[1] == channels):
        return style_map(style, channels, resolution, name)
    raise ValueError(
        f"{name}: a style must be [N, {flat}] (per block), [N, {channels}], [N, {channels} or {flat}, h, w] or a "
        f"BlendedStyle, got {tuple(style.shape)}"
    )


class SpatialSynthesisLayer(SynthesisLayer):
    """Spatially modulated 3×3 convolution (optionally ×2 upsampling) + noise + bias + lrelu (+ clamp).
    Parameters as :class:`SynthesisLayer` (``affine`` maps one block's w, ``w_channels`` wide)."""

    def forward(  # type: ignore[override]
        self, x: torch.Tensor, smap: torch.Tensor, noise: torch.Tensor | None, gain: float = 1.0
    ) -> torch.Tensor:
        """x ``[N, C_in, R/up, R/up]``, smap ``[N, C_in, R/up, R/up]`` or ``[N, C_in, 1, 1]``, noise
        ``[N|1, 1, R, R]`` unscaled or None -> ``[N, C_out, R, R]``."""
        x = spatially_modulated_conv2d(x, self.weight, smap, self.up, self.resample_filter)
        if noise is not None and self.use_noise:
            x = x + (noise * self.noise_strength).to(x.dtype)
        act_gain = math.sqrt(2.0) * gain if self.activation == "lrelu" else gain
        clamp = self.conv_clamp * gain if self.conv_clamp is not None else None
        return bias_act(x, self.bias, activation=self.activation, gain=act_gain, clamp=clamp)


class SpatialToRGBLayer(ToRGBLayer):
    """Spatially modulated 1×1 convolution without σ_E (as StyleGAN2's ToRGB), + bias (+ clamp)."""

    def forward(self, x: torch.Tensor, smap: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        """``[N, C_in, R, R]`` with smap ``[N, C_in, R, R]`` or ``[N, C_in, 1, 1]`` -> ``[N, img_channels, R, R]``."""
        y = spatially_modulated_conv2d(x, self.weight, smap * self.weight_gain, 1, torch.empty(0), demodulate=False)
        return bias_act(y.to(self.bias.dtype), self.bias, clamp=self.conv_clamp)
