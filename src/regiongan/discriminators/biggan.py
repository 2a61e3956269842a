"""BigGAN-deep discriminator (Brock et al. 2019, appendix B): residual bottleneck blocks, spectral norm on
every weight, a projection head for class-conditional models (Miyato & Koyama 2018).

    image -> conv 3×3 (ch) -> [blocks at R] -> [blocks at R/2] -> … -> [blocks at 4] -> ReLU -> Σ_xy -> h
    logit = linear(h) + <embed(c), h>

Every resolution ``r > 4`` has ``blocks_per_resolution`` blocks: the first ones keep the width, the last
one doubles it (capped at ``16·ch``) and halves the size by 2×2 average pooling. At 4×4, ``blocks_per_resolution
− 1`` more blocks keep the width. A block is ReLU → 1×1 (to ``in/4``) → ReLU → 3×3 → ReLU → 3×3 → ReLU →
[avg-pool] → 1×1 (to ``out``), plus a skip path that pools the same way and, when the width grows, appends
``out − in`` channels from a 1×1 conv of the input (BigGAN-deep keeps the input channels as they are).
An optional SAGAN self-attention layer sits in front of the first block at resolution ``attention``.

Spectral norm is the generator's own (:class:`~regiongan.generators.biggan.SNConv2d`): weights stored as
``weight_orig`` with the power-iteration vectors ``weight_u``/``weight_v`` as buffers, one power iteration
per call in training mode (as ``torch.nn.utils.spectral_norm``), none in eval mode. The vectors are part of
the state dict, so a training snapshot restores them exactly.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn as nn
import torch.nn.functional as F

from ..generators.biggan import SelfAttention, SNConv2d, SNLinear

__all__ = ["BigGANDiscriminator", "DBlock"]

#: Spectral-norm epsilon (normalisation of u and v), as in BigGAN.
SN_EPS = 1e-8


class DBlock(nn.Module):
    """One BigGAN-deep D block: ``[N, in, r, r] -> [N, out, r', r']`` (``r' = r/2`` when ``down``)."""

    def __init__(self, c_in: int, c_out: int, down: bool) -> None:
        super().__init__()
        if c_out < c_in:
            raise ValueError(f"a BigGAN D block keeps or grows its width, got {c_in} -> {c_out}")
        mid = c_in // 4
        self.c_in, self.c_out, self.down = c_in, c_out, down
        self.conv_0 = SNConv2d(c_in, mid, 1, bias=True, eps=SN_EPS)
        self.conv_1 = SNConv2d(mid, mid, 3, bias=True, eps=SN_EPS)
        self.conv_2 = SNConv2d(mid, mid, 3, bias=True, eps=SN_EPS)
        self.conv_3 = SNConv2d(mid, c_out, 1, bias=True, eps=SN_EPS)
        self.conv_sc = SNConv2d(c_in, c_out - c_in, 1, bias=True, eps=SN_EPS) if c_out > c_in else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.conv_0(F.relu(x))
        h = self.conv_1(F.relu(h))
        h = F.relu(self.conv_2(F.relu(h)))
        if self.down:
            h = F.avg_pool2d(h, 2)
        h = self.conv_3(h)
        skip = F.avg_pool2d(x, 2) if self.down else x
        if self.conv_sc is not None:
            skip = torch.cat([skip, self.conv_sc(skip)], dim=1)
        return h + skip


class BigGANDiscriminator(nn.Module):
    """``D(img [N, img_channels, R, R], c [N, c_dim]) -> logits [N, 1]`` (float32).

    Constructor arguments are the config. ``channel_width`` (ch) feature maps at full resolution, doubled
    at every halving up to ``16·ch``; ``c_dim = 0`` makes it unconditional (no projection). ``attention``:
    resolution of the self-attention layer (0: none). ``c`` may be one-hot or soft class vectors.
    """

    model_type = "biggan-deep-d"

    def __init__(
        self,
        c_dim: int = 0,
        img_resolution: int = 64,
        img_channels: int = 3,
        channel_width: int = 64,
        blocks_per_resolution: int = 2,
        attention: int = 0,
    ) -> None:
        super().__init__()
        r = img_resolution
        if not isinstance(r, int) or r < 8 or r & (r - 1):
            raise ValueError(f"img_resolution must be a power of two >= 8, got {r!r}")
        if channel_width < 4 or blocks_per_resolution < 1 or c_dim < 0 or img_channels < 1:
            raise ValueError(
                "need channel_width >= 4, blocks_per_resolution >= 1, c_dim >= 0, img_channels >= 1; got "
                f"{channel_width}, {blocks_per_resolution}, {c_dim}, {img_channels}"
            )
        if attention and (attention & (attention - 1) or not 4 <= attention <= r):
            raise ValueError(f"attention must be 0 or a power of two in [4, {r}], got {attention}")
        self.config: dict[str, Any] = dict(
            c_dim=c_dim, img_resolution=r, img_channels=img_channels, channel_width=channel_width,
            blocks_per_resolution=blocks_per_resolution, attention=attention,
        )  # fmt: skip
        self.c_dim, self.img_resolution, self.img_channels = c_dim, r, img_channels
        ch = channel_width

        def width(res: int) -> int:
            return ch * min(r // res, 16)

        self.input_conv = SNConv2d(img_channels, ch, 3, bias=True, eps=SN_EPS)
        layers: list[nn.Module] = []
        res = r
        while res >= 4:
            if res == attention:
                layers.append(SelfAttention(width(res), SN_EPS))
            for k in range(blocks_per_resolution):
                down = res > 4 and k == blocks_per_resolution - 1
                if res == 4 and k == blocks_per_resolution - 1:
                    break  # at 4² only the width-keeping blocks
                layers.append(DBlock(width(res), width(res // 2) if down else width(res), down))
            res //= 2
        self.layers = nn.ModuleList(layers)
        self.out_channels = width(4)
        self.linear = SNLinear(self.out_channels, 1, bias=True, eps=SN_EPS)
        # projection: a bias-free linear map of the class vector, i.e. an embedding for one-hot c
        self.embed = SNLinear(c_dim, self.out_channels, bias=False, eps=SN_EPS) if c_dim else None

    def features(self, img: torch.Tensor) -> torch.Tensor:
        """``img [N, C, R, R] -> h [N, 16·ch]`` (after the last ReLU and the sum over pixels)."""
        expected = (self.img_channels, self.img_resolution, self.img_resolution)
        if img.ndim != 4 or tuple(img.shape[1:]) != expected:
            raise ValueError(f"img must be [N, {', '.join(map(str, expected))}], got {tuple(img.shape)}")
        x = self.input_conv(img)
        for layer in self.layers:
            x = layer(x)
        return F.relu(x).sum(dim=[2, 3])

    def projection(self, h: torch.Tensor, c: torch.Tensor | None) -> torch.Tensor:
        """The class term ``<embed(c), h>`` ``[N, 1]`` (zeros for an unconditional D)."""
        if self.embed is None:
            return torch.zeros_like(h[:, :1])
        return (self.embed(c.to(h.dtype)) * h).sum(dim=1, keepdim=True)

    def forward(self, img: torch.Tensor, c: torch.Tensor | None = None) -> torch.Tensor:
        """img ``[N, img_channels, R, R]`` in about [-1, 1]; c ``[N, c_dim]`` -> logits ``[N, 1]`` float32."""
        if self.c_dim and (c is None or tuple(c.shape) != (img.shape[0], self.c_dim)):
            got = None if c is None else tuple(c.shape)
            raise ValueError(f"this discriminator is class-conditional: c must be [{img.shape[0]}, {self.c_dim}], got {got}")
        if not self.c_dim and c is not None:
            raise ValueError("this discriminator is unconditional: pass c=None")
        h = self.features(img)
        return (self.linear(h) + self.projection(h, c)).float()
