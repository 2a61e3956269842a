"""StyleGAN2's forward-mode derivative, written out layer by layer: the image at one ``ws`` and its
directional derivatives along batches of tangents ``dws`` (ReSeFa's Jacobian columns, docs/resefa.md).

:class:`LinearizedSynthesis` runs the plain synthesis once at ``ws`` (float32) and keeps, per layer, what
the derivative needs: the layer's input, its demodulated output, the demodulated kernel and the slope of
its activation. Each call then pushes T tangents through the layers as one batch, so the primal pass is
paid once per sample instead of once per chunk of tangents (at 256² it costs as much as a chunk of 8).

For a modulated convolution ``y = d ⊙ conv(W, x ⊙ s)`` with ``d = (Σ_{i,k} (W_oik s_i)² + ε)^-½``:

    dy = conv(W ⊙ d, dx ⊙ s + x ⊙ ds) + y ⊙ (dd / d),    dd / d = −d² · ((s ⊙ ds) Σ_k W²)

(the demodulation folds into the kernel, so the tangents see one convolution and one fused multiply-add),
then the bias / noise / activation multiply the tangent by the activation's slope (0 where a clamp bites).

``precision="bf16"`` keeps the tangents and the kernels they meet in bfloat16 (the primal, the
demodulation and the RGB sum stay float32): about 2× faster where the CPU has bf16 dot products (AMX,
AVX-512 BF16), with about 1 % relative error on the tangents; ``"auto"`` picks it only there
(:func:`regiongan.hardware.resolve_precision`). tests/generators/test_stylegan2_jvp.py bounds the error.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn as nn

from ..equalized import resample_conv2d
from ..hardware import resolve_precision
from ..ops.activations import LRELU_SLOPE, bias_act
from ..ops.filters import upsample2d
from .modulation import demodulation, squared_weight_sums

__all__ = ["LinearizedSynthesis"]

_CL = torch.channels_last


@dataclass
class _LayerTangent:
    """One modulated layer linearized at its primal input: everything its tangent map needs.

    x: primal input ``[1, I, h, w]`` (tangent dtype); s: style ``[1, I, 1, 1]`` (gain applied);
    weight: kernel with the demodulation folded in ``[O, I, k, k]``; dd: ``[I, O]`` float32 with
    ``ds @ dd = dd/d`` per output channel (None without demodulation); y: demodulated output before noise and
    bias ``[1, O, H, W]``; slope: the activation's (and clamp's) derivative ``[1, O, H, W]`` or None (1).
    affine: ``[w_dim, I]``, ``dws_row @ affine = ds``; w_index: the ws row feeding the style.
    """

    x: torch.Tensor
    s: torch.Tensor
    weight: torch.Tensor
    dd: torch.Tensor | None
    y: torch.Tensor
    slope: torch.Tensor | None
    affine: torch.Tensor
    w_index: int
    up: int
    filt: torch.Tensor

    def __call__(self, dx: torch.Tensor | None, dws: torch.Tensor) -> torch.Tensor:
        """Tangents in ``dx [T, I, h, w]`` (None: zero) and ``dws [T, num_ws, w_dim]`` -> ``[T, O, H, W]``."""
        dtype = self.x.dtype
        ds = dws[:, self.w_index] @ self.affine  # [T, I] float32
        dxs = self.x * ds.to(dtype)[:, :, None, None]
        if dx is not None:
            dxs = dxs.addcmul_(dx, self.s)
        dy = resample_conv2d(dxs.contiguous(memory_format=_CL), self.weight, self.filt, up=self.up)
        if self.dd is not None:
            dy = dy.addcmul_(self.y, (ds @ self.dd).to(dtype)[:, :, None, None])
        if self.slope is not None:
            dy = dy.mul_(self.slope)
        return dy


def _linearize_layer(
    layer: nn.Module, x: torch.Tensor, s: torch.Tensor, w_index: int, noise: torch.Tensor | None,
    demodulate: bool, style_gain: float, act: str, act_gain: float, clamp: float | None, dtype: torch.dtype,
) -> tuple[torch.Tensor, _LayerTangent]:
    """Run one layer's forward at ``x [1, I, h, w]`` (float32) with style ``s [1, I]`` -> its output and its
    tangent map. The forward is ``clamp(act(d ⊙ conv(W, x ⊙ s·g) + noise + b) · act_gain)``."""
    weight = layer.weight
    s = s * style_gain
    dd = None
    if demodulate:
        wsq = squared_weight_sums(layer)  # [O, I]
        d = demodulation(wsq, s)  # [1, O]
        weight = weight * d.reshape(-1, 1, 1, 1)
        dd = (s.reshape(-1, 1) * wsq.t()) * -d.square()  # [I, O]
    filt = getattr(layer, "resample_filter", torch.empty(0))
    up = getattr(layer, "up", 1)
    y = resample_conv2d(x, weight * s.reshape(1, -1, 1, 1), filt, up=up)  # batch 1: modulation in the kernel
    pre = y if noise is None else y + noise
    out = bias_act(pre, layer.bias, activation=act, gain=act_gain, clamp=clamp)
    slope = None
    if act == "lrelu":
        slope = torch.where(pre + layer.bias.reshape(1, -1, 1, 1) > 0, act_gain, LRELU_SLOPE * act_gain)
    elif act_gain != 1:
        slope = torch.full_like(pre, act_gain)
    if clamp is not None and clamp >= 0:
        inside = (out.abs() < clamp).to(out.dtype)  # clamped pixels do not move (derivative 0, as autograd's)
        slope = inside if slope is None else slope * inside
    aff = layer.affine
    tangent = _LayerTangent(
        x=x.to(dtype).contiguous(memory_format=_CL), s=s.to(dtype)[:, :, None, None], weight=weight.to(dtype),
        dd=dd, y=y.to(dtype).contiguous(memory_format=_CL),
        slope=None if slope is None else slope.to(dtype).contiguous(memory_format=_CL),
        affine=(aff.weight * aff.weight_gain).t() * style_gain, w_index=w_index, up=up, filt=filt,
    )  # fmt: skip
    return out, tangent


class LinearizedSynthesis:
    """StyleGAN2's synthesis linearized at one ``ws [1, num_ws, w_dim]``: :attr:`image` ``[1, C, R, R]``
    (float32) and, per call, the derivatives along tangents ``dws [T, num_ws, w_dim]`` -> ``[T, C, R, R]``
    (float32). Vector styles, the fast forward's math; noise ``"const"`` or ``"none"``; precision
    ``"fp32"``, ``"bf16"`` (tangents in bfloat16) or ``"auto"``. Holds one sample's activations."""

    def __init__(self, G: nn.Module, ws: torch.Tensor, noise_mode: str = "const", precision: str = "fp32") -> None:
        if ws.ndim != 3 or ws.shape[0] != 1 or ws.shape[1:] != (G.num_ws, G.w_dim):
            raise ValueError(f"ws must be [1, {G.num_ws}, {G.w_dim}], got {tuple(ws.shape)}")
        if noise_mode not in ("const", "none"):
            raise ValueError(f"synthesize_jvp takes noise_mode 'const' or 'none', got {noise_mode!r}")
        self.num_ws, self.w_dim = G.num_ws, G.w_dim
        self.precision = resolve_precision(precision, G.device)
        self.dtype = torch.bfloat16 if self.precision == "bf16" else torch.float32
        ws = ws.float()
        noise = iter(G.make_noise(1, noise_mode))
        points = iter(G.control_points())
        # per block: (conv0 or None, conv1, skip or None, torgb or None, the block's resample filter)
        self._blocks: list[tuple] = []

        def run(layer: nn.Module, x: torch.Tensor, gain: float = 1.0) -> tuple[torch.Tensor, _LayerTangent]:
            p = next(points)
            s = layer.affine(ws[:, p.w_index])
            n = next(noise)
            n = n * layer.noise_strength if n is not None and layer.use_noise else None
            act_gain = math.sqrt(2.0) * gain if layer.activation == "lrelu" else gain
            clamp = layer.conv_clamp * gain if layer.conv_clamp is not None else None
            return _linearize_layer(layer, x, s, p.w_index, n, True, 1.0, layer.activation, act_gain, clamp, self.dtype)

        x = img = None
        with torch.no_grad(), torch.autocast("cpu", enabled=False):
            for _, block in G.synthesis.blocks():
                conv0 = skip = torgb = None
                if block.in_channels == 0:
                    x, conv1 = run(block.conv1, block.const.unsqueeze(0).contiguous(memory_format=_CL))
                else:
                    y = None
                    if hasattr(block, "skip"):
                        y, skip = block.skip(x, gain=math.sqrt(0.5)), block.skip
                    x, conv0 = run(block.conv0, x)
                    x, conv1 = run(block.conv1, x, gain=math.sqrt(0.5) if y is not None else 1.0)
                    if y is not None:
                        x = y + x
                if img is not None:
                    img = upsample2d(img, block.resample_filter)
                if block.has_torgb:
                    p, t = next(points), block.torgb
                    rgb, torgb = _linearize_layer(
                        t, x, t.affine(ws[:, p.w_index]), p.w_index, None, False, t.weight_gain, "linear", 1.0,
                        t.conv_clamp, self.dtype,
                    )  # fmt: skip
                    img = rgb if img is None else img + rgb
                self._blocks.append((conv0, conv1, skip, torgb, block.resample_filter))
        assert img is not None
        self.image = img.contiguous()

    def __call__(self, dws: torch.Tensor) -> torch.Tensor:
        """``dws [T, num_ws, w_dim]`` -> ``d image / d ws · dws`` ``[T, C, R, R]`` float32."""
        if dws.ndim != 3 or dws.shape[1:] != (self.num_ws, self.w_dim):
            raise ValueError(f"dws must be [T, {self.num_ws}, {self.w_dim}], got {tuple(dws.shape)}")
        dws = dws.float()
        dx = dimg = None
        with torch.no_grad(), torch.autocast("cpu", enabled=False):
            for conv0, conv1, skip, torgb, filt in self._blocks:
                dy = skip(dx, gain=math.sqrt(0.5)) if skip is not None else None
                if conv0 is not None:
                    dx = conv0(dx, dws)
                dx = conv1(dx, dws)
                if dy is not None:
                    dx = dx.add_(dy)
                if dimg is not None:
                    dimg = upsample2d(dimg, filt)
                if torgb is not None:
                    # the RGB sum stays float32 (3 channels: cheap)
                    drgb = torgb(dx, dws).float()
                    dimg = drgb if dimg is None else dimg.add_(drgb)
        assert dimg is not None
        return dimg.contiguous()
