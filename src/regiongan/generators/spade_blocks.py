"""SPADE building blocks (Park et al. 2019), parameter names as in NVlabs/SPADE's ``models/networks``.

* :class:`SPADE` — spatially-adaptive normalization (paper eq. 1): a parameter-free norm (batch,
  sync-batch or instance) modulated per pixel, ``norm(x) · (1 + γ(m)) + β(m)``, where ``γ, β`` are 3×3
  convs of a shared conv (128 channels) + ReLU of the label map ``m`` nearest-resized to ``x``.
* :class:`SPADEResnetBlock` — two (SPADE, leaky ReLU 0.2, conv) stages with ``min(in, out)`` middle
  channels, plus a learned (SPADE, 1×1 conv without bias) shortcut when the width changes; spectral norm on
  the convs when the norm string starts with ``spectral``.
* :class:`AffineNorm` and :class:`LabelDownsampler` — the label-at-the-input baseline (``label_injection
  "input"``): the same parameter-free norm with a learned per-channel affine instead of SPADE, and strided
  convs that bring the one-hot label map down to the input grid.
* :class:`ConvEncoder` — the VAE style encoder: stride-2 3×3 convs (spectral norm + instance norm by
  default) down to a 4×4 grid, then ``fc_mu`` and ``fc_var``.
* :func:`parse_spade_norm` / :func:`parse_plain_norm` — NVlabs' norm strings (``spectralspadesyncbatch3x3``,
  ``spectralinstance``).

Spectral norm is the BigGAN module's (:class:`~regiongan.generators.biggan.SNConv2d`): ``weight_orig`` with
the power-iteration buffers ``weight_u``/``weight_v``, one iteration per call in training mode and none in
eval mode, exactly as ``torch.nn.utils.spectral_norm``; :class:`SNConv2dStrided` adds the stride the encoder
and the discriminator need. Sync-batch norm has the same tensors as ``BatchNorm2d`` and is one here: on one
process they compute the same thing (for multi-GPU training, ``nn.SyncBatchNorm.convert_sync_batchnorm``
turns every one into a synchronised one).
"""

from __future__ import annotations

import math
import re
from typing import NamedTuple

import torch
import torch.nn as nn
import torch.nn.functional as F

from .biggan import SNConv2d, SNLinear

__all__ = [
    "SN_EPS", "SPADE_HIDDEN", "LEAK", "SpadeNorm", "make_conv", "make_plain_norm", "parse_spade_norm", "parse_plain_norm", "SNConv2dStrided", "SPADE",
    "SPADEResnetBlock", "ConvEncoder", "encoder_widths", "init_nvlabs", "AffineNorm", "LabelDownsampler",
    "label_down_widths", "LABEL_INJECTIONS",
]  # fmt: skip

#: ``torch.nn.utils.spectral_norm``'s default epsilon (normalisation of u and v), which NVlabs uses.
SN_EPS = 1e-12
#: Hidden width of SPADE's shared conv (fixed in NVlabs/SPADE).
SPADE_HIDDEN = 128
#: Slope of every leaky ReLU in the generator and the encoder.
LEAK = 0.2
#: Where the label map enters the generator: every norm (SPADE) or only the input (the baseline).
LABEL_INJECTIONS = ("spade", "input")

_SPADE_NORM = re.compile(r"(spectral)?spade(instance|syncbatch|batch)(\d+)x(\d+)")
_PLAIN_NORM = re.compile(r"(spectral)?(instance|sync_?batch|batch|none|)")


class SpadeNorm(NamedTuple):
    """A parsed ``norm_G``: spectral norm on the block convs, the parameter-free norm, SPADE's kernel size."""

    spectral: bool
    norm: str  # "instance" | "batch" | "syncbatch"
    kernel: int


