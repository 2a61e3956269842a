"""SSN, Spatially Stochastic Networks (NeurIPS 2020; docs/ssn.md): a StyleGAN2 skeleton driven by a
spatial latent grid, whose blocks can be resampled one at a time.

    z [N, z_c, n, n] ─ per-block MLP (1×1 convs) [─ gated towards the MLP of the pooled z]
                     ─ spatial encoder (residual 3×3 convs) ─► w [N, w_c, n, n]
    w ─ per control point a per-block affine (1×1 conv) ─► style grid [N, C, n, n]
      ─ nearest upsampling to the layer input ─► S ─ y = conv(W, x ⊙ S) / σ_E(W, S)   (ssn_layers.py)

Protocol view (docs/generator.md): ``z_dim = z_c·n²`` and ``w_dim = w_c·n²`` are the *flattened* grids
(channel-major, ``z.reshape(N, z_c, n, n)``); ``ws [N, num_ws, w_dim]`` has one row per style input as in
StyleGAN2; the style of a control point is the flattened style grid ``[N, C·n²]`` (so ``ControlPoint.channels``
is ``C·n²``) and ``synthesize`` also takes constant ``[N, C]`` styles, per-pixel maps and
:class:`~regiongan.generators.base.BlendedStyle` (:func:`~regiongan.generators.ssn_layers.resolve_style`).
Block resampling works on the grid: :mod:`regiongan.ops.blocks` and :meth:`SSNGenerator.z_grid`.
"""

from __future__ import annotations

from typing import Any, Sequence

import torch
import torch.nn as nn

from ..equalized import Conv2dLayer, FullyConnectedLayer
from ..hardware import resolve_precision
from ..ops.blocks import block_masks, check_grid
from ..ops.filters import make_filter, upsample2d
from .base import BlendedStyle, ControlPoint, NoiseMode, Precision, Style, SynthesisOutput
from .registry import ModelCost, bind_config, config_int, register_family, short_repr
from .ssn_layers import SpatialSynthesisLayer, SpatialToRGBLayer, block_affine, resolve_style
from .stylegan2 import SynthesisLayers, check_synthesis_fields, normalize_2nd_moment

__all__ = ["SSNGenerator", "SSNMapping", "SSNSynthesis", "check_ssn_config"]

_FAMILY = "ssn"


