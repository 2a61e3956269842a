"""StyleGAN2 (Karras et al. 2020) with spatial control points.

The architecture and parameter names follow NVlabs' stylegan2-ada-pytorch ``training/networks.py``
exactly (mapping with optional class embedding and ``w_avg``, truncation with cutoff, skip / resnet / orig
synthesis, ``conv_clamp``, const / random / no noise), so that real checkpoints load by name and reproduce
their outputs. On top of that every style may be spatial (docs/itan.md):

    y = D ⊙ conv(W, x ⊙ S)        S: style map at the input resolution, D: demodulation map at the output

For a vector style ``s`` this is the ordinary modulated convolution with ``d_o = (Σ_{i,k} (W_oik s_i)² + ε)^-½``.
Two implementations of the vector case exist: ``"reference"`` modulates the weights per sample and runs a
grouped convolution (NVlabs' fused path); ``"fast"`` (channels_last, optionally bf16) is built for a CPU,
where large maps make the time memory traffic: for one sample it folds S and D into the kernel wherever
the kernel is smaller than the map, a batch runs together at the coarse layers and one sample at a time
from the first such layer on (so a batch never costs more per image than one image), the gain, bias and
noise are fused into as few in-place passes as eager PyTorch allows, the FIR filters are single depthwise
convolutions and ToRGB one batched matmul. Both are tested to agree (and to NVlabs' outputs).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Literal, Sequence

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from ..ops.activations import LRELU_SLOPE, bias_act
from ..equalized import Conv2dLayer, FullyConnectedLayer, resample_conv2d
from ..hardware import resolve_precision
from ..ops.filters import make_filter, upsample2d
from ..ops.masks import resize_mask
from .modulation import DEMOD_EPS, conv_weight, demodulation, squared_weight_sums
from .base import BlendedStyle, ControlPoint, NoiseMode, Precision, Style, SynthesisOutput
from .registry import ModelCost, bind_config, config_int, config_number, register_family, short_repr

__all__ = [
    "StyleGAN2", "MappingNetwork", "SynthesisNetwork", "SynthesisLayers", "Implementation", "check_stylegan2_config",
    "check_synthesis_fields",
]

Implementation = Literal["fast", "reference"]


def normalize_2nd_moment(x: torch.Tensor, eps: float = 1e-8) -> torch.Tensor:
    """Scale each row of ``[N, C]`` to unit mean square."""
    return x * (x.square().mean(dim=1, keepdim=True) + eps).rsqrt()


class MappingNetwork(nn.Module):
    """``z [N, z_dim]`` (+ ``c [N, c_dim]``) -> ``ws [N, num_ws, w_dim]`` with truncation."""

    def __init__(
        self,
        z_dim: int,
        c_dim: int,
        w_dim: int,
        num_ws: int,
        num_layers: int = 8,
        embed_features: int | None = None,
        layer_features: int | None = None,
        activation: str = "lrelu",
        lr_multiplier: float = 0.01,
        w_avg_beta: float = 0.995,
    ) -> None:
        super().__init__()
        self.z_dim, self.c_dim, self.w_dim, self.num_ws = z_dim, c_dim, w_dim, num_ws
        self.num_layers = num_layers
        self.w_avg_beta = w_avg_beta
        if embed_features is None:
            embed_features = w_dim
        if c_dim == 0:
            embed_features = 0
        if layer_features is None:
            layer_features = w_dim
        features = [z_dim + embed_features] + [layer_features] * (num_layers - 1) + [w_dim]
        if c_dim > 0:
            self.embed = FullyConnectedLayer(c_dim, embed_features)
        for idx in range(num_layers):
            layer = FullyConnectedLayer(
                features[idx], features[idx + 1], activation=activation, lr_multiplier=lr_multiplier
            )
            setattr(self, f"fc{idx}", layer)
        self.register_buffer("w_avg", torch.zeros([w_dim]))

    def forward(
        self,
        z: torch.Tensor | None,
        c: torch.Tensor | None,
        truncation_psi: float = 1.0,
        truncation_cutoff: int | None = None,
    ) -> torch.Tensor:
        """-> ``ws [N, num_ws, w_dim]``; truncation lerps the first ``truncation_cutoff`` ws to ``w_avg``."""
        parts = []
        if self.z_dim > 0:
            assert z is not None and z.ndim == 2 and z.shape[1] == self.z_dim, f"z must be [N, {self.z_dim}]"
            parts.append(normalize_2nd_moment(z.to(torch.float32)))
        if self.c_dim > 0:
            assert c is not None and c.ndim == 2 and c.shape[1] == self.c_dim, f"c must be [N, {self.c_dim}]"
            parts.append(normalize_2nd_moment(self.embed(c.to(torch.float32))))
        x = torch.cat(parts, dim=1) if len(parts) > 1 else parts[0]
        for idx in range(self.num_layers):
            x = getattr(self, f"fc{idx}")(x)
        ws = x.unsqueeze(1).repeat(1, self.num_ws, 1)
        if truncation_psi != 1:
            cutoff = self.num_ws if truncation_cutoff is None else truncation_cutoff
            ws = torch.cat([self.w_avg.lerp(ws[:, :cutoff], truncation_psi), ws[:, cutoff:]], dim=1)
        return ws


# --------------------------------------------------------------------------------------------------
# The modulated convolution: one function for vector, spatial and blended styles.


@dataclass
class _ResolvedStyle:
    """A style turned into what the convolution needs: input scale and output demodulation.

    scale: ``[N, C_in, 1, 1]`` or ``[N, C_in, h_in, w_in]``; demod: same layout over C_out or None;
    vector: the style vector when the style is spatially constant (enables the grouped reference path).
    """

    scale: torch.Tensor
    demod: torch.Tensor | None
    vector: torch.Tensor | None


def _resolve_style(
    style: Style,
    weight: torch.Tensor,
    wsq: torch.Tensor | None,
    in_res: int,
    out_res: int,
    demodulate: bool,
    gain: float,
    name: str,
) -> _ResolvedStyle:
    """Check a style against its control point and compute the input scale and demodulation
    (wsq: :func:`squared_weight_sums` of ``weight``, needed when ``demodulate``)."""
    out_ch, in_ch = weight.shape[:2]
    if isinstance(style, BlendedStyle):
        s, m = style.styles, style.masks
        if s.shape[-1] != in_ch:
            raise ValueError(f"{name}: BlendedStyle has {s.shape[-1]} channels, the layer expects {in_ch}")
        m = m.to(s.dtype)
        # Maps are built channels-last (NHWC, viewed as NCHW) to match the activations' memory format:
        # an elementwise product of a channels_last tensor with a contiguous NCHW one is several times slower.
        scale = torch.einsum("nkc,nkhw->nhwc", s * gain, resize_mask(m, in_res, in_res)).permute(0, 3, 1, 2)
        demod = None
        if demodulate:
            d = demodulation(wsq, s)  # [N, K, O]
            demod = torch.einsum("nko,nkhw->nhwo", d, resize_mask(m, out_res, out_res)).permute(0, 3, 1, 2)
        return _ResolvedStyle(scale, demod, None)
    if style.ndim == 2:
        if style.shape[1] != in_ch:
            raise ValueError(f"{name}: style has {style.shape[1]} channels, the layer expects {in_ch}")
        demod = demodulation(wsq, style)[:, :, None, None] if demodulate else None
        return _ResolvedStyle(style[:, :, None, None] * gain, demod, style)
    if style.ndim == 4:
        if style.shape[1] != in_ch or style.shape[2] != style.shape[3] or style.shape[2] not in (in_res, out_res):
            raise ValueError(
                f"{name}: a spatial style must be [N, {in_ch}, {out_res}, {out_res}] (layer resolution), "
                f"got {tuple(style.shape)}"
            )
        demod = None
        if demodulate:
            # Per-pixel demodulation of the local style: a 1x1 convolution of S² with Σ_k W².
            smap = resize_mask(style, out_res, out_res) if style.shape[2] != out_res else style
            demod = (F.conv2d(smap.square(), wsq[:, :, None, None]) + DEMOD_EPS).rsqrt()
        scale = resize_mask(style, in_res, in_res) if style.shape[2] != in_res else style
        return _ResolvedStyle(scale * gain, demod, None)
    raise ValueError(f"{name}: a style must be [N, C], [N, C, h, w] or a BlendedStyle, got {tuple(style.shape)}")


def modulated_conv2d(
    x: torch.Tensor,
    weight: torch.Tensor,
    style: _ResolvedStyle,
    up: int,
    filt: torch.Tensor,
    impl: Implementation,
) -> torch.Tensor:
    """``D ⊙ conv(W, x ⊙ S)``. x: ``[N, C_in, H, W]`` -> ``[N, C_out, H*up, W*up]``."""
    n = x.shape[0]
    if impl == "reference" and style.vector is not None:
        # Per-sample modulated weights and one grouped convolution (NVlabs' fused path).
        s = style.scale.reshape(n, 1, -1, 1, 1)
        w = weight.unsqueeze(0) * s
        if style.demod is not None:
            w = w * style.demod.reshape(n, -1, 1, 1, 1)
        w = w.reshape(-1, *weight.shape[1:])
        y = resample_conv2d(x.reshape(1, -1, *x.shape[2:]), w, filt, up=up, groups=n)
        return y.reshape(n, -1, *y.shape[2:])
    y = resample_conv2d(x * style.scale.to(x.dtype), weight.to(x.dtype), filt, up=up)
    if style.demod is not None:
        y = y * style.demod.to(y.dtype)
    return y


def _fast_modulated_layer(
    layer: "SynthesisLayer",
    x: torch.Tensor,
    style: _ResolvedStyle,
    noise: torch.Tensor | None,
    gain: float,
    clamp: float | None,
) -> torch.Tensor:
    """``clamp(act(D ⊙ conv(W, x ⊙ S) + noise + b) · gain)`` of a :class:`SynthesisLayer`, in as few passes over
    the maps as eager PyTorch allows; equal to :func:`modulated_conv2d` followed by noise and :func:`bias_act`.

    x: ``[N, C_in, H, W]``; noise: ``[N|1, 1, R, R]`` already scaled by the layer's strength, or None.
    On CPU the time at large resolutions goes to memory traffic, not arithmetic, so:

    * the gain moves into the weights, bias and noise (``act(t)·g = act(t·g)`` for ``g > 0``, lrelu and linear);
    * one sample with a vector style folds S and D into the kernel when the kernel is smaller than the input
      map (``C_out·k² <= H·W``; otherwise scaling the input is cheaper), and then the bias into the convolution;
    * the remaining updates run in place when no gradient is being recorded (the same operations either
      way, so that both give bit-identical results).
    """
    if gain <= 0:
        raise ValueError(f"the activation gain must be positive, got {gain}")
    n, dtype, up = x.shape[0], x.dtype, layer.up
    out_ch, _, k, _ = layer.weight.shape
    inplace = not torch.is_grad_enabled()
    channels_last = x.is_contiguous(memory_format=torch.channels_last) and not x.is_contiguous()
    b = (layer.bias * gain).to(dtype)
    if n == 1 and style.vector is not None and out_ch * k * k <= x.shape[2] * x.shape[3]:
        d = style.demod.reshape(-1, 1) * gain if style.demod is not None else torch.full((out_ch, 1), gain)
        w = conv_weight(layer, torch.float32, channels_last) * (d * style.scale.reshape(1, -1))[:, :, None, None]
        if up == 1:
            y = F.conv2d(x, w.to(dtype), b, padding=k // 2)
        else:
            y = resample_conv2d(x, w.to(dtype), layer.resample_filter, up=up)
            y = y.add_(b.reshape(1, -1, 1, 1)) if inplace else y + b.reshape(1, -1, 1, 1)
    else:
        y = resample_conv2d(x * style.scale.to(dtype), conv_weight(layer, dtype, channels_last), layer.resample_filter, up=up)
        b = b.reshape(1, -1, 1, 1)
        if style.demod is None:
            y = y.mul_(gain).add_(b) if inplace else y * gain + b
        else:
            dg = (style.demod * gain).to(dtype)
            y = y.mul_(dg).add_(b) if inplace else y * dg + b  # (no addcmul out=: forward AD lacks it)
    if noise is not None:
        ng = (noise * gain).to(dtype)
        y = y.add_(ng) if inplace else y + ng
    if layer.activation == "lrelu":
        y = F.leaky_relu_(y, LRELU_SLOPE)  # safe under autograd too: y is no saved input of anything above
    elif layer.activation != "linear":
        raise ValueError(f"unknown activation {layer.activation!r}; expected 'lrelu' or 'linear'")
    if clamp is not None and clamp >= 0:
        y = y.clamp_(-clamp, clamp)
    return y


# --------------------------------------------------------------------------------------------------
# Layers (names and parameters as in NVlabs networks.py).


class SynthesisLayer(nn.Module):
    """Modulated 3×3 convolution (optionally ×2 upsampling) + noise + bias + lrelu (+ clamp)."""

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        w_dim: int,
        resolution: int,
        kernel_size: int = 3,
        up: int = 1,
        use_noise: bool = True,
        activation: str = "lrelu",
        resample_filter: Sequence[float] = (1, 3, 3, 1),
        conv_clamp: float | None = None,
    ) -> None:
        super().__init__()
        self.in_channels, self.out_channels = in_channels, out_channels
        self.resolution, self.up, self.use_noise = resolution, up, use_noise
        self.activation, self.conv_clamp = activation, conv_clamp
        self.register_buffer("resample_filter", make_filter(resample_filter))
        self.affine = FullyConnectedLayer(w_dim, in_channels, bias_init=1)
        self.weight = nn.Parameter(torch.randn([out_channels, in_channels, kernel_size, kernel_size]))
        if use_noise:
            self.register_buffer("noise_const", torch.randn([resolution, resolution]))
            self.noise_strength = nn.Parameter(torch.zeros([]))
        self.bias = nn.Parameter(torch.zeros([out_channels]))

    def forward(
        self,
        x: torch.Tensor,
        style: Style,
        noise: torch.Tensor | None,
        impl: Implementation,
        name: str,
        gain: float = 1.0,
    ) -> torch.Tensor:
        """x ``[N, C_in, R/up, R/up]`` -> ``[N, C_out, R, R]``; noise ``[N|1, 1, R, R]`` unscaled or None."""
        in_res = self.resolution // self.up
        weight = self.weight
        if x.dtype != torch.float32:
            weight = weight.to(x.dtype)
        rs = _resolve_style(style, self.weight, squared_weight_sums(self), in_res, self.resolution, True, 1.0, name)
        act_gain = math.sqrt(2.0) * gain if self.activation == "lrelu" else gain
        clamp = self.conv_clamp * gain if self.conv_clamp is not None else None
        noise = noise * self.noise_strength if noise is not None and self.use_noise else None
        if impl == "fast":
            return _fast_modulated_layer(self, x, rs, noise, act_gain, clamp)
        x = modulated_conv2d(x, weight, rs, self.up, self.resample_filter, impl)
        if noise is not None:
            x = x + noise.to(x.dtype)
        return bias_act(x, self.bias, activation=self.activation, gain=act_gain, clamp=clamp)


class ToRGBLayer(nn.Module):
    """Modulated 1×1 convolution without demodulation, + bias (+ clamp)."""

    def __init__(
        self, in_channels: int, out_channels: int, w_dim: int, resolution: int, conv_clamp: float | None = None
    ) -> None:
        super().__init__()
        self.in_channels, self.out_channels, self.resolution = in_channels, out_channels, resolution
        self.conv_clamp = conv_clamp
        self.affine = FullyConnectedLayer(w_dim, in_channels, bias_init=1)
        self.weight = nn.Parameter(torch.randn([out_channels, in_channels, 1, 1]))
        self.bias = nn.Parameter(torch.zeros([out_channels]))
        self.weight_gain = 1 / math.sqrt(in_channels)

    def forward(self, x: torch.Tensor, style: Style, impl: Implementation, name: str) -> torch.Tensor:
        """``[N, C_in, R, R] -> [N, img_channels, R, R]`` (in the parameters' dtype, e.g. float32)."""
        rs = _resolve_style(style, self.weight, None, self.resolution, self.resolution, False, self.weight_gain, name)
        if impl == "fast" and rs.vector is not None:
            # A 1×1 convolution with per-sample weights is a batched matmul over the pixels: [N, HW, C] @ [N, C, O],
            # one read of x in its channels_last layout and no scaled copy of it.
            n, c, h, w = x.shape
            wm = (rs.scale.reshape(n, 1, c) * self.weight[:, :, 0, 0]).transpose(1, 2)  # [N, C, O]
            y = torch.bmm(x.permute(0, 2, 3, 1).reshape(n, h * w, c), wm.to(x.dtype))
            y = y.reshape(n, h, w, -1).permute(0, 3, 1, 2)
        else:
            y = modulated_conv2d(x, self.weight.to(x.dtype), rs, 1, torch.empty(0), impl)
        return bias_act(y.to(self.bias.dtype), self.bias, clamp=self.conv_clamp)


class SynthesisBlock(nn.Module):
    """One resolution: (const | upsampling conv0) + conv1, and a ToRGB for skip outputs."""

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        w_dim: int,
        resolution: int,
        img_channels: int,
        is_last: bool,
        architecture: str = "skip",
        resample_filter: Sequence[float] = (1, 3, 3, 1),
        conv_clamp: float | None = None,
    ) -> None:
        super().__init__()
        self.in_channels, self.resolution, self.is_last = in_channels, resolution, is_last
        self.architecture = architecture
        self.register_buffer("resample_filter", make_filter(resample_filter))
        if in_channels == 0:
            self.const = nn.Parameter(torch.randn([out_channels, resolution, resolution]))
        else:
            self.conv0 = SynthesisLayer(
                in_channels, out_channels, w_dim, resolution, up=2,
                resample_filter=resample_filter, conv_clamp=conv_clamp,
            )  # fmt: skip
        self.conv1 = SynthesisLayer(
            out_channels, out_channels, w_dim, resolution, resample_filter=resample_filter, conv_clamp=conv_clamp
        )
        self.has_torgb = is_last or architecture == "skip"
        if self.has_torgb:
            self.torgb = ToRGBLayer(out_channels, img_channels, w_dim, resolution, conv_clamp=conv_clamp)
        if in_channels != 0 and architecture == "resnet":
            self.skip = Conv2dLayer(
                in_channels, out_channels, kernel_size=1, bias=False, up=2, resample_filter=resample_filter
            )

    def layer_names(self) -> list[str]:
        """Names of this block's control points, in ``ws`` order."""
        names = [] if self.in_channels == 0 else ["conv0"]
        names.append("conv1")
        if self.has_torgb:
            names.append("torgb")
        return names