def parse_spade_norm(text: object, what: str = "norm_G") -> SpadeNorm:
    """``"spectralspadesyncbatch3x3"`` -> ``SpadeNorm(True, "syncbatch", 3)``, or a one-line ValueError."""
    m = _SPADE_NORM.fullmatch(text) if isinstance(text, str) else None
    if m is None or int(m.group(3)) % 2 == 0 or m.group(3) != m.group(4):
        raise ValueError(
            f"{what} must be [spectral]spade{{instance|batch|syncbatch}}KxK with an odd K, e.g. "
            f"'spectralspadesyncbatch3x3', got {text!r}"
        )
    return SpadeNorm(m.group(1) is not None, m.group(2), int(m.group(3)))


def parse_plain_norm(text: object, what: str = "norm_E") -> tuple[bool, str]:
    """``"spectralinstance"`` -> ``(True, "instance")`` (norms without SPADE: encoder, discriminator).

    As NVlabs' ``get_nonspade_norm_layer``: ``[spectral]{instance|batch|sync_batch|none}``, where a bare
    ``spectral`` means no norm; the kind comes back as ``instance``, ``batch`` (also for sync-batch) or ``none``."""
    m = _PLAIN_NORM.fullmatch(text) if isinstance(text, str) and text else None
    if m is None:
        raise ValueError(
            f"{what} must be [spectral]{{instance|batch|sync_batch|none}}, e.g. 'spectralinstance', got {text!r}"
        )
    kind = m.group(2) or "none"
    return m.group(1) is not None, "batch" if kind.startswith("sync") else kind