class SSNMapping(nn.Module):
    """``z [N, z_c, n, n]`` -> ``ws [N, num_ws, w_c·n²]``: StyleGAN2's mapping MLP applied to every block
    (``fc{i}``, the 1×1 convolutions of the paper, same parameters as StyleGAN2's), then ``encoder_layers``
    residual 3×3 convolutions over the grid (the spatial encoder: the only place blocks exchange
    information before synthesis). Each encoder layer adds ``encoder_gain[i] · conv(w)``; the gains start
    at 0, so a fresh encoder is the identity (a StyleGAN2 transfer is exact until training moves them).

    ``encoder_global``: a global code as well. The blocks' normalised z are pooled,
    ``z̄ = normalise(Σ_blocks normalise(z_b))`` (for independent blocks a StyleGAN2 z again), mapped by the
    same MLP to ``w̄``, and every block's w becomes ``w_b + g ⊙ (w̄ − w_b)`` with a learnt per-channel gate
    ``g = encoder_global_gate [w_c]``, initialised to 1: a fresh (or transferred) network is then the
    StyleGAN2 of the pooled z, coherent and varied, and training moves each channel towards its local code
    (g → 0) as far as the low-distortion regulariser and D settle on. Through the pool every block
    moves every block's w — the path for attributes of the whole image (a background, a skin tone) that
    a 3×3 neighbourhood cannot make coherent across the grid; g says how much of each channel is global.
    A spatially constant z gives ``w̄ = w_b`` whatever g, so the StyleGAN2 transfer stays exact.
    ``gate_lr_multiplier`` scales the gate's learning rate (stored as ``g / multiplier``, StyleGAN2's
    equalised-learning-rate device), so that the gate can cross [0, 1] in a few hundred Adam steps."""

    def __init__(
        self,
        z_channels: int,
        w_channels: int,
        block_grid: int,
        num_ws: int,
        num_layers: int = 8,
        layer_features: int | None = None,
        lr_multiplier: float = 0.01,
        w_avg_beta: float = 0.995,
        encoder_layers: int = 1,
        resample_filter: Sequence[float] = (1, 3, 3, 1),
        encoder_global: bool = False,
        gate_lr_multiplier: float = 1.0,
    ) -> None:
        super().__init__()
        self.z_channels, self.w_channels, self.block_grid, self.num_ws = z_channels, w_channels, block_grid, num_ws
        self.num_layers, self.encoder_layers, self.w_avg_beta = num_layers, encoder_layers, w_avg_beta
        self.encoder_global = bool(encoder_global)
        f = layer_features if layer_features is not None else w_channels
        features = [z_channels] + [f] * (num_layers - 1) + [w_channels]
        for idx in range(num_layers):
            layer = FullyConnectedLayer(features[idx], features[idx + 1], activation="lrelu", lr_multiplier=lr_multiplier)
            setattr(self, f"fc{idx}", layer)
        for idx in range(encoder_layers):
            conv = Conv2dLayer(w_channels, w_channels, 3, activation="lrelu", resample_filter=resample_filter)
            setattr(self, f"encoder{idx}", conv)
        if encoder_layers:
            self.encoder_gain = nn.Parameter(torch.zeros([encoder_layers]))
        if self.encoder_global:
            self.gate_lr_multiplier = float(gate_lr_multiplier)
            self.encoder_global_gate = nn.Parameter(torch.full([w_channels], 1.0 / self.gate_lr_multiplier))
        self.register_buffer("w_avg", torch.zeros([w_channels, block_grid, block_grid]))

    def global_gate(self) -> torch.Tensor:
        """The gate ``g [w_c]`` towards the pooled code (``encoder_global`` only)."""
        return self.encoder_global_gate * self.gate_lr_multiplier

    def forward(
        self, z: torch.Tensor, truncation_psi: float = 1.0, truncation_cutoff: int | None = None
    ) -> torch.Tensor:
        """``z [N, z_c, n, n]`` -> ``ws [N, num_ws, w_c·n²]``; truncation lerps the first
        ``truncation_cutoff`` rows to ``w_avg`` (all rows when None)."""
        n_, c, h, w = z.shape
        x = normalize_2nd_moment(z.to(torch.float32).permute(0, 2, 3, 1).reshape(-1, c))  # per block, as StyleGAN2
        if self.encoder_global:  # the pooled z rides along as one more row: [N·n² + N, z_c]
            x = torch.cat([x, normalize_2nd_moment(x.reshape(n_, h * w, c).sum(dim=1))])
        for idx in range(self.num_layers):
            x = getattr(self, f"fc{idx}")(x)
        grid = x[: n_ * h * w].reshape(n_, h, w, -1).permute(0, 3, 1, 2)
        if self.encoder_global:
            pooled = x[n_ * h * w :, :, None, None]  # [N, w_c, 1, 1]
            grid = grid + self.global_gate()[:, None, None] * (pooled - grid)
        for idx in range(self.encoder_layers):
            grid = grid + self.encoder_gain[idx] * getattr(self, f"encoder{idx}")(grid)
        ws = grid.reshape(n_, 1, -1).repeat(1, self.num_ws, 1)
        if truncation_psi != 1:
            cutoff = self.num_ws if truncation_cutoff is None else truncation_cutoff
            ws = torch.cat([self.w_avg.reshape(-1).lerp(ws[:, :cutoff], truncation_psi), ws[:, cutoff:]], dim=1)
        return ws