class SynthesisNetwork(nn.Module):
    """Blocks ``b4 … b{img_resolution}``; turns per-layer styles into an image."""

    def __init__(
        self,
        w_dim: int,
        img_resolution: int,
        img_channels: int,
        channel_base: int = 32768,
        channel_max: int = 512,
        channels: dict[int, int] | None = None,
        architecture: str = "skip",
        resample_filter: Sequence[float] = (1, 3, 3, 1),
        conv_clamp: float | None = None,
    ) -> None:
        super().__init__()
        log2 = int(np.log2(img_resolution))
        if img_resolution < 4 or 2**log2 != img_resolution:
            raise ValueError(f"img_resolution must be a power of two >= 4, got {img_resolution}")
        if architecture not in ("orig", "skip", "resnet"):
            raise ValueError(f"architecture must be 'orig', 'skip' or 'resnet', got {architecture!r}")
        self.w_dim, self.img_resolution, self.img_channels = w_dim, img_resolution, img_channels
        self.block_resolutions = [2**i for i in range(2, log2 + 1)]
        self.channels = {res: min(channel_base // res, channel_max) for res in self.block_resolutions}
        if channels:
            self.channels.update({int(k): int(v) for k, v in channels.items()})
        self.num_ws = 0
        for res in self.block_resolutions:
            in_ch = self.channels[res // 2] if res > 4 else 0
            block = SynthesisBlock(
                in_ch, self.channels[res], w_dim, res, img_channels, is_last=(res == img_resolution),
                architecture=architecture, resample_filter=resample_filter, conv_clamp=conv_clamp,
            )  # fmt: skip
            self.num_ws += (0 if in_ch == 0 else 1) + 1
            if res == img_resolution:
                self.num_ws += 1
            setattr(self, f"b{res}", block)

    def blocks(self) -> list[tuple[int, SynthesisBlock]]:
        return [(res, getattr(self, f"b{res}")) for res in self.block_resolutions]


_FAMILY = "stylegan2"
_ARCHITECTURES = ("orig", "skip", "resnet")
_MAX_FILTER_TAPS = 32
#: A sanity bound only (what a model may really declare is the parameter and activation budget): it keeps
#: the cost computation to at most 62 blocks.
_MAX_RESOLUTION = 1 << 64
_MAX_MAGNITUDE = 1e6


def check_stylegan2_config(config: dict[str, Any]) -> dict[str, Any]:
    """Every field of a :class:`StyleGAN2` config checked for type and range (one-line ValueError), allocating
    nothing -> the full config with defaults filled in and ``channels`` keys as ints.

    Ints must be ints (not floats or bools), numbers finite, ``img_resolution`` a power of two >= 4,
    ``channels`` a map from block resolutions (4 … img_resolution; JSON keys as strings) to widths >= 1,
    ``resample_filter`` 1-32 finite taps with a non-zero sum.
    """
    a = bind_config(StyleGAN2, config, _FAMILY)
    for name, least in (("z_dim", 0), ("c_dim", 0), ("w_dim", 1), ("img_channels", 1), ("mapping_layers", 1),
                        ("channel_base", 1), ("channel_max", 1)):  # fmt: skip
        config_int(a[name], name, _FAMILY, least)
    if a["z_dim"] + a["c_dim"] == 0:
        raise ValueError(f"{_FAMILY} config: z_dim and c_dim are both 0; the mapping network needs an input")
    r = a["img_resolution"]
    if isinstance(r, bool) or not isinstance(r, int) or r < 4 or r & (r - 1) or r > _MAX_RESOLUTION:
        raise ValueError(
            f"{_FAMILY} config: img_resolution must be a power of two in 4 … 2^{_MAX_RESOLUTION.bit_length() - 1}, "
            f"got {short_repr(r)}"
        )
    for name in ("mapping_embed_features", "mapping_layer_features"):
        config_int(a[name], name, _FAMILY, 1, optional=True)
    if a["architecture"] not in _ARCHITECTURES:
        raise ValueError(f"{_FAMILY} config: architecture must be one of {_ARCHITECTURES}, got {short_repr(a['architecture'])}")
    check_synthesis_fields(a, _FAMILY)
    return a


def check_synthesis_fields(a: dict[str, Any], family: str) -> None:
    """The config fields a StyleGAN2-style synthesis network shares with its relatives (SSN), checked in
    place: ``mapping_lr_multiplier``, ``conv_clamp``, ``w_avg_beta``, ``resample_filter`` and ``channels``
    (keys made ints). Bounds keep float32 arithmetic finite: weights are stored divided by the multiplier,
    taps are squared."""
    config_number(a["mapping_lr_multiplier"], "mapping_lr_multiplier", family, 0, _MAX_MAGNITUDE, low_open=True)
    config_number(a["conv_clamp"], "conv_clamp", family, 0, low_open=True, optional=True)
    config_number(a["w_avg_beta"], "w_avg_beta", family, 0, 1)
    taps = a["resample_filter"]
    if not isinstance(taps, (list, tuple)) or not 1 <= len(taps) <= _MAX_FILTER_TAPS:
        raise ValueError(f"{family} config: resample_filter must be a list of 1-{_MAX_FILTER_TAPS} numbers, got {short_repr(taps)}")
    for t in taps:
        config_number(t, "each resample_filter tap", family, -_MAX_MAGNITUDE, _MAX_MAGNITUDE)
    if sum(float(t) for t in taps) == 0:
        raise ValueError(f"{family} config: resample_filter taps sum to 0; the filter cannot be normalised")
    a["channels"] = _check_channels(a["channels"], a["img_resolution"], family)


def _check_channels(channels: Any, img_resolution: int, family: str) -> dict[int, int] | None:
    if channels is None or (isinstance(channels, dict) and not channels):
        return None
    if not isinstance(channels, dict):
        raise ValueError(f"{family} config: channels must map resolutions to widths, got {short_repr(channels)}")
    out: dict[int, int] = {}
    for key, width in channels.items():
        res = int(key) if isinstance(key, str) and key.isdigit() and len(key) < 20 else key
        if isinstance(res, bool) or not isinstance(res, int) or res < 4 or res & (res - 1) or res > img_resolution:
            raise ValueError(
                f"{family} config: channels keys must be block resolutions 4 … {img_resolution}, got {short_repr(key)}"
            )
        out[res] = config_int(width, f"channels[{res}]", family, 1)  # type: ignore[assignment]
    return out


def _block_channels(a: dict[str, Any]) -> dict[int, int]:
    """Width of each block ``4 … img_resolution`` (channel_base // res, at most channel_max, then ``channels``)."""
    r = a["img_resolution"]
    widths = {4 << i: min(a["channel_base"] // (4 << i), a["channel_max"]) for i in range(r.bit_length() - 2)}
    widths.update(a["channels"] or {})
    return widths


def _stylegan2_cost(config: dict[str, Any]) -> ModelCost:
    a = check_stylegan2_config(config)
    z, c, w, r, rgb = a["z_dim"], a["c_dim"], a["w_dim"], a["img_resolution"], a["img_channels"]
    # Mapping: [embed: c -> e], then fc0: z + e -> f, fc1 … fc(L-2): f -> f, fc(L-1): f -> w; w_avg [w].
    e = (a["mapping_embed_features"] or w) if c > 0 else 0
    f, layers = a["mapping_layer_features"] or w, a["mapping_layers"]
    if layers == 1:
        mapping = (z + e) * w + w
    else:
        mapping = (z + e) * f + f + (layers - 2) * (f * f + f) + f * w + w
    mapping += (c * e + e if c > 0 else 0) + w
    # Synthesis: per block a resample_filter buffer; const or conv0 (×2 up); conv1; torgb; resnet skip.
    taps = len(a["resample_filter"]) ** 2
    widths = _block_channels(a)

    def layer(c_in: int, c_out: int, res: int, kernel: int = 3) -> int:
        # resample_filter, affine (w -> c_in, bias), weight, noise_const [res, res], noise_strength, bias
        return taps + w * c_in + c_in + c_out * c_in * kernel * kernel + res * res + 1 + c_out

    synthesis, activations = 0, rgb * r * r
    for res, width in widths.items():
        c_in = widths[res // 2] if res > 4 else 0
        synthesis += taps + (width * 16 if res == 4 else layer(c_in, width, res)) + layer(width, width, res)
        if res == r or a["architecture"] == "skip":
            synthesis += w * width + width + rgb * width + rgb
        if res > 4 and a["architecture"] == "resnet":
            synthesis += taps + width * c_in
        activations = max(activations, width * (res + 3) ** 2)  # the ×2 transposed convolution pads by 3
    declared = (
        f"img_resolution {r}, mapping_layers {short_repr(layers)}, z_dim {short_repr(z)}, w_dim {short_repr(w)}, "
        f"channel_max {short_repr(a['channel_max'])}"
        + (f", channels up to {short_repr(max(a['channels'].values()))}" if a["channels"] else "")
    )
    return ModelCost(mapping + synthesis, activations, declared)


class SynthesisLayers:
    """What StyleGAN2 and its relatives (SSN) share about their synthesis layers: a control point's layer
    by name (``"b16.conv0"`` -> ``self.synthesis.b16.conv0``) and the features ``synthesize`` returns."""

    synthesis: nn.Module

    def _layer(self, name: str) -> nn.Module:
        block, layer = name.split(".")
        return getattr(getattr(self.synthesis, block), layer)

    @staticmethod
    def _record(features: dict[str, torch.Tensor], enabled: bool, name: str, x: torch.Tensor) -> None:
        if enabled:
            features[name] = x.float().contiguous()


@register_family("stylegan2")
class StyleGAN2(SynthesisLayers, nn.Module):
    """StyleGAN2 generator implementing :class:`regiongan.generators.base.Generator`.

    Constructor arguments are the config (saved as ``config.json``). Parameter names match NVlabs'
    ``Generator`` state dict (``mapping.fc0.weight``, ``synthesis.b8.conv0.affine.weight`` …).
    """

    def __init__(
        self,
        z_dim: int = 512,
        c_dim: int = 0,
        w_dim: int = 512,
        img_resolution: int = 256,
        img_channels: int = 3,
        mapping_layers: int = 8,
        mapping_lr_multiplier: float = 0.01,
        mapping_embed_features: int | None = None,
        mapping_layer_features: int | None = None,
        channel_base: int = 32768,
        channel_max: int = 512,
        channels: dict[int, int] | None = None,
        architecture: str = "skip",
        resample_filter: Sequence[float] = (1, 3, 3, 1),
        conv_clamp: float | None = None,
        w_avg_beta: float = 0.995,
    ) -> None:
        super().__init__()
        args = check_stylegan2_config(dict(
            z_dim=z_dim, c_dim=c_dim, w_dim=w_dim, img_resolution=img_resolution, img_channels=img_channels,
            mapping_layers=mapping_layers, mapping_lr_multiplier=mapping_lr_multiplier,
            mapping_embed_features=mapping_embed_features, mapping_layer_features=mapping_layer_features,
            channel_base=channel_base, channel_max=channel_max, channels=channels, architecture=architecture,
            resample_filter=resample_filter, conv_clamp=conv_clamp, w_avg_beta=w_avg_beta,
        ))  # fmt: skip
        empty = [res for res, width in _block_channels(args).items() if width < 1]
        if empty:
            raise ValueError(
                f"{_FAMILY} config: channel_base {channel_base} gives 0 channels at resolution {empty[0]}; "
                "raise channel_base or give channels for every resolution"
            )
        channels = args["channels"]
        self.config: dict[str, Any] = dict(
            z_dim=z_dim, c_dim=c_dim, w_dim=w_dim, img_resolution=img_resolution, img_channels=img_channels,
            mapping_layers=mapping_layers, mapping_lr_multiplier=mapping_lr_multiplier,
            mapping_embed_features=mapping_embed_features, mapping_layer_features=mapping_layer_features,
            channel_base=channel_base, channel_max=channel_max,
            channels={int(k): int(v) for k, v in channels.items()} if channels else None,
            architecture=architecture, resample_filter=list(resample_filter), conv_clamp=conv_clamp,
            w_avg_beta=w_avg_beta,
        )  # fmt: skip
        self.z_dim, self.c_dim, self.w_dim = z_dim, c_dim, w_dim
        self.img_resolution, self.img_channels = img_resolution, img_channels
        self.synthesis = SynthesisNetwork(
            w_dim, img_resolution, img_channels, channel_base=channel_base, channel_max=channel_max,
            channels=channels, architecture=architecture, resample_filter=resample_filter, conv_clamp=conv_clamp,
        )  # fmt: skip
        self.num_ws = self.synthesis.num_ws
        self.mapping = MappingNetwork(
            z_dim, c_dim, w_dim, self.num_ws, num_layers=mapping_layers, embed_features=mapping_embed_features,
            layer_features=mapping_layer_features, lr_multiplier=mapping_lr_multiplier, w_avg_beta=w_avg_beta,
        )  # fmt: skip
        self._points = self._build_control_points()

    @staticmethod
    def config_cost(config: dict[str, Any]) -> ModelCost:
        """State-dict elements and the largest activation per image of ``StyleGAN2(**config)``, computed from
        the config alone (every field validated first; nothing is built). The parameter count is exact."""
        return _stylegan2_cost(config)

    # ---------------------------------------------------------------- interface
    def map(
        self,
        z: torch.Tensor,
        c: torch.Tensor | None = None,
        truncation_psi: float = 1.0,
        truncation_cutoff: int | None = None,
    ) -> torch.Tensor:
        """``z [N, z_dim]`` (+ one-hot ``c [N, c_dim]``) -> ``ws [N, num_ws, w_dim]``."""
        if z.ndim != 2 or z.shape[1] != self.z_dim:
            raise ValueError(f"z must be [N, {self.z_dim}], got {tuple(z.shape)}")
        if self.c_dim > 0 and (c is None or c.shape != (z.shape[0], self.c_dim)):
            got = None if c is None else tuple(c.shape)
            raise ValueError(f"this model is class-conditional: c must be [N, {self.c_dim}], got {got}")
        if truncation_cutoff is not None and not 0 <= truncation_cutoff <= self.num_ws:
            raise ValueError(f"truncation_cutoff must be in [0, {self.num_ws}], got {truncation_cutoff}")
        return self.mapping(z, c if self.c_dim > 0 else None, truncation_psi, truncation_cutoff)

    @property
    def device(self) -> torch.device:
        """Where the weights live."""
        return self.mapping.w_avg.device

    def latent_mean(self) -> torch.Tensor:
        """``w̄ [w_dim]``, the running mean of w tracked during training."""
        return self.mapping.w_avg

    def truncate(self, ws: torch.Tensor, psi: float | torch.Tensor) -> torch.Tensor:
        """``w̄ + ψ (w − w̄)`` for ``ws [N, num_ws, w_dim]``; ψ a number or a tensor broadcastable to ws."""
        return self.mapping.w_avg + (ws - self.mapping.w_avg) * psi

    @torch.no_grad()
    def update_w_avg(self, ws: torch.Tensor) -> None:
        """Training: move ``w_avg`` towards the batch mean of ``ws [N, num_ws|1, w_dim]``."""
        self.mapping.w_avg.copy_(ws[:, 0].mean(dim=0).lerp(self.mapping.w_avg, self.mapping.w_avg_beta))

    def control_points(self) -> list[ControlPoint]:
        """Every modulated layer, in the order of :meth:`styles`."""
        return list(self._points)

    def styles(self, ws: torch.Tensor) -> list[torch.Tensor]:
        """``ws [N, num_ws, w_dim]`` -> per control point the affine output ``[N, C_in]``."""
        if ws.ndim != 3 or ws.shape[1:] != (self.num_ws, self.w_dim):
            raise ValueError(f"ws must be [N, {self.num_ws}, {self.w_dim}], got {tuple(ws.shape)}")
        return [self._layer(p.name).affine(ws[:, p.w_index]) for p in self._points]

    def make_noise(
        self, batch: int, mode: NoiseMode = "random", generator: torch.Generator | None = None
    ) -> list[torch.Tensor | None]:
        """One unscaled noise map ``[N, 1, R, R]`` per conv control point (None for mode ``"none"``)."""
        out: list[torch.Tensor | None] = []
        device = self.mapping.w_avg.device
        for p in self._points:
            if p.kind != "conv":
                continue
            layer = self._layer(p.name)
            if mode == "none":
                out.append(None)
            elif mode == "const":
                out.append(layer.noise_const[None, None].expand(batch, 1, -1, -1))
            elif mode == "random":
                r = p.resolution
                out.append(torch.randn([batch, 1, r, r], generator=generator, device=device))
            else:
                raise ValueError(f"noise_mode must be 'const', 'random' or 'none', got {mode!r}")
        return out

    def synthesize(
        self,
        styles: Sequence[Style],
        noise_mode: NoiseMode = "const",
        generator: torch.Generator | None = None,
        return_features: bool = False,
        noise: Sequence[torch.Tensor | None] | None = None,
        precision: Precision = "fp32",
        impl: Implementation = "fast",
    ) -> SynthesisOutput:
        """Styles, one per control point -> image ``[N, img_channels, R, R]`` (float32).

        noise: per conv control point an unscaled map ``[N|1, 1, R, R]`` or None (then ``noise_mode`` is
        used for that layer). precision ``"bf16"`` runs the convolutions in bfloat16, channels_last; ``"auto"`` is
        bf16 where the hardware has native bf16, else fp32 (:func:`~regiongan.hardware.resolve_precision`).
        """
        if len(styles) != len(self._points):
            raise ValueError(f"expected {len(self._points)} styles (one per control point), got {len(styles)}")
        precision = resolve_precision(precision, self.device)
        if impl not in ("fast", "reference"):
            raise ValueError(f"impl must be 'fast' or 'reference', got {impl!r}")
        n = _batch_of(styles[0])
        num_conv = sum(p.kind == "conv" for p in self._points)
        if noise is not None and len(noise) != num_conv:
            raise ValueError(f"expected {num_conv} noise maps (one per conv layer), got {len(noise)}")
        default_noise = self.make_noise(n, noise_mode, generator) if noise_mode != "none" else [None] * num_conv
        noise_list = [default_noise[i] if noise is None or noise[i] is None else noise[i] for i in range(num_conv)]

        dtype = torch.bfloat16 if precision == "bf16" else self.mapping.w_avg.dtype
        fmt = torch.channels_last if (precision == "bf16" or impl == "fast") else torch.contiguous_format
        features: dict[str, torch.Tensor] = {}
        blocks = self.synthesis.blocks()
        split = self._per_sample_from(blocks, styles, n, impl)
        with torch.autocast("cpu", enabled=False):
            x, img, si, ni = self._run_blocks(blocks[:split], None, None, styles, noise_list, 0, 0, impl, dtype, fmt, n, features if return_features else None)
            if split < len(blocks):
                # From here on one sample at a time: each then takes the one-sample path (S and D folded
                # into the kernels), and a batch costs no more per image than a single image does.
                def pick(t: Any, i: int) -> Any:
                    return t[i : i + 1] if isinstance(t, torch.Tensor) and t.shape[0] == n else t

                images, per_sample = [], []
                for i in range(n):
                    own = [pick(st, i) if k >= si else st for k, st in enumerate(styles)]
                    per_sample.append({} if return_features else None)
                    _, img_i, _, _ = self._run_blocks(
                        blocks[split:], pick(x, i), pick(img, i), own, [pick(m, i) for m in noise_list], si, ni,
                        impl, dtype, fmt, 1, per_sample[-1],
                    )  # fmt: skip
                    images.append(img_i)
                img = torch.cat(images)
                if return_features:
                    features.update({name: torch.cat([f[name] for f in per_sample]) for name in per_sample[0]})
        assert img is not None
        return SynthesisOutput(image=img.contiguous(), features=features)

    @staticmethod
    def _per_sample_from(blocks: list, styles: Sequence[Style], n: int, impl: Implementation) -> int:
        """Index of the first block to run one sample at a time, ``len(blocks)`` for none: the first block
        whose convolutions fold S and D into the kernel at batch 1 (``C_out·9 <= R²``), when the batch has
        several samples, the fast path runs and every style from there on is a plain vector ``[N, C]``."""
        if n == 1 or impl != "fast":
            return len(blocks)
        first = 0
        for idx, (res, block) in enumerate(blocks):
            if block.in_channels and block.conv1.out_channels * 9 <= res * res:
                if all(isinstance(st, torch.Tensor) and st.ndim == 2 for st in styles[first:]):
                    return idx
                return len(blocks)
            first += len(block.layer_names())
        return len(blocks)

    def _run_blocks(
        self, blocks: list, x: torch.Tensor | None, img: torch.Tensor | None, styles: Sequence[Style],
        noise_list: Sequence[torch.Tensor | None], si: int, ni: int, impl: Implementation, dtype: torch.dtype,
        fmt: torch.memory_format, n: int, features: dict[str, torch.Tensor] | None,
    ) -> tuple[torch.Tensor | None, torch.Tensor | None, int, int]:
        """Run ``blocks`` from activations ``x`` and image ``img`` (None before the first block), with the
        styles and noise maps from indices ``si`` / ``ni`` on -> ``(x, img, si, ni)`` after them."""
        record = features is not None
        for res, block in blocks:
            if block.in_channels == 0:
                x = block.const.to(dtype).unsqueeze(0).expand(n, -1, -1, -1).contiguous(memory_format=fmt)
                x = block.conv1(x, styles[si], noise_list[ni], impl, f"b{res}.conv1")
                self._record(features, record, f"b{res}.conv1", x)
                si, ni = si + 1, ni + 1
            else:
                assert x is not None
                y = block.skip(x, gain=math.sqrt(0.5)) if hasattr(block, "skip") else None
                x = block.conv0(x, styles[si], noise_list[ni], impl, f"b{res}.conv0")
                self._record(features, record, f"b{res}.conv0", x)
                gain = math.sqrt(0.5) if y is not None else 1.0
                x = block.conv1(x, styles[si + 1], noise_list[ni + 1], impl, f"b{res}.conv1", gain=gain)
                if y is not None:
                    x = y + x
                self._record(features, record, f"b{res}.conv1", x)
                si, ni = si + 2, ni + 2
            if img is not None:
                img = upsample2d(img, block.resample_filter)
            if block.has_torgb:
                rgb = block.torgb(x, styles[si], impl, f"b{res}.torgb")
                img = rgb if img is None else img + rgb
                si += 1
        return x, img, si, ni

    def synthesize_jvp(
        self, ws: torch.Tensor, dws: torch.Tensor, noise_mode: NoiseMode = "const", precision: Precision = "fp32"
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """One image and its directional derivatives: ``ws [1, num_ws, w_dim]``, tangents
        ``dws [T, num_ws, w_dim]`` -> ``(image [1, C, R, R], d image / d ws · dws [T, C, R, R])``, float32.

        Forward-mode differentiation written out layer by layer (vector styles, the fast path's math; see
        :mod:`.stylegan2_jvp`): the T tangents go through each layer as one batch, so T Jacobian columns cost
        about one forward pass at batch T. Equal to ``torch.func.jvp`` of :meth:`synthesize` (tests check it)
        without functorch's per-op overhead. ``noise_mode`` "random" is refused (the derivative of one random
        draw is rarely what is wanted); use "const" or "none". ``precision="bf16"`` carries the tangents in
        bfloat16 (~1 % error, faster only with native bf16); ``"auto"`` chooses it where the CPU has it.
        For many chunks of tangents at one ``ws`` use :meth:`linearize` (the primal pass is then run once).
        """
        lin = self.linearize(ws, noise_mode, precision)
        return lin.image, lin(dws)

    def linearize(self, ws: torch.Tensor, noise_mode: NoiseMode = "const", precision: Precision = "fp32"):
        """The synthesis linearized at ``ws [1, num_ws, w_dim]``: a
        :class:`~regiongan.generators.stylegan2_jvp.LinearizedSynthesis` (``.image`` and ``lin(dws)``)."""
        from .stylegan2_jvp import LinearizedSynthesis

        return LinearizedSynthesis(self, ws, noise_mode, precision)

    def forward(
        self,
        z: torch.Tensor,
        c: torch.Tensor | None = None,
        truncation_psi: float = 1.0,
        truncation_cutoff: int | None = None,
        noise_mode: NoiseMode = "const",
        generator: torch.Generator | None = None,
    ) -> torch.Tensor:
        """Convenience: ``z -> image [N, img_channels, R, R]``."""
        ws = self.map(z, c, truncation_psi, truncation_cutoff)
        return self.synthesize(self.styles(ws), noise_mode=noise_mode, generator=generator).image

    # ---------------------------------------------------------------- helpers

    def _build_control_points(self) -> list[ControlPoint]:
        points = []
        w_idx = 0
        for res, block in self.synthesis.blocks():
            for i, lname in enumerate(block.layer_names()):
                layer = getattr(block, lname)
                kind = "torgb" if lname == "torgb" else "conv"
                in_res = res // 2 if lname == "conv0" else res
                points.append(
                    ControlPoint(
                        name=f"b{res}.{lname}", kind=kind, resolution=res, in_resolution=in_res,
                        channels=layer.in_channels, out_channels=layer.out_channels, w_index=w_idx + i,
                    )  # fmt: skip
                )
            w_idx += len(block.layer_names()) - (1 if block.has_torgb else 0)
        return points


def _batch_of(style: Style) -> int:
    return style.styles.shape[0] if isinstance(style, BlendedStyle) else style.shape[0]