class SNConv2dStrided(SNConv2d):
    """:class:`~regiongan.generators.biggan.SNConv2d` with a stride (padding ``kernel // 2``):
    ``[N, in, h, w] -> [N, out, ⌊(h + 2p − k) / s⌋ + 1, …]``."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, stride: int, bias: bool) -> None:
        super().__init__(in_channels, out_channels, kernel_size, bias=bias, eps=SN_EPS)
        self.stride = stride

    def forward(self, x: torch.Tensor, out_channels: int | None = None) -> torch.Tensor:
        return F.conv2d(x, self.weight(), self.bias, stride=self.stride, padding=self.padding)


def make_conv(c_in: int, c_out: int, kernel: int, stride: int, bias: bool, spectral: bool) -> nn.Module:
    """A conv with 'same'-style padding ``kernel // 2``, spectrally normalised or plain (NVlabs' names:
    ``weight_orig/weight_u/weight_v`` or ``weight``, then ``bias``)."""
    if spectral:
        return SNConv2dStrided(c_in, c_out, kernel, stride, bias)
    return nn.Conv2d(c_in, c_out, kernel, stride=stride, padding=kernel // 2, bias=bias)


def make_plain_norm(kind: str, channels: int, affine: bool) -> nn.Module:
    """Batch / sync-batch (``BatchNorm2d``: the same tensors) or instance norm (no running statistics)."""
    if kind == "instance":
        return nn.InstanceNorm2d(channels, affine=affine)
    return nn.BatchNorm2d(channels, affine=affine)


class SPADE(nn.Module):
    """Spatially-adaptive normalization: ``x [N, C, h, w]``, label map ``seg [N, label_nc, H, W]`` ->
    ``norm(x) · (1 + γ) + β`` ``[N, C, h, w]`` with ``γ, β`` from ``seg`` nearest-resized to ``h × w``."""

    def __init__(self, norm: str, kernel: int, channels: int, label_nc: int) -> None:
        super().__init__()
        self.param_free_norm = make_plain_norm(norm, channels, affine=False)
        pad = kernel // 2
        self.mlp_shared = nn.Sequential(nn.Conv2d(label_nc, SPADE_HIDDEN, kernel, padding=pad), nn.ReLU())
        self.mlp_gamma = nn.Conv2d(SPADE_HIDDEN, channels, kernel, padding=pad)
        self.mlp_beta = nn.Conv2d(SPADE_HIDDEN, channels, kernel, padding=pad)

    def forward(self, x: torch.Tensor, seg: torch.Tensor) -> torch.Tensor:
        normalized = self.param_free_norm(x)
        seg = F.interpolate(seg, size=x.shape[2:], mode="nearest")
        actv = self.mlp_shared(seg)
        return normalized * (1 + self.mlp_gamma(actv)) + self.mlp_beta(actv)


class AffineNorm(nn.Module):
    """The baseline's norm: SPADE's parameter-free norm followed by a learned per-channel affine (no label
    map): ``x [N, C, h, w]`` -> ``norm(x) · weight + bias``. Takes (and ignores) ``seg`` so it can stand in
    for :class:`SPADE`."""

    def __init__(self, norm: str, channels: int) -> None:
        super().__init__()
        self.param_free_norm = make_plain_norm(norm, channels, affine=False)
        self.weight = nn.Parameter(torch.ones(channels))
        self.bias = nn.Parameter(torch.zeros(channels))

    def forward(self, x: torch.Tensor, seg: torch.Tensor | None = None) -> torch.Tensor:
        return self.param_free_norm(x) * self.weight[:, None, None] + self.bias[:, None, None]


def label_down_widths(ngf: int, steps: int) -> list[int]:
    """Output channels of :class:`LabelDownsampler`'s ``steps`` stride-2 convs: ``ngf · 2^i`` (at most
    ``16·ngf``), the last always ``16·ngf`` (the input grid's width)."""
    return [min(ngf * 2**i, 16 * ngf) for i in range(steps - 1)] + [16 * ngf]


class LabelDownsampler(nn.Module):
    """The baseline's only view of the label map: ``seg [N, label_nc, H, W]`` -> ``[N, 16·ngf, H/2^k, W/2^k]``
    through ``k`` stride-2 3×3 convs (``layer1 … layerk``; leaky ReLU between them, none after the last),
    a learned downsampling like pix2pixHD's front-end — nearest-resizing to the input grid would keep
    nothing of a layout finer than a grid cell."""

    def __init__(self, label_nc: int, ngf: int, steps: int, spectral: bool) -> None:
        super().__init__()
        c_in = label_nc
        for i, c_out in enumerate(label_down_widths(ngf, steps)):
            setattr(self, f"layer{i + 1}", make_conv(c_in, c_out, 3, 2, True, spectral))
            c_in = c_out
        self.steps = steps

    def forward(self, seg: torch.Tensor) -> torch.Tensor:
        x = seg
        for i in range(self.steps):
            if i:
                x = F.leaky_relu(x, LEAK)
            x = getattr(self, f"layer{i + 1}")(x)
        return x


class SPADEResnetBlock(nn.Module):
    """``x [N, fin, h, w]``, ``seg [N, label_nc, H, W]`` -> ``[N, fout, h, w]``:
    ``shortcut(x) + conv_1(lrelu(norm_1(conv_0(lrelu(norm_0(x))))))``. With ``label_injection`` "input"
    every norm is an :class:`AffineNorm` (the block then never looks at ``seg``)."""

    def __init__(self, fin: int, fout: int, label_nc: int, norm: SpadeNorm, label_injection: str = "spade") -> None:
        super().__init__()
        self.learned_shortcut = fin != fout
        fmiddle = min(fin, fout)
        self.conv_0 = make_conv(fin, fmiddle, 3, 1, True, norm.spectral)
        self.conv_1 = make_conv(fmiddle, fout, 3, 1, True, norm.spectral)
        if self.learned_shortcut:
            self.conv_s = make_conv(fin, fout, 1, 1, False, norm.spectral)

        def make_norm(channels: int) -> nn.Module:
            if label_injection == "input":
                return AffineNorm(norm.norm, channels)
            return SPADE(norm.norm, norm.kernel, channels, label_nc)

        self.norm_0 = make_norm(fin)
        self.norm_1 = make_norm(fmiddle)
        if self.learned_shortcut:
            self.norm_s = make_norm(fin)

    def forward(self, x: torch.Tensor, seg: torch.Tensor) -> torch.Tensor:
        x_s = self.conv_s(self.norm_s(x, seg)) if self.learned_shortcut else x
        dx = self.conv_0(F.leaky_relu(self.norm_0(x, seg), LEAK))
        dx = self.conv_1(F.leaky_relu(self.norm_1(dx, seg), LEAK))
        return x_s + dx


def encoder_widths(ndf: int, size: int) -> list[int]:
    """Output channels of the encoder's stride-2 layers for a ``size × size`` input, down to 4 × 4:
    ``ndf · min(2^i, 8)`` (NVlabs at 256²: ndf, 2, 4, 8, 8, 8 × ndf)."""
    n = int(round(math.log2(size))) - 2
    return [ndf * min(2**i, 8) for i in range(n)]


class ConvEncoder(nn.Module):
    """VAE style encoder: ``image [N, 3, size, size]`` -> ``(mu, logvar)`` ``[N, z_dim]`` each.

    ``layer1 … layerK``: stride-2 3×3 convs (each followed by the norm of ``norm_E``; the conv loses its
    bias when there is a norm, as in NVlabs) with a leaky ReLU between them and after the last; then the
    4 × 4 grid, flattened channel-major, feeds ``fc_mu`` and ``fc_var``. NVlabs always has size 256 (six
    layers) and ``z_dim`` 256.
    """

    def __init__(self, ndf: int, size: int, z_dim: int, norm_E: str) -> None:
        super().__init__()
        spectral, norm = parse_plain_norm(norm_E, "norm_E")
        self.size = size
        widths = encoder_widths(ndf, size)
        c_in = 3
        for i, c_out in enumerate(widths):
            conv = make_conv(c_in, c_out, 3, 2, norm == "none", spectral)
            # NVlabs: batch norms here are affine, instance norms are not
            layer = conv if norm == "none" else nn.Sequential(conv, make_plain_norm(norm, c_out, norm == "batch"))
            setattr(self, f"layer{i + 1}", layer)
            c_in = c_out
        self.num_layers = len(widths)
        self.fc_mu = nn.Linear(c_in * 16, z_dim)
        self.fc_var = nn.Linear(c_in * 16, z_dim)

    def forward(self, image: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        x = image
        for i in range(self.num_layers):
            if i:
                x = F.leaky_relu(x, LEAK)
            x = getattr(self, f"layer{i + 1}")(x)
        x = F.leaky_relu(x, LEAK).flatten(1)
        return self.fc_mu(x), self.fc_var(x)


@torch.no_grad()
def init_nvlabs(module: nn.Module, gain: float = 0.02, power_iterations: int = 8) -> None:
    """NVlabs' ``init_weights('xavier', 0.02)``: every conv and linear weight Xavier-normal with gain 0.02,
    biases zero, affine norm weights ``N(1, 0.02)``; spectral-norm vectors ``u, v`` re-estimated (a few
    power iterations) for the new weights. Draws from torch's global generator (seed it for repeatability)."""
    for m in module.modules():
        if isinstance(m, (SNConv2d, SNLinear)):
            nn.init.xavier_normal_(m.weight_orig, gain=gain)
            mat = m.weight_orig.flatten(1)
            u = m.weight_u
            for _ in range(power_iterations):
                v = F.normalize(mat.t() @ u, dim=0, eps=m.eps)
                u = F.normalize(mat @ v, dim=0, eps=m.eps)
            m.weight_u.copy_(u)
            m.weight_v.copy_(v)
        elif isinstance(m, (nn.Conv2d, nn.Linear)):
            nn.init.xavier_normal_(m.weight, gain=gain)
        elif isinstance(m, (nn.BatchNorm2d, nn.InstanceNorm2d)) and m.weight is not None:
            nn.init.normal_(m.weight, 1.0, gain)
        bias = getattr(m, "bias", None)
        if isinstance(bias, nn.Parameter):
            nn.init.zeros_(bias)