class SSNBlock(nn.Module):
    """One resolution: (const | upsampling conv0) + conv1 + ToRGB (skip architecture); StyleGAN2's names."""

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        w_channels: int,
        resolution: int,
        img_channels: int,
        resample_filter: Sequence[float] = (1, 3, 3, 1),
        conv_clamp: float | None = None,
    ) -> None:
        super().__init__()
        self.in_channels, self.out_channels, self.resolution = in_channels, out_channels, resolution
        self.register_buffer("resample_filter", make_filter(resample_filter))
        if in_channels == 0:
            self.const = nn.Parameter(torch.randn([out_channels, resolution, resolution]))
        else:
            self.conv0 = SpatialSynthesisLayer(
                in_channels, out_channels, w_channels, resolution, up=2, resample_filter=resample_filter,
                conv_clamp=conv_clamp,
            )  # fmt: skip
        self.conv1 = SpatialSynthesisLayer(
            out_channels, out_channels, w_channels, resolution, resample_filter=resample_filter, conv_clamp=conv_clamp
        )
        self.torgb = SpatialToRGBLayer(out_channels, img_channels, w_channels, resolution, conv_clamp=conv_clamp)

    def layer_names(self) -> list[str]:
        """Names of this block's control points, in style order."""
        return (["conv1"] if self.in_channels == 0 else ["conv0", "conv1"]) + ["torgb"]


