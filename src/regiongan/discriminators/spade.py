"""SPADE's discriminator (Park et al. 2019, after pix2pixHD): a multi-scale PatchGAN on (label map, image).

``num_D`` PatchGANs (``discriminator_0`` …) see ``concat(label one-hot, image)`` at full size, then after
each 3×3 stride-2 average pooling (``count_include_pad=False``). Each is NVlabs' ``NLayerDiscriminator``:

    model0:  4×4 conv stride 2 (ndf)                      + leaky ReLU 0.2   (no norm, no spectral norm)
    model1…: 4×4 conv stride 2 (×2 width, ≤ 512) + norm    + leaky ReLU 0.2   (the last of them: stride 1)
    model{n_layers}: 4×4 conv stride 1 -> 1 channel (the patch logits; no norm)

all with padding 2; ``norm_D`` is NVlabs' string (default ``spectralinstance``: spectral norm on the conv,
then instance norm without affine parameters, the conv losing its bias). Parameter names are NVlabs'
(``discriminator_0.model1.0.weight_orig`` …). The forward returns, per scale, the output of every
``model*`` stage — the intermediate features for the feature-matching loss, the last being the logits.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn as nn
import torch.nn.functional as F

from ..generators.spade_blocks import LEAK, init_nvlabs, make_conv, make_plain_norm, parse_plain_norm

__all__ = ["SPADEDiscriminator", "NLayerDiscriminator"]

_KERNEL = 4
_MAX_WIDTH = 512


class NLayerDiscriminator(nn.Module):
    """One PatchGAN: ``x [N, in_channels, H, W]`` -> its ``n_layers + 1`` stage outputs (the last
    ``[N, 1, h, w]`` logits)."""

    def __init__(self, in_channels: int, ndf: int, n_layers: int, norm_D: str) -> None:
        super().__init__()
        spectral, norm = parse_plain_norm(norm_D, "norm_D")
        stages: list[list[nn.Module]] = [[make_conv(in_channels, ndf, _KERNEL, 2, True, False), nn.LeakyReLU(LEAK)]]
        nf = ndf
        for n in range(1, n_layers):
            nf_prev, nf = nf, min(nf * 2, _MAX_WIDTH)
            stride = 1 if n == n_layers - 1 else 2
            conv = make_conv(nf_prev, nf, _KERNEL, stride, norm == "none", spectral)
            # NVlabs: batch norms here are affine, instance norms are not
            layer = conv if norm == "none" else nn.Sequential(conv, make_plain_norm(norm, nf, norm == "batch"))
            stages.append([layer, nn.LeakyReLU(LEAK)])
        stages.append([make_conv(nf, 1, _KERNEL, 1, True, False)])
        for i, stage in enumerate(stages):
            self.add_module(f"model{i}", nn.Sequential(*stage))

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        features = []
        for stage in self.children():
            x = stage(x)
            features.append(x)
        return features


class SPADEDiscriminator(nn.Module):
    """``D(labels [N, label_nc, H, W], image [N, img_channels, H, W])`` -> per scale (``num_D`` of them,
    full size first) the list of ``n_layers + 1`` stage outputs; ``out[s][-1]`` are scale ``s``'s patch
    logits ``[N, 1, h_s, w_s]``, ``out[s][:-1]`` the features for feature matching.

    Constructor arguments are the config (NVlabs' defaults: ``ndf`` 64, ``n_layers_D`` 4, ``num_D`` 2,
    ``norm_D`` 'spectralinstance'); ``label_nc`` is the semantic channel count (NVlabs' ``semantic_nc``).
    """

    model_type = "spade-d"

    def __init__(
        self, label_nc: int, ndf: int = 64, n_layers_D: int = 4, num_D: int = 2, norm_D: str = "spectralinstance",
        img_channels: int = 3,
    ) -> None:
        super().__init__()
        for name, value, least in (("label_nc", label_nc, 1), ("ndf", ndf, 1), ("n_layers_D", n_layers_D, 1),
                                   ("num_D", num_D, 1), ("img_channels", img_channels, 1)):  # fmt: skip
            if not isinstance(value, int) or isinstance(value, bool) or value < least:
                raise ValueError(f"spade-d config: {name} must be an int >= {least}, got {value!r}")
        parse_plain_norm(norm_D, "spade-d config: norm_D")
        self.config: dict[str, Any] = dict(
            label_nc=label_nc, ndf=ndf, n_layers_D=n_layers_D, num_D=num_D, norm_D=norm_D, img_channels=img_channels
        )
        self.label_nc, self.img_channels = label_nc, img_channels
        for i in range(num_D):
            self.add_module(f"discriminator_{i}", NLayerDiscriminator(label_nc + img_channels, ndf, n_layers_D, norm_D))
        init_nvlabs(self)

    def forward(self, labels: torch.Tensor, image: torch.Tensor) -> list[list[torch.Tensor]]:
        """labels ``[N, label_nc, H, W]`` (one-hot, float), image ``[N, img_channels, H, W]`` in about [-1, 1]."""
        if labels.ndim != 4 or labels.shape[1] != self.label_nc:
            raise ValueError(f"labels must be one-hot [N, {self.label_nc}, H, W], got {tuple(labels.shape)}")
        if image.ndim != 4 or image.shape[1] != self.img_channels or image.shape[0] != labels.shape[0] or image.shape[2:] != labels.shape[2:]:
            raise ValueError(
                f"image must be [N, {self.img_channels}, H, W] with the labels' N, H, W {tuple(labels.shape)}, "
                f"got {tuple(image.shape)}"
            )
        x = torch.cat([labels.to(image.dtype), image], dim=1)
        out = []
        for i, d in enumerate(self.children()):
            if i:
                x = F.avg_pool2d(x, kernel_size=3, stride=2, padding=1, count_include_pad=False)
            out.append(d(x))
        return out
