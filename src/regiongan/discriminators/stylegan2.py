"""StyleGAN2 discriminator (Karras et al. 2020, NVlabs ``networks.Discriminator``), resnet architecture.

    image -> FromRGB (1×1) -> b{R} -> b{R/2} -> … -> b8 -> epilogue at 4×4 -> logit

Each block is ``conv0`` (3×3) and ``conv1`` (3×3, ×2 FIR downsampling) plus a 1×1 downsampling skip, the two
paths summed with gain √½. The epilogue appends the minibatch standard deviation, runs a 3×3 conv, a fully
connected layer and the output layer. With ``c_dim > 0`` the output is a ``cmap_dim`` vector projected onto
an embedding of the class (Miyato & Koyama 2018, "projection discriminator").

All convolutions are plain (non-grouped) with equalised learning rate, so the network runs in bf16 under
``torch.autocast`` on channels_last tensors. Parameter names follow NVlabs (``b64.conv0.weight``,
``b4.fc.weight``, …) so that their state dicts map one to one.
"""

from __future__ import annotations

import math
from typing import Any, Sequence

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from ..generators.stylegan2 import MappingNetwork
from ..equalized import Conv2dLayer, FullyConnectedLayer

__all__ = ["StyleGAN2Discriminator", "DiscriminatorBlock", "MinibatchStdLayer", "DiscriminatorEpilogue"]


class DiscriminatorBlock(nn.Module):
    """One resolution of the resnet discriminator: ``[N, C_in, R, R] -> [N, C_out, R/2, R/2]``.

    The first block (``in_channels == 0``) starts from the image through ``fromrgb``.
    """

    def __init__(
        self,
        in_channels: int,
        tmp_channels: int,
        out_channels: int,
        resolution: int,
        img_channels: int,
        resample_filter: Sequence[float] = (1, 3, 3, 1),
        conv_clamp: float | None = None,
    ) -> None:
        super().__init__()
        self.in_channels, self.resolution, self.img_channels = in_channels, resolution, img_channels
        if in_channels == 0:
            self.fromrgb = Conv2dLayer(img_channels, tmp_channels, 1, activation="lrelu", conv_clamp=conv_clamp)
        self.conv0 = Conv2dLayer(tmp_channels, tmp_channels, 3, activation="lrelu", conv_clamp=conv_clamp)
        self.conv1 = Conv2dLayer(
            tmp_channels, out_channels, 3, activation="lrelu", down=2,
            resample_filter=resample_filter, conv_clamp=conv_clamp,
        )  # fmt: skip
        self.skip = Conv2dLayer(tmp_channels, out_channels, 1, bias=False, down=2, resample_filter=resample_filter)

    def forward(self, x: torch.Tensor | None, img: torch.Tensor | None) -> torch.Tensor:
        """x: features ``[N, C_in, R, R]`` (None for the first block); img: ``[N, img_channels, R, R]``."""
        if self.in_channels == 0:
            assert img is not None and img.shape[1:] == (self.img_channels, self.resolution, self.resolution)
            x = self.fromrgb(img)
        assert x is not None and x.shape[2:] == (self.resolution, self.resolution)
        y = self.skip(x, gain=math.sqrt(0.5))
        x = self.conv1(self.conv0(x), gain=math.sqrt(0.5))
        return y + x


