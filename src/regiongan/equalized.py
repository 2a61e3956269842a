"""Equalised-learning-rate layers shared by generators and discriminators.

Weights are stored as ``N(0, 1)`` and scaled at run time by ``1/sqrt(fan_in)`` (× a learning-rate
multiplier), as in StyleGAN2; parameter names match NVlabs' so their checkpoints load by name.
"""

from __future__ import annotations

import math
from typing import Sequence

import torch
import torch.nn as nn
import torch.nn.functional as F

from .ops.activations import DEFAULT_GAINS, bias_act
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
        self.in_features, self.out_features = in_features, out_features
        self.activation = activation
        self.weight = nn.Parameter(torch.randn([out_features, in_features]) / lr_multiplier)
        self.bias = nn.Parameter(torch.full([out_features], float(bias_init))) if bias else None
        self.weight_gain = lr_multiplier / math.sqrt(in_features)
        self.bias_gain = lr_multiplier

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``[N, in] -> [N, out]``."""
        w = self.weight * self.weight_gain
        b = self.bias * self.bias_gain if self.bias is not None else None
        if self.activation == "linear" and b is not None:
            return torch.addmm(b.unsqueeze(0), x, w.t())
        return bias_act(x.matmul(w.t()), b, activation=self.activation)


def resample_conv2d(
    x: torch.Tensor, weight: torch.Tensor, filt: torch.Tensor, up: int = 1, down: int = 1, groups: int = 1
) -> torch.Tensor:
    """'Same' convolution with optional ×2 FIR upsampling or downsampling (NVlabs ``conv2d_resample``).

    x: ``[N, C_in*groups, H, W]``; weight: ``[O*groups, C_in, k, k]`` -> ``[N, O*groups, H*up/down, W*up/down]``.
    Upsampling: transposed convolution (stride 2) then the FIR filter. Downsampling: the FIR filter, then a
    strided convolution (a 1×1 kernel after decimation). Filters are applied as true convolutions.
    """
    if up > 1 and down > 1:
        raise ValueError("resample_conv2d: up and down together are not supported")
    k = weight.shape[-1]
    fw = filt.shape[-1] if filt.numel() else 0
    if up == 1 and down == 1:
        return F.conv2d(x, weight, padding=k // 2, groups=groups)
    if down > 1:
        p0 = k // 2 + (fw - down + 1) // 2
        p1 = k // 2 + (fw - down) // 2
        if k == 1:
            return F.conv2d(upfirdn2d(x, filt, down=down, padding=(p0, p1, p0, p1)), weight, groups=groups)
        x = upfirdn2d(x, filt, padding=(p0, p1, p0, p1))
        return F.conv2d(x.contiguous(memory_format=torch.channels_last), weight, stride=down, groups=groups)
    if k == 1:
        return F.conv2d(upsample2d(x, filt, up), weight, groups=groups)
    o_total, i_per_group = weight.shape[:2]
    w = weight.reshape(groups, o_total // groups, i_per_group, k, k).transpose(1, 2)
    w = w.reshape(groups * i_per_group, o_total // groups, k, k)
    p0 = (k // 2) + (fw + up - 1) // 2 - (k - 1)
    p1 = (k // 2) + (fw - up) // 2 - (k - up)
    x = F.conv_transpose2d(x, w, stride=up, groups=groups)
    return upfirdn2d(x, filt, padding=(p0, p1, p0, p1), gain=up * up)


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
        self.in_channels, self.out_channels = in_channels, out_channels
        self.activation, self.up, self.down, self.conv_clamp = activation, up, down, conv_clamp
        self.register_buffer("resample_filter", make_filter(resample_filter))
        self.weight = nn.Parameter(torch.randn([out_channels, in_channels, kernel_size, kernel_size]))
        self.bias = nn.Parameter(torch.zeros([out_channels])) if bias else None
        self.weight_gain = 1 / math.sqrt(in_channels * kernel_size * kernel_size)

    def forward(self, x: torch.Tensor, gain: float = 1.0) -> torch.Tensor:
        """``[N, C_in, H, W] -> [N, C_out, H*up/down, W*up/down]``."""
        w = (self.weight * self.weight_gain).to(x.dtype)
        x = resample_conv2d(x, w, self.resample_filter, self.up, self.down)
        clamp = self.conv_clamp * gain if self.conv_clamp is not None else None
        return bias_act(x, self.bias, activation=self.activation, gain=DEFAULT_GAINS[self.activation] * gain, clamp=clamp)
