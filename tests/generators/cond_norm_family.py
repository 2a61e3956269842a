"""A test-only second generator family, built differently from StyleGAN2, to prove the Protocol is enough.

It resembles BigGAN rather than StyleGAN: one condition vector ``cat(z, embed(c))`` goes to every block
(``ws`` repeats it, ``w_dim = z_dim + embed_dim``); its control points are *conditional normalisations*
(kind ``"norm"``): each block normalises its activations with stored statistics and applies a
condition-dependent gain and bias, ``x̂ · (1 + γ) + β``, with the style ``[γ, β]`` a linear function of its
row of ws. No modulated convolution, no demodulation, no noise, no fast tangent pass, and truncation scales
the condition towards zero. Spatial styles (maps or blends) enter through ``generators.base.style_map``.

Registered as ``"test-cond-norm"`` when this module is imported (tests only).
"""

from __future__ import annotations

from typing import Sequence

import torch
import torch.nn as nn
import torch.nn.functional as F

from regiongan.generators.base import ControlPoint, Style, SynthesisOutput, style_map
from regiongan.generators.registry import ModelCost, bind_config, register_family


@register_family("test-cond-norm")
class CondNormGenerator(nn.Module):
    """Tiny conditional-normalisation generator: 4² constant -> (upsample, conv, cond-norm, ReLU) per block."""

    def __init__(
        self, z_dim: int = 8, c_dim: int = 0, embed_dim: int = 4, img_resolution: int = 16, channels: int = 8
    ) -> None:
        super().__init__()
        self.config = dict(z_dim=z_dim, c_dim=c_dim, embed_dim=embed_dim, img_resolution=img_resolution, channels=channels)
        self.z_dim, self.c_dim, self.img_resolution, self.img_channels = z_dim, c_dim, img_resolution, 3
        self.w_dim = z_dim + (embed_dim if c_dim else 0)
        self.resolutions = [4 * 2**i for i in range(img_resolution.bit_length() - 2)]  # 4, 8, …, R
        self.num_ws = len(self.resolutions)
        self.embed = nn.Linear(c_dim, embed_dim, bias=False) if c_dim else None
        self.const = nn.Parameter(torch.randn(channels, 4, 4))
        self.convs = nn.ModuleList(nn.Conv2d(channels, channels, 3, padding=1) for _ in self.resolutions)
        self.gains = nn.ModuleList(nn.Linear(self.w_dim, channels) for _ in self.resolutions)
        self.biases = nn.ModuleList(nn.Linear(self.w_dim, channels) for _ in self.resolutions)
        self.register_buffer("running_mean", torch.zeros(len(self.resolutions), channels))
        self.register_buffer("running_var", torch.ones(len(self.resolutions), channels))
        self.to_rgb = nn.Conv2d(channels, 3, 1)
        self._points = [
            ControlPoint(name=f"b{r}.norm", kind="norm", resolution=r, in_resolution=r, channels=2 * channels,
                         out_channels=channels, w_index=i)
            for i, r in enumerate(self.resolutions)
        ]  # fmt: skip

    @staticmethod
    def config_cost(config: dict) -> ModelCost:
        """State-dict elements and the largest activation, from the config alone."""
        cfg = bind_config(CondNormGenerator, config, "test-cond-norm")
        z, c, e, r, ch = (int(cfg[k]) for k in ("z_dim", "c_dim", "embed_dim", "img_resolution", "channels"))
        n, w = r.bit_length() - 2, z + (e if c else 0)
        params = c * e + ch * 16 + n * (ch * ch * 9 + ch) + 2 * n * (w * ch + ch) + 2 * n * ch + 3 * ch + 3
        return ModelCost(params, ch * r * r, f"img_resolution {r}, channels {ch}")

    @property
    def device(self) -> torch.device:
        return self.const.device

    def map(self, z, c=None, truncation_psi=1.0, truncation_cutoff=None) -> torch.Tensor:
        if z.ndim != 2 or z.shape[1] != self.z_dim:
            raise ValueError(f"z must be [N, {self.z_dim}], got {tuple(z.shape)}")
        cond = z if self.embed is None else torch.cat([z, self.embed(c)], dim=1)
        ws = cond[:, None].repeat(1, self.num_ws, 1)
        return self.truncate(ws, truncation_psi) if truncation_psi != 1 else ws

    def latent_mean(self) -> torch.Tensor:
        return torch.zeros(self.w_dim, device=self.device)

    def truncate(self, ws, psi):
        return self.latent_mean() + (ws - self.latent_mean()) * psi

    def styles(self, ws: torch.Tensor) -> list[torch.Tensor]:
        return [torch.cat([g(ws[:, i]), b(ws[:, i])], dim=1) for i, (g, b) in enumerate(zip(self.gains, self.biases))]

    def control_points(self) -> list[ControlPoint]:
        return list(self._points)

    def make_noise(self, batch, mode="random", generator=None) -> list:
        return []  # no conv control points, so no noise inputs

    def synthesize(
        self, styles: Sequence[Style], noise_mode="const", generator=None, return_features=False, noise=None,
        precision="fp32",
    ) -> SynthesisOutput:  # fmt: skip
        if len(styles) != len(self._points):
            raise ValueError(f"expected {len(self._points)} styles, got {len(styles)}")
        first = styles[0]
        n = first.styles.shape[0] if hasattr(first, "masks") else first.shape[0]
        x = self.const[None].expand(n, -1, -1, -1)
        features = {}
        for i, (p, conv) in enumerate(zip(self._points, self.convs)):
            if i > 0:
                x = F.interpolate(x, scale_factor=2, mode="nearest")
            x = conv(x)
            x = (x - self.running_mean[i][:, None, None]) / (self.running_var[i][:, None, None] + 1e-5).sqrt()
            s = style_map(styles[i], p.channels, p.resolution, p.name)
            gain, bias = s.chunk(2, dim=1)
            x = F.relu(x * (1 + gain) + bias)
            if return_features:
                features[p.name] = x
        return SynthesisOutput(image=torch.tanh(self.to_rgb(x)), features=features)


def tiny_cond_norm(seed: int = 0, **overrides) -> CondNormGenerator:
    """A randomly initialised instance (16², 8 channels), eval mode, no gradients."""
    torch.manual_seed(seed)
    return CondNormGenerator(**overrides).eval().requires_grad_(False)