class MinibatchStdLayer(nn.Module):
    """Appends the standard deviation across groups of samples as extra feature maps (ProGAN §3).

    Samples ``i, i + N/G, i + 2N/G, …`` form a group of ``G = min(group_size, N)``; each group gets
    ``num_channels`` maps holding the mean (over features and pixels) of the per-feature std in the group.
    """

    def __init__(self, group_size: int, num_channels: int = 1) -> None:
        super().__init__()
        self.group_size, self.num_channels = group_size, num_channels

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``[N, C, H, W] -> [N, C + num_channels, H, W]``."""
        n, c, h, w = x.shape
        g = min(self.group_size, n)
        if n % g != 0:
            raise ValueError(f"minibatch-stddev: batch size {n} must be divisible by the group size {g}")
        f = self.num_channels
        y = x.float().reshape(g, -1, f, c // f, h, w)
        y = (y - y.mean(dim=0)).square().mean(dim=0)  # variance over the group  [N/G, F, C/F, H, W]
        y = (y + 1e-8).sqrt().mean(dim=[2, 3, 4])  # [N/G, F]
        y = y.reshape(-1, f, 1, 1).repeat(g, 1, h, w).to(x.dtype)
        return torch.cat([x, y.contiguous(memory_format=torch.channels_last)], dim=1)


class DiscriminatorEpilogue(nn.Module):
    """4×4 features -> minibatch std -> 3×3 conv -> fc -> out: ``[N, C, 4, 4] -> [N, max(cmap_dim, 1)]``."""

    def __init__(
        self,
        in_channels: int,
        cmap_dim: int,
        resolution: int = 4,
        mbstd_group_size: int = 4,
        mbstd_num_channels: int = 1,
        conv_clamp: float | None = None,
    ) -> None:
        super().__init__()
        self.in_channels, self.resolution = in_channels, resolution
        self.mbstd = MinibatchStdLayer(mbstd_group_size, mbstd_num_channels) if mbstd_num_channels > 0 else None
        self.conv = Conv2dLayer(
            in_channels + mbstd_num_channels, in_channels, 3, activation="lrelu", conv_clamp=conv_clamp
        )
        self.fc = FullyConnectedLayer(in_channels * resolution**2, in_channels, activation="lrelu")
        self.out = FullyConnectedLayer(in_channels, max(cmap_dim, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        assert x.shape[1:] == (self.in_channels, self.resolution, self.resolution), tuple(x.shape)
        if self.mbstd is not None:
            x = self.mbstd(x)
        x = self.conv(x)
        # flatten in NCHW order whatever the memory format, so weights do not depend on it
        x = self.fc(x.contiguous().flatten(1))
        return self.out(x)


class StyleGAN2Discriminator(nn.Module):
    """``D(img [N, img_channels, R, R], c [N, c_dim]) -> logits [N, 1]`` (float32).

    Constructor arguments are the config. Feature channels at resolution ``r`` are
    ``min(channel_base // r, channel_max)``, overridden per resolution by ``channels`` (``{r: C}``; the
    4×4 epilogue uses ``channels[4]``). Call it under ``torch.autocast`` for bf16; logits come back float32.
    """

    model_type = "stylegan2-d"

    def __init__(
        self,
        c_dim: int = 0,
        img_resolution: int = 256,
        img_channels: int = 3,
        channel_base: int = 32768,
        channel_max: int = 512,
        channels: dict[int, int] | None = None,
        architecture: str = "resnet",
        cmap_dim: int | None = None,
        mapping_layers: int = 8,
        mbstd_group_size: int = 4,
        mbstd_num_channels: int = 1,
        resample_filter: Sequence[float] = (1, 3, 3, 1),
        conv_clamp: float | None = None,
    ) -> None:
        super().__init__()
        log2 = int(np.log2(img_resolution)) if img_resolution > 0 else 0
        if img_resolution < 8 or 2**log2 != img_resolution:
            raise ValueError(f"img_resolution must be a power of two >= 8, got {img_resolution}")
        if architecture != "resnet":
            raise ValueError(f"only architecture='resnet' is implemented, got {architecture!r}")
        if c_dim < 0 or img_channels <= 0 or mbstd_group_size <= 0 or mbstd_num_channels < 0:
            raise ValueError(
                f"need c_dim >= 0, img_channels > 0, mbstd_group_size > 0, mbstd_num_channels >= 0; got "
                f"{c_dim}, {img_channels}, {mbstd_group_size}, {mbstd_num_channels}"
            )
        self.block_resolutions = [2**i for i in range(log2, 2, -1)]
        self.channels = {r: min(channel_base // r, channel_max) for r in self.block_resolutions + [4]}
        if channels:
            self.channels.update({int(k): int(v) for k, v in channels.items() if int(k) in self.channels})
        bad = {r: ch for r, ch in self.channels.items() if ch <= 0}
        if bad:
            raise ValueError(f"channel counts must be positive, got {bad} (raise channel_base or set channels)")
        if cmap_dim is None:
            cmap_dim = self.channels[4]
        if c_dim == 0:
            cmap_dim = 0
        self.config: dict[str, Any] = dict(
            c_dim=c_dim, img_resolution=img_resolution, img_channels=img_channels, channel_base=channel_base,
            channel_max=channel_max, channels={int(k): int(v) for k, v in channels.items()} if channels else None,
            architecture=architecture, cmap_dim=cmap_dim, mapping_layers=mapping_layers,
            mbstd_group_size=mbstd_group_size, mbstd_num_channels=mbstd_num_channels,
            resample_filter=list(resample_filter), conv_clamp=conv_clamp,
        )  # fmt: skip
        self.c_dim, self.img_resolution, self.img_channels, self.cmap_dim = c_dim, img_resolution, img_channels, cmap_dim

        for res in self.block_resolutions:
            in_ch = self.channels[res] if res < img_resolution else 0
            block = DiscriminatorBlock(
                in_ch, self.channels[res], self.channels[res // 2], res, img_channels,
                resample_filter=resample_filter, conv_clamp=conv_clamp,
            )  # fmt: skip
            setattr(self, f"b{res}", block)
        if c_dim > 0:
            # NVlabs' conditioning: a mapping network without z turns the one-hot class into cmap [N, cmap_dim].
            self.mapping = MappingNetwork(
                z_dim=0, c_dim=c_dim, w_dim=cmap_dim, num_ws=1, num_layers=mapping_layers
            )
        self.b4 = DiscriminatorEpilogue(
            self.channels[4], cmap_dim, mbstd_group_size=mbstd_group_size,
            mbstd_num_channels=mbstd_num_channels, conv_clamp=conv_clamp,
        )  # fmt: skip

    def forward(self, img: torch.Tensor, c: torch.Tensor | None = None) -> torch.Tensor:
        """img ``[N, img_channels, R, R]`` in about [-1, 1]; c ``[N, c_dim]`` (one-hot) -> logits ``[N, 1]``."""
        expected = (self.img_channels, self.img_resolution, self.img_resolution)
        if img.ndim != 4 or tuple(img.shape[1:]) != expected:
            raise ValueError(f"img must be [N, {', '.join(map(str, expected))}], got {tuple(img.shape)}")
        if self.c_dim > 0 and (c is None or tuple(c.shape) != (img.shape[0], self.c_dim)):
            got = None if c is None else tuple(c.shape)
            raise ValueError(f"this discriminator is class-conditional: c must be [{img.shape[0]}, {self.c_dim}], got {got}")
        x = None
        img = img.contiguous(memory_format=torch.channels_last)
        for res in self.block_resolutions:
            x = getattr(self, f"b{res}")(x, img)
        out = self.b4(x).float()
        if self.c_dim == 0:
            return out
        cmap = self.mapping(None, c)[:, 0]  # [N, cmap_dim]
        return (out * cmap).sum(dim=1, keepdim=True) / math.sqrt(self.cmap_dim)