class SSNSynthesis(nn.Module):
    """Blocks ``b4 … b{img_resolution}`` (widths as StyleGAN2: ``min(channel_base // res, channel_max)``,
    then ``channels``)."""

    def __init__(
        self,
        w_channels: int,
        img_resolution: int,
        img_channels: int,
        widths: dict[int, int],
        resample_filter: Sequence[float] = (1, 3, 3, 1),
        conv_clamp: float | None = None,
    ) -> None:
        super().__init__()
        self.block_resolutions = sorted(widths)
        self.num_ws = 0
        for res in self.block_resolutions:
            in_ch = widths[res // 2] if res > 4 else 0
            block = SSNBlock(in_ch, widths[res], w_channels, res, img_channels, resample_filter, conv_clamp)
            setattr(self, f"b{res}", block)
            self.num_ws += (0 if in_ch == 0 else 1) + 1 + (1 if res == img_resolution else 0)

    def blocks(self) -> list[tuple[int, SSNBlock]]:
        return [(res, getattr(self, f"b{res}")) for res in self.block_resolutions]


# --------------------------------------------------------------------------------------------------
# Config: validation and cost (nothing allocated).


def check_ssn_config(config: dict[str, Any]) -> dict[str, Any]:
    """Every field of an :class:`SSNGenerator` config checked (one-line ValueError), allocating nothing ->
    the full config with defaults filled in and ``channels`` keys as ints.

    ``img_resolution`` and ``block_grid`` are powers of two with ``1 <= block_grid <= img_resolution``.
    """
    a = bind_config(SSNGenerator, config, _FAMILY)
    for name, least in (("z_channels", 1), ("w_channels", 1), ("img_channels", 1), ("mapping_layers", 1),
                        ("encoder_layers", 0), ("channel_base", 1), ("channel_max", 1)):  # fmt: skip
        config_int(a[name], name, _FAMILY, least)
    config_int(a["mapping_layer_features"], "mapping_layer_features", _FAMILY, 1, optional=True)
    if not isinstance(a["encoder_global"], bool):
        raise ValueError(f"{_FAMILY} config: encoder_global must be true or false, got {short_repr(a['encoder_global'])}")
    m = a["gate_lr_multiplier"]
    if isinstance(m, bool) or not isinstance(m, (int, float)) or not m > 0 or m == float("inf"):
        raise ValueError(f"{_FAMILY} config: gate_lr_multiplier must be a positive number, got {short_repr(m)}")
    r = a["img_resolution"]
    if isinstance(r, bool) or not isinstance(r, int) or r < 4 or r & (r - 1) or r.bit_length() > 65:
        raise ValueError(f"{_FAMILY} config: img_resolution must be a power of two in 4 … 2^64, got {short_repr(r)}")
    g = a["block_grid"]
    if isinstance(g, bool) or not isinstance(g, int) or g < 1 or g & (g - 1) or g > r:
        raise ValueError(
            f"{_FAMILY} config: block_grid must be a power of two in 1 … img_resolution ({r}), got {short_repr(g)}"
        )
    check_synthesis_fields(a, _FAMILY)
    return a




def _widths(a: dict[str, Any]) -> dict[int, int]:
    r = a["img_resolution"]
    widths = {4 << i: min(a["channel_base"] // (4 << i), a["channel_max"]) for i in range(r.bit_length() - 2)}
    widths.update(a["channels"] or {})
    empty = [res for res, width in widths.items() if width < 1]
    if empty:
        raise ValueError(
            f"{_FAMILY} config: channel_base {a['channel_base']} gives 0 channels at resolution {empty[0]}; "
            "raise channel_base or give channels for every resolution"
        )
    return widths


def _ssn_cost(config: dict[str, Any]) -> ModelCost:
    a = check_ssn_config(config)
    zc, wc, n, r, rgb = a["z_channels"], a["w_channels"], a["block_grid"], a["img_resolution"], a["img_channels"]
    taps = len(a["resample_filter"]) ** 2
    f, layers, enc = a["mapping_layer_features"] or wc, a["mapping_layers"], a["encoder_layers"]
    features = [zc] + [f] * (layers - 1) + [wc]
    mapping = sum(i * o + o for i, o in zip(features[:-1], features[1:])) + wc * n * n
    mapping += enc * (taps + wc * wc * 9 + wc) + (enc if enc else 0)  # encoder convs (+ filter buffer), gains
    if a["encoder_global"]:
        mapping += wc  # the per-channel gate towards the pooled code
    widths = _widths(a)

    def layer(c_in: int, c_out: int, res: int) -> int:
        # resample_filter, affine (w_c -> c_in, bias), weight 3x3, noise_const, noise_strength, bias
        return taps + wc * c_in + c_in + c_out * c_in * 9 + res * res + 1 + c_out

    synthesis, activations = 0, rgb * r * r
    for res, width in widths.items():
        c_in = widths[res // 2] if res > 4 else 0
        synthesis += taps + (width * 16 if res == 4 else layer(c_in, width, res)) + layer(width, width, res)
        synthesis += wc * width + width + rgb * width + rgb  # torgb
        activations = max(activations, width * (res + 3) ** 2)  # the ×2 transposed convolution pads by 3
    declared = (
        f"img_resolution {r}, block_grid {n}, mapping_layers {short_repr(layers)}, z_channels {short_repr(zc)}, "
        f"w_channels {short_repr(wc)}, channel_max {short_repr(a['channel_max'])}"
        + (f", channels up to {short_repr(max(a['channels'].values()))}" if a["channels"] else "")
    )
    return ModelCost(mapping + synthesis, activations, declared)


# --------------------------------------------------------------------------------------------------


@register_family("ssn")
class SSNGenerator(SynthesisLayers, nn.Module):
    """Spatially Stochastic Network generator implementing :class:`regiongan.generators.base.Generator`.

    Constructor arguments are the config. Parameter names follow StyleGAN2's (``mapping.fc0.weight``,
    ``synthesis.b8.conv0.affine.weight`` …) plus ``mapping.encoder{i}.*`` and ``mapping.encoder_gain`` (and,
    with ``encoder_global``, ``mapping.encoder_global_gate``);
    ``mapping.w_avg`` is a grid ``[w_c, n, n]``.
    """

    c_dim = 0

    def __init__(
        self,
        z_channels: int = 512,
        w_channels: int = 512,
        block_grid: int = 4,
        img_resolution: int = 256,
        img_channels: int = 3,
        mapping_layers: int = 8,
        mapping_lr_multiplier: float = 0.01,
        mapping_layer_features: int | None = None,
        encoder_layers: int = 1,
        encoder_global: bool = False,
        gate_lr_multiplier: float = 1.0,
        channel_base: int = 32768,
        channel_max: int = 512,
        channels: dict[int, int] | None = None,
        resample_filter: Sequence[float] = (1, 3, 3, 1),
        conv_clamp: float | None = None,
        w_avg_beta: float = 0.995,
    ) -> None:
        super().__init__()
        args = check_ssn_config(dict(
            z_channels=z_channels, w_channels=w_channels, block_grid=block_grid, img_resolution=img_resolution,
            img_channels=img_channels, mapping_layers=mapping_layers, mapping_lr_multiplier=mapping_lr_multiplier,
            mapping_layer_features=mapping_layer_features, encoder_layers=encoder_layers,
            encoder_global=encoder_global, gate_lr_multiplier=gate_lr_multiplier, channel_base=channel_base,
            channel_max=channel_max, channels=channels,
            resample_filter=resample_filter, conv_clamp=conv_clamp, w_avg_beta=w_avg_beta,
        ))  # fmt: skip
        widths = _widths(args)
        self.config: dict[str, Any] = dict(args)
        self.config["channels"] = dict(args["channels"]) if args["channels"] else None
        self.config["resample_filter"] = list(resample_filter)
        self.z_channels, self.w_channels, self.block_grid = z_channels, w_channels, block_grid
        n2 = block_grid * block_grid
        self.z_dim, self.w_dim = z_channels * n2, w_channels * n2
        self.img_resolution, self.img_channels = img_resolution, img_channels
        self.synthesis = SSNSynthesis(w_channels, img_resolution, img_channels, widths, resample_filter, conv_clamp)
        self.num_ws = self.synthesis.num_ws
        self.mapping = SSNMapping(
            z_channels, w_channels, block_grid, self.num_ws, num_layers=mapping_layers,
            layer_features=mapping_layer_features, lr_multiplier=mapping_lr_multiplier, w_avg_beta=w_avg_beta,
            encoder_layers=encoder_layers, resample_filter=resample_filter, encoder_global=encoder_global,
            gate_lr_multiplier=gate_lr_multiplier,
        )  # fmt: skip
        self._points = self._build_control_points()

    @staticmethod
    def config_cost(config: dict[str, Any]) -> ModelCost:
        """State-dict elements (exact) and the largest activation per image, from the config alone."""
        return _ssn_cost(config)

    # ---------------------------------------------------------------- the latent grid
    def z_grid(self, z: torch.Tensor) -> torch.Tensor:
        """``z`` as a latent grid ``[N, z_c, n, n]``: from the flat ``[N, z_dim]`` (channel-major) or checked
        as a grid; anything else is a one-line ValueError."""
        n = self.block_grid
        if isinstance(z, torch.Tensor) and z.ndim == 2 and z.shape[1] == self.z_dim:
            return z.reshape(z.shape[0], self.z_channels, n, n)
        if isinstance(z, torch.Tensor) and z.ndim == 4:
            return check_grid(z, n, self.z_channels)
        got = tuple(z.shape) if isinstance(z, torch.Tensor) else type(z).__name__
        raise ValueError(f"z must be [N, {self.z_dim}] (flat) or a latent grid [N, {self.z_channels}, {n}, {n}], got {got}")

    def flat_z(self, z_grid: torch.Tensor) -> torch.Tensor:
        """A latent grid ``[N, z_c, n, n]`` -> the Protocol's flat ``z [N, z_dim]``."""
        return check_grid(z_grid, self.block_grid, self.z_channels).reshape(z_grid.shape[0], -1)

    def block_masks(self) -> torch.Tensor:
        """The image block of every latent block, ``[n², R, R]`` (:func:`regiongan.ops.blocks.block_masks`)."""
        r = self.img_resolution
        return block_masks(self.block_grid, r, r).to(self.device)

    # ---------------------------------------------------------------- interface
    def map(
        self,
        z: torch.Tensor,
        c: torch.Tensor | None = None,
        truncation_psi: float = 1.0,
        truncation_cutoff: int | None = None,
    ) -> torch.Tensor:
        """``z [N, z_dim]`` or ``[N, z_c, n, n]`` -> ``ws [N, num_ws, w_dim]`` (unconditional: c must be None)."""
        if c is not None and c.numel() > 0:
            raise ValueError("this SSN model is unconditional; pass c=None")
        if truncation_cutoff is not None and not 0 <= truncation_cutoff <= self.num_ws:
            raise ValueError(f"truncation_cutoff must be in [0, {self.num_ws}], got {truncation_cutoff}")
        return self.mapping(self.z_grid(z).to(self.device), truncation_psi, truncation_cutoff)

    @property
    def device(self) -> torch.device:
        """Where the weights live."""
        return self.mapping.w_avg.device

    def latent_mean(self) -> torch.Tensor:
        """``w̄ [w_dim]``: the running mean of the w grid tracked during training, flattened."""
        return self.mapping.w_avg.reshape(-1)

    def truncate(self, ws: torch.Tensor, psi: float | torch.Tensor) -> torch.Tensor:
        """``w̄ + ψ (w − w̄)`` for ``ws [N, num_ws, w_dim]``."""
        w_bar = self.latent_mean()
        return w_bar + (ws - w_bar) * psi

    @torch.no_grad()
    def update_w_avg(self, ws: torch.Tensor) -> None:
        """Training: move ``w_avg`` towards the batch mean of ``ws [N, num_ws|1, w_dim]``."""
        mean = ws[:, 0].mean(dim=0).reshape(self.mapping.w_avg.shape)
        self.mapping.w_avg.copy_(mean.lerp(self.mapping.w_avg, self.mapping.w_avg_beta))

    def control_points(self) -> list[ControlPoint]:
        """Every modulated layer, in the order of :meth:`styles`; ``channels`` is the flattened style ``C·n²``."""
        return list(self._points)

    def styles(self, ws: torch.Tensor) -> list[torch.Tensor]:
        """``ws [N, num_ws, w_dim]`` -> per control point the per-block affine output, flattened ``[N, C·n²]``."""
        if ws.ndim != 3 or ws.shape[1:] != (self.num_ws, self.w_dim):
            raise ValueError(f"ws must be [N, {self.num_ws}, {self.w_dim}], got {tuple(ws.shape)}")
        n = self.block_grid
        out = []
        for p in self._points:
            grid = ws[:, p.w_index].reshape(-1, self.w_channels, n, n)
            out.append(block_affine(self._layer(p.name).affine, grid).reshape(ws.shape[0], -1))
        return out

    def make_noise(
        self, batch: int, mode: NoiseMode = "random", generator: torch.Generator | None = None
    ) -> list[torch.Tensor | None]:
        """One unscaled noise map ``[N, 1, R, R]`` per conv control point (None for mode ``"none"``)."""
        if mode not in ("const", "random", "none"):
            raise ValueError(f"noise_mode must be 'const', 'random' or 'none', got {mode!r}")
        out: list[torch.Tensor | None] = []
        for p in self._points:
            if p.kind != "conv":
                continue
            if mode == "none":
                out.append(None)
            elif mode == "const":
                out.append(self._layer(p.name).noise_const[None, None].expand(batch, 1, -1, -1))
            else:
                r = p.resolution
                out.append(torch.randn([batch, 1, r, r], generator=generator, device=self.device))
        return out

    def synthesize(
        self,
        styles: Sequence[Style],
        noise_mode: NoiseMode = "const",
        generator: torch.Generator | None = None,
        return_features: bool = False,
        noise: Sequence[torch.Tensor | None] | None = None,
        precision: Precision = "fp32",
    ) -> SynthesisOutput:
        """Styles, one per control point (any form :func:`~regiongan.generators.ssn_layers.resolve_style`
        takes) -> image ``[N, img_channels, R, R]`` (float32). noise: per conv control point an unscaled
        map ``[N|1, 1, R, R]`` or None (then ``noise_mode``); precision ``"bf16"`` runs the convolutions in
        bfloat16 (σ_E stays float32); ``"auto"``: bf16 only on native-bf16 hardware
        (:func:`~regiongan.hardware.resolve_precision`)."""
        if len(styles) != len(self._points):
            raise ValueError(f"expected {len(self._points)} styles (one per control point), got {len(styles)}")
        precision = resolve_precision(precision, self.device)
        batch = styles[0].styles.shape[0] if isinstance(styles[0], BlendedStyle) else styles[0].shape[0]
        num_conv = sum(p.kind == "conv" for p in self._points)
        if noise is not None and len(noise) != num_conv:
            raise ValueError(f"expected {num_conv} noise maps (one per conv layer), got {len(noise)}")
        default = self.make_noise(batch, noise_mode, generator) if noise_mode != "none" else [None] * num_conv
        noise_list = [default[i] if noise is None or noise[i] is None else noise[i] for i in range(num_conv)]
        dtype = torch.bfloat16 if precision == "bf16" else torch.float32
        maps = [
            resolve_style(s, self._layer(p.name).in_channels, self.block_grid, p.in_resolution, p.name)
            for s, p in zip(styles, self._points)
        ]  # fmt: skip
        features: dict[str, torch.Tensor] = {}
        x: torch.Tensor | None = None
        img: torch.Tensor | None = None
        si = ni = 0
        with torch.autocast("cpu", enabled=False):
            for res, block in self.synthesis.blocks():
                if block.in_channels == 0:
                    x = block.const.to(dtype).unsqueeze(0).expand(batch, -1, -1, -1)
                else:
                    assert x is not None
                    x = block.conv0(x, maps[si], noise_list[ni])
                    self._record(features, return_features, f"b{res}.conv0", x)
                    si, ni = si + 1, ni + 1
                x = block.conv1(x, maps[si], noise_list[ni])
                self._record(features, return_features, f"b{res}.conv1", x)
                si, ni = si + 1, ni + 1
                if img is not None:
                    img = upsample2d(img, block.resample_filter)
                rgb = block.torgb(x, maps[si])
                img = rgb if img is None else img + rgb
                si += 1
        assert img is not None
        return SynthesisOutput(image=img.float().contiguous(), features=features)

    def forward(
        self,
        z: torch.Tensor,
        truncation_psi: float = 1.0,
        truncation_cutoff: int | None = None,
        noise_mode: NoiseMode = "const",
        generator: torch.Generator | None = None,
    ) -> torch.Tensor:
        """Convenience: ``z [N, z_dim]`` or ``[N, z_c, n, n]`` -> image ``[N, img_channels, R, R]``."""
        ws = self.map(z, None, truncation_psi, truncation_cutoff)
        return self.synthesize(self.styles(ws), noise_mode=noise_mode, generator=generator).image

    # ---------------------------------------------------------------- helpers

    def _build_control_points(self) -> list[ControlPoint]:
        """StyleGAN2's skip layout: ``b4.conv1, b4.torgb, b8.conv0, b8.conv1, b8.torgb, …``; a ToRGB shares
        its ws row with the next block's conv0."""
        points, w_idx, n2 = [], 0, self.block_grid**2
        for res, block in self.synthesis.blocks():
            names = block.layer_names()
            for i, lname in enumerate(names):
                layer = getattr(block, lname)
                points.append(
                    ControlPoint(
                        name=f"b{res}.{lname}", kind="torgb" if lname == "torgb" else "conv", resolution=res,
                        in_resolution=res // 2 if lname == "conv0" else res, channels=layer.in_channels * n2,
                        out_channels=layer.out_channels, w_index=w_idx + i,
                    )  # fmt: skip
                )
            w_idx += len(names) - 1
        return points
