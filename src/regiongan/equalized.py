"""Equalised-learning-rate layers shared by generators and discriminators.

Weights are stored as ``N(0, 1)`` and scaled at run time by ``1/sqrt(fan_in)`` (× a learning-rate
multiplier), as in StyleGAN2; parameter names match NVlabs' so their checkpoints load by name.

Both layers compute NVlabs' ``bias_act(conv(x, w), b, act, gain)`` = ``act(conv(x, w) + b) · gain`` as
``act(conv(x, w · gain) + b · gain)``: the activations here (linear, leaky ReLU) are positively homogeneous,
so the gain goes into the small weight and bias and the bias into the convolution (or matmul), leaving
one pass over the output (the activation) instead of three (bias, activation, gain) forward and backward.
"""

from __future__ import annotations

import math
from typing import Sequence

import torch
import torch.nn as nn
import torch.nn.functional as F

from .ops.activations import DEFAULT_GAINS, LRELU_SLOPE
from .ops.filters import make_filter, upfirdn2d, upsample2d

__all__ = ["FullyConnectedLayer", "Conv2dLayer", "resample_conv2d"]


class FullyConnectedLayer(nn.Module):
    """Equalised linear layer (+ activation): ``[N, in] -> [N, out]``."""

    def __init__(
        self,
        in_features: int,
        out_features: int,
        bias: bool = True,
        activation: str = "linear",
        lr_multiplier: float = 1.0,
        bias_init: float = 0.0,
    ) -> None:
        super().__init__()
        _check_activation(activation)
        self.in_features, self.out_features = in_features, out_features
        self.activation = activation
        self.weight = nn.Parameter(torch.randn([out_features, in_features]) / lr_multiplier)
        self.bias = nn.Parameter(torch.full([out_features], float(bias_init))) if bias else None
        self.weight_gain = lr_multiplier / math.sqrt(in_features)
        self.bias_gain = lr_multiplier

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``[N, in] -> [N, out]``."""
        act_gain = DEFAULT_GAINS[self.activation]  # folded into w and b (module docstring)
        w = self.weight * (self.weight_gain * act_gain)
        if self.bias is None:
            return _activate(x.matmul(w.t()), self.activation)
        return _activate(torch.addmm((self.bias * (self.bias_gain * act_gain)).unsqueeze(0), x, w.t()), self.activation)


def _activate(x: torch.Tensor, activation: str) -> torch.Tensor:
    """The activation alone (no bias, gain 1): leaky ReLU or linear."""
    return F.leaky_relu(x, LRELU_SLOPE) if activation == "lrelu" else x


def _check_activation(activation: str) -> None:
    if activation not in DEFAULT_GAINS:
        raise ValueError(f"unknown activation {activation!r}; expected one of {sorted(DEFAULT_GAINS)}")


def resample_conv2d(
    x: torch.Tensor,
    weight: torch.Tensor,
    filt: torch.Tensor,
    up: int = 1,
    down: int = 1,
    groups: int = 1,
    bias: torch.Tensor | None = None,
) -> torch.Tensor:
    """'Same' convolution with optional ×2 FIR upsampling or downsampling (NVlabs ``conv2d_resample``).

    x: ``[N, C_in*groups, H, W]``; weight: ``[O*groups, C_in, k, k]``; bias: ``[O*groups]`` or None ->
    ``[N, O*groups, H*up/down, W*up/down]``. Upsampling: transposed convolution (stride 2) then the FIR
    filter. Downsampling: the FIR filter, then a strided convolution (a 1×1 kernel after decimation).
    Filters are applied as true convolutions; the bias is added last (inside the final convolution when
    there is one).
    """
    if up > 1 and down > 1:
        raise ValueError("resample_conv2d: up and down together are not supported")
    k = weight.shape[-1]
    fw = filt.shape[-1] if filt.numel() else 0
    if up == 1 and down == 1:
        return F.conv2d(x, weight, bias, padding=k // 2, groups=groups)
    if down > 1:
        p0 = k // 2 + (fw - down + 1) // 2
        p1 = k // 2 + (fw - down) // 2
        if k == 1:
            return F.conv2d(upfirdn2d(x, filt, down=down, padding=(p0, p1, p0, p1)), weight, bias, groups=groups)
        x = upfirdn2d(x, filt, padding=(p0, p1, p0, p1))
        return F.conv2d(x.contiguous(memory_format=torch.channels_last), weight, bias, stride=down, groups=groups)
    if k == 1:
        return F.conv2d(upsample2d(x, filt, up), weight, bias, groups=groups)
    o_total, i_per_group = weight.shape[:2]
    w = weight.reshape(groups, o_total // groups, i_per_group, k, k).transpose(1, 2)
    w = w.reshape(groups * i_per_group, o_total // groups, k, k)
    p0 = (k // 2) + (fw + up - 1) // 2 - (k - 1)
    p1 = (k // 2) + (fw - up) // 2 - (k - up)
    x = F.conv_transpose2d(x, w, stride=up, groups=groups)
    x = upfirdn2d(x, filt, padding=(p0, p1, p0, p1), gain=up * up)
    return x if bias is None else x + bias.reshape(1, -1, 1, 1)


class Conv2dLayer(nn.Module):
    """Equalised convolution + bias + activation (+ clamp), optionally with ×2 FIR up- or downsampling."""

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int,
        bias: bool = True,
        activation: str = "linear",
        up: int = 1,
        down: int = 1,
        resample_filter: Sequence[float] = (1, 3, 3, 1),
        conv_clamp: float | None = None,
    ) -> None:
        super().__init__()
        _check_activation(activation)
        self.in_channels, self.out_channels = in_channels, out_channels
        self.activation, self.up, self.down, self.conv_clamp = activation, up, down, conv_clamp
        self.register_buffer("resample_filter", make_filter(resample_filter))
        self.weight = nn.Parameter(torch.randn([out_channels, in_channels, kernel_size, kernel_size]))
        self.bias = nn.Parameter(torch.zeros([out_channels])) if bias else None
        self.weight_gain = 1 / math.sqrt(in_channels * kernel_size * kernel_size)

    def forward(self, x: torch.Tensor, gain: float = 1.0) -> torch.Tensor:
        """``[N, C_in, H, W] -> [N, C_out, H*up/down, W*up/down]``; ``gain`` (> 0) scales the output."""
        if gain <= 0:
            raise ValueError(f"Conv2dLayer gain must be > 0 (it is folded into the weights), got {gain}")
        act_gain = DEFAULT_GAINS[self.activation] * gain  # folded into w and b (module docstring)
        w = (self.weight * (self.weight_gain * act_gain)).to(x.dtype)
        b = (self.bias * act_gain).to(x.dtype) if self.bias is not None else None
        x = _activate(resample_conv2d(x, w, self.resample_filter, self.up, self.down, bias=b), self.activation)
        if self.conv_clamp is not None:
            x = x.clamp(-self.conv_clamp * gain, self.conv_clamp * gain)
        return x
