"""BigGAN-deep (Brock et al. 2019) as a generator family, weight-compatible with ``pytorch-pretrained-biggan``.

Architecture (docs/biggan.md): a class embedding (a bias-free linear layer on one-hot or soft class
vectors, width ``z_dim``) is concatenated to z; this *condition* ``cat(z, embed(c))`` feeds a spectrally
normalised linear layer whose output is read as a ``4 × 4 × 16·ch`` NHWC tensor, and then every block.
A block is four (conditional BN, ReLU, conv) stages — 1×1 down to ``in/4`` channels, 3×3, 3×3, 1×1 up to
the output width — with nearest upsampling between the first and second conv, plus a skip path that keeps
the first half of the channels when the block halves its width and is upsampled the same way. A
self-attention layer sits before block ``attention_layer_position``. The output is an unconditional BN,
ReLU, a 3×3 conv whose first three channels are the image, and tanh.

Every BN uses stored statistics, one row per truncation value on an even grid of ``n_stats`` values in
[0, 1]. For a truncation between two grid points the package interpolates with the two weights swapped
(``row_k · frac + row_k+1 · (1 − frac)``); we reproduce that exactly (:func:`statistics_rows`).

Under the Generator Protocol:

* ``ws`` rows are homogeneous coordinates ``ψ · [z, embed(c), 1]`` (``w_dim = 2·z_dim + 1``): the last
  entry carries the truncation ψ, so ``latent_mean()`` is zero and ``truncate(ws, ψ')`` = ``ψ' · ws``
  multiplies ψ and scales z exactly as the package's truncation does, while ``embed(c)`` is recovered
  unchanged as ``(ψ·e) / ψ``. Row 0 feeds the input layer, row ``1 + i`` block ``i`` (and the last row
  also the output BN): ``num_ws = len(layers) + 1``.
* Control points: ``b4.input`` (kind ``"input"``, style = the condition ``[z, e]``), every conditional BN
  ``b{r}.block{i}.bn{k}`` and the output BN ``b{R}.out_bn`` (kind ``"norm"``). A norm style is the
  per-channel affine ``[gain, bias]`` applied to the raw activation, ``x · gain + bias``, with the BN
  statistics at the row's truncation folded in: ``gain = (1 + γ(cond)) / sqrt(var + eps)``,
  ``bias = β(cond) − mean · gain``. Styles enter linearly, so spatial styles (maps, blends) through
  :func:`~regiongan.generators.base.style_map` mix per-region outputs exactly.
* No noise inputs, no fast tangent pass.
* Latent spaces for directions (:meth:`BigGANDeep.latent_spaces`): z and ``"class"`` (the class
  embedding); W / W+ are withdrawn (an offset to the homogeneous rows moves ψ too).
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass
from typing import Any, Sequence

import torch
import torch.nn as nn
import torch.nn.functional as F

from ..latents import CLASS_SPACE, LatentSpace
from ..hardware import resolve_precision
from .base import ControlPoint, NoiseMode, Precision, Style, SynthesisOutput, style_map
from .registry import ModelCost, bind_config, register_family, short_repr

__all__ = ["BigGANDeep", "PACKAGE_DEFAULTS", "check_biggan_config", "statistics_rows", "StatisticsRows", "PSI_DECIMALS"]

#: The package's ``BigGANConfig()`` defaults (its 128² ImageNet model); a config.json may omit any of them.
PACKAGE_DEFAULTS: dict[str, Any] = dict(
    output_dim=128, z_dim=128, class_embed_dim=128, channel_width=128, num_classes=1000,
    layers=[[False, 16, 16], [True, 16, 16], [False, 16, 16], [True, 16, 8], [False, 8, 8], [True, 8, 4],
            [False, 4, 4], [True, 4, 2], [False, 2, 2], [True, 2, 1]],
    attention_layer_position=8, eps=1e-4, n_stats=51,
)  # fmt: skip

#: Truncation values read back from ws (float32) are rounded to this many decimals before the statistics
#: rows are chosen, so ψ = 0.4 selects exactly the row the package selects for the Python float 0.4.
PSI_DECIMALS = 6
#: Soft class vectors must sum to one within this tolerance.
CLASS_SUM_TOLERANCE = 1e-4


def _is_int(v: object) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def check_biggan_config(
    output_dim: Any, z_dim: Any, class_embed_dim: Any, channel_width: Any, num_classes: Any, layers: Any,
    attention_layer_position: Any, eps: Any, n_stats: Any,
) -> list[list]:
    """Raise a one-line ValueError unless the arguments describe a BigGAN-deep the package can run.

    Returns ``layers`` normalised to ``[[upsample (bool), in (int), out (int)], …]`` (channel multipliers
    of ``channel_width``)."""
    ints = dict(output_dim=(output_dim, 4), z_dim=(z_dim, 1), class_embed_dim=(class_embed_dim, 0),
                channel_width=(channel_width, 3), num_classes=(num_classes, 0), n_stats=(n_stats, 2))  # fmt: skip
    for name, (value, least) in ints.items():
        if not _is_int(value) or value < least:
            raise ValueError(f"biggan-deep config: {name} must be an int >= {least}, got {value!r}")
    if not _is_int(attention_layer_position):
        got = attention_layer_position
        raise ValueError(f"biggan-deep config: attention_layer_position must be an int, got {got!r}")
    if isinstance(eps, bool) or not isinstance(eps, (int, float)) or not math.isfinite(eps) or eps <= 0:
        raise ValueError(f"biggan-deep config: eps must be a finite number > 0, got {eps!r}")
    if not isinstance(layers, (list, tuple)) or not layers:
        raise ValueError(f"biggan-deep config: layers must be a non-empty list of [upsample, in, out], got {layers!r}")
    out: list[list] = []
    for i, layer in enumerate(layers):
        ok = isinstance(layer, (list, tuple)) and len(layer) == 3 and isinstance(layer[0], bool)
        if not ok or not all(_is_int(v) and v >= 1 for v in layer[1:]):
            raise ValueError(
                f"biggan-deep config: layers[{i}] must be [upsample (true/false), in (int >= 1), out (int >= 1)], "
                f"got {layer!r}"
            )
        out.append([bool(layer[0]), int(layer[1]), int(layer[2])])
    ch = channel_width
    if out[0][1] != 16:
        raise ValueError(f"biggan-deep config: layers[0] must take 16 (the input layer's 16·ch), got {out[0][1]}")
    for i, (_, c_in, c_out) in enumerate(out):
        if i + 1 < len(out) and out[i + 1][1] != c_out:
            raise ValueError(f"biggan-deep config: layers[{i + 1}] takes {out[i + 1][1]} but layers[{i}] gives {c_out}")
        if ch * c_out != ch * c_in and ch * c_out != (ch * c_in) // 2:
            raise ValueError(
                f"biggan-deep config: layers[{i}] goes from {c_in} to {c_out}; a block keeps its width or halves it"
            )
        if (ch * c_in) // 4 < 1:
            raise ValueError(f"biggan-deep config: layers[{i}] has a bottleneck of {ch * c_in} // 4 = 0 channels")
    if out[-1][2] != 1:
        raise ValueError(f"biggan-deep config: the last layer must give 1 (the output's 1·ch), got {out[-1][2]}")
    expected = 4 * 2 ** sum(up for up, _, _ in out)
    if output_dim != expected:
        raise ValueError(
            f"biggan-deep config: output_dim is {output_dim} but the layers upsample 4 to {expected}"
        )
    if 0 <= attention_layer_position < len(out) and (ch * out[attention_layer_position][1]) // 8 < 1:
        raise ValueError(
            f"biggan-deep config: self-attention at layer {attention_layer_position} needs >= 8 channels, "
            f"got {ch * out[attention_layer_position][1]}"
        )
    return out


def _biggan_cost(config: dict[str, Any]) -> ModelCost:
    """State-dict elements (exact) and the largest activation per image of ``BigGANDeep(**config)``."""
    a = bind_config(BigGANDeep, config, "biggan-deep")
    layers = check_biggan_config(**a)
    ch, z, n, classes, attention = a["channel_width"], a["z_dim"], a["n_stats"], a["num_classes"], a["attention_layer_position"]
    cond = 2 * z

    def linear(i: int, o: int, bias: bool) -> int:  # weight_orig, bias, weight_u [o], weight_v [i]
        return o * i + (o if bias else 0) + o + i

    def conv(i: int, o: int, k: int, bias: bool) -> int:  # weight_v is [i·k·k]
        return o * i * k * k + (o if bias else 0) + o + i * k * k

    params = classes * z + linear(cond, 16 * 16 * ch, True)  # embeddings; gen_z -> 4 × 4 × 16·ch
    r, activations = 4, 16 * ch * 16
    for i, (up, c_in, c_out) in enumerate(layers):
        width_in, width_out = ch * c_in, ch * c_out
        if i == attention:  # theta, phi: C -> C/8; g: C -> C/2; o: C/2 -> C; gamma
            params += 2 * conv(width_in, width_in // 8, 1, False) + conv(width_in, width_in // 2, 1, False)
            params += conv(width_in // 2, width_in, 1, False) + 1
            activations = max(activations, r * r * (r * r // 4))  # the [hw, hw/4] attention matrix
        mid = width_in // 4
        for c_a, c_b, k in ((width_in, mid, 1), (mid, mid, 3), (mid, mid, 3), (mid, width_out, 1)):
            # conditional BN: statistics [n_stats, C] ×2, scale and offset [cond -> C]; then the conv
            params += 2 * n * c_a + 2 * linear(cond, c_a, False) + conv(c_a, c_b, k, True)
        r_out = 2 * r if up else r
        activations = max(activations, width_in * r * r, max(mid, width_out) * r_out * r_out)
        r = r_out
    params += 2 * n * ch + 2 * ch + conv(ch, ch, 3, True)  # output BN, conv_to_rgb
    declared = ", ".join(
        f"{name} {short_repr(a[name])}" for name in ("output_dim", "channel_width", "num_classes", "z_dim", "n_stats")
    ) + f", {len(layers)} layers"
    return ModelCost(params, activations, declared)


# ------------------------------------------------------------------------------------------------------
# Truncation -> statistics rows


@dataclass
class StatisticsRows:
    """Which stored statistics rows a batch uses and with which weights: ``stat = table[first] · w_first +
    table[second] · w_second`` (``[N]`` long indices, ``[N, 1]`` float32 weights)."""

    first: torch.Tensor
    second: torch.Tensor
    w_first: torch.Tensor
    w_second: torch.Tensor

    def pick(self, table: torch.Tensor) -> torch.Tensor:
        """``table [n_stats, C]`` -> ``[N, C]``."""
        return table[self.first] * self.w_first + table[self.second] * self.w_second


def statistics_rows(psi: torch.Tensor, n_stats: int, device: torch.device | str = "cpu") -> StatisticsRows:
    """The package's choice of statistics for truncation values ``psi [N]`` (float64, in (0, 1]).

    With step ``1 / (n_stats − 1)``, ``frac, k = modf(ψ / step)``; on a grid point (frac = 0) row ``k``,
    otherwise ``row_k · frac + row_k+1 · (1 − frac)`` — the weights swapped against linear interpolation,
    exactly as ``pytorch_pretrained_biggan.BigGANBatchNorm`` does it (so ψ just above a grid point uses
    nearly row ``k + 1``). Computed in float64 like the package's Python floats.
    """
    t = psi.to(torch.float64) / (1.0 / (n_stats - 1))
    first = torch.floor(t)
    frac = t - first
    first = first.to(torch.int64)
    on_grid = frac == 0
    second = torch.where(on_grid, first, (first + 1).clamp(max=n_stats - 1))
    w_first = torch.where(on_grid, torch.ones_like(frac), frac).to(torch.float32)
    w_second = torch.where(on_grid, torch.zeros_like(frac), 1.0 - frac).to(torch.float32)
    return StatisticsRows(
        first.to(device), second.to(device), w_first[:, None].to(device), w_second[:, None].to(device)
    )


# ------------------------------------------------------------------------------------------------------
# Layers (parameter names follow pytorch-pretrained-biggan's state dict)


_INIT_POWER_ITERATIONS = 8


class _SpectralNormed(nn.Module):
    """A weight stored as ``weight_orig`` with power-iteration vectors ``weight_u`` ``[out]`` and
    ``weight_v`` ``[in·k·k]``, used as ``weight_orig / σ`` with ``σ = u · (W v)``, as
    ``torch.nn.utils.spectral_norm`` does. In training mode one power iteration updates u and v first (as
    torch does); in eval mode the stored u and v are used as they are — the package's outputs at eval."""

    def _init_weight(self, shape: tuple[int, ...], eps: float) -> None:
        self.eps = eps
        self.weight_orig = nn.Parameter(torch.empty(shape))
        nn.init.kaiming_uniform_(self.weight_orig, a=math.sqrt(5))
        # Start u, v near the top singular vectors (a few power iterations from random vectors), so a
        # freshly built model is already scaled by its spectral norm; loading a checkpoint replaces them.
        mat = self.weight_orig.detach().flatten(1)
        u = F.normalize(torch.randn(shape[0]), dim=0, eps=eps)
        for _ in range(_INIT_POWER_ITERATIONS):
            v = F.normalize(mat.t() @ u, dim=0, eps=eps)
            u = F.normalize(mat @ v, dim=0, eps=eps)
        self.register_buffer("weight_u", u)
        self.register_buffer("weight_v", v)

    def weight(self) -> torch.Tensor:
        """The normalised weight, shaped like ``weight_orig``.

        In eval mode with frozen weights the result is a function of stored tensors only, so it is kept and
        reused until one of them changes (a load, a ``.to``, an in-place edit: the tensors' version counters
        and storage are the key). Every style and every layer call needs it; recomputing σ each time was
        the largest cost of ITAN's K style computations on BigGAN."""
        w = self.weight_orig
        frozen = not self.training and not (w.requires_grad and torch.is_grad_enabled())
        if frozen and not torch.is_inference_mode_enabled():
            u, v = self.weight_u, self.weight_v
            key = (w.data_ptr(), w._version, u.data_ptr(), u._version, v.data_ptr(), v._version, w.dtype, w.device)
            cached = self.__dict__.get("_weight_cache")
            if cached is not None and cached[0] == key:
                return cached[1]
            out = self._normalised(w).detach()
            self.__dict__["_weight_cache"] = (key, out)
            return out
        return self._normalised(w)

    def _normalised(self, w: torch.Tensor) -> torch.Tensor:
        with torch.autocast(w.device.type, enabled=False):  # float32 also under bf16 autocast
            mat = w.flatten(1)
            u, v = self.weight_u, self.weight_v
            if self.training:
                with torch.no_grad():
                    v = F.normalize(mat.t() @ u, dim=0, eps=self.eps)
                    u = F.normalize(mat @ v, dim=0, eps=self.eps)
                    self.weight_u.copy_(u)
                    self.weight_v.copy_(v)
            return w / torch.dot(u, mat @ v)


class SNLinear(_SpectralNormed):
    """Spectrally normalised linear layer: ``[N, in] -> [N, out]``."""

    def __init__(self, in_features: int, out_features: int, bias: bool, eps: float) -> None:
        super().__init__()
        self._init_weight((out_features, in_features), eps)
        bound = 1 / math.sqrt(max(in_features, 1))
        self.bias = nn.Parameter(torch.empty(out_features).uniform_(-bound, bound)) if bias else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.linear(x, self.weight(), self.bias)


class SNConv2d(_SpectralNormed):
    """Spectrally normalised convolution (stride 1, 'same' padding): ``[N, in, h, w] -> [N, out, h, w]``."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, bias: bool, eps: float) -> None:
        super().__init__()
        self._init_weight((out_channels, in_channels, kernel_size, kernel_size), eps)
        bound = 1 / math.sqrt(in_channels * kernel_size**2)
        self.bias = nn.Parameter(torch.empty(out_channels).uniform_(-bound, bound)) if bias else None
        self.padding = kernel_size // 2

    def forward(self, x: torch.Tensor, out_channels: int | None = None) -> torch.Tensor:
        """``out_channels``: compute only the first that many output channels."""
        w, b = self.weight(), self.bias
        if out_channels is not None:
            w, b = w[:out_channels], None if b is None else b[:out_channels]
        return F.conv2d(x, w, b, padding=self.padding)


class ConditionalNorm(nn.Module):
    """A block's batch norm: stored statistics per truncation, gain ``1 + γ(cond)`` and bias ``β(cond)``
    from two bias-free spectrally normalised linear maps of the condition."""

    def __init__(self, num_features: int, cond_dim: int, n_stats: int, eps: float) -> None:
        super().__init__()
        self.eps = eps
        self.register_buffer("running_means", torch.zeros(n_stats, num_features))
        self.register_buffer("running_vars", torch.ones(n_stats, num_features))
        self.scale = SNLinear(cond_dim, num_features, bias=False, eps=eps)
        self.offset = SNLinear(cond_dim, num_features, bias=False, eps=eps)

    def style(self, cond: torch.Tensor, rows: StatisticsRows) -> torch.Tensor:
        """``cond [N, 2·z_dim]`` -> ``[gain, bias]`` ``[N, 2C]`` with ``BN(x) = x · gain + bias``."""
        gain = (1 + self.scale(cond)) / torch.sqrt(rows.pick(self.running_vars) + self.eps)
        return torch.cat([gain, self.offset(cond) - rows.pick(self.running_means) * gain], dim=1)


class OutputNorm(nn.Module):
    """The unconditional batch norm before the RGB conv: fixed ``weight``/``bias``, statistics per truncation."""

    def __init__(self, num_features: int, n_stats: int, eps: float) -> None:
        super().__init__()
        self.eps = eps
        self.register_buffer("running_means", torch.zeros(n_stats, num_features))
        self.register_buffer("running_vars", torch.ones(n_stats, num_features))
        self.weight = nn.Parameter(torch.ones(num_features))
        self.bias = nn.Parameter(torch.zeros(num_features))

    def style(self, rows: StatisticsRows) -> torch.Tensor:
        """-> ``[gain, bias]`` ``[N, 2C]`` with ``BN(x) = x · gain + bias``."""
        gain = self.weight / torch.sqrt(rows.pick(self.running_vars) + self.eps)
        return torch.cat([gain, self.bias - rows.pick(self.running_means) * gain], dim=1)


class SelfAttention(nn.Module):
    """SAGAN self-attention: queries at every pixel, keys and values 2×2-max-pooled; ``x + γ · o(attn)``."""

    def __init__(self, channels: int, eps: float) -> None:
        super().__init__()
        self.snconv1x1_theta = SNConv2d(channels, channels // 8, 1, bias=False, eps=eps)
        self.snconv1x1_phi = SNConv2d(channels, channels // 8, 1, bias=False, eps=eps)
        self.snconv1x1_g = SNConv2d(channels, channels // 2, 1, bias=False, eps=eps)
        self.snconv1x1_o_conv = SNConv2d(channels // 2, channels, 1, bias=False, eps=eps)
        self.gamma = nn.Parameter(torch.zeros(1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``[N, C, h, w] -> [N, C, h, w]``."""
        n, _, h, w = x.shape
        query = self.snconv1x1_theta(x).flatten(2)  # [N, C/8, hw]
        key = F.max_pool2d(self.snconv1x1_phi(x), 2).flatten(2)  # [N, C/8, hw/4]
        value = F.max_pool2d(self.snconv1x1_g(x), 2).flatten(2)  # [N, C/2, hw/4]
        attn = torch.softmax(query.transpose(1, 2) @ key, dim=-1)  # [N, hw, hw/4]
        out = (value @ attn.transpose(1, 2)).view(n, -1, h, w)  # [N, C/2, h, w]
        return x + self.gamma * self.snconv1x1_o_conv(out)


class GenBlock(nn.Module):
    """One BigGAN-deep residual block: (BN, ReLU, conv) × 4 with a ``C_in/4`` bottleneck."""

    def __init__(self, c_in: int, c_out: int, cond_dim: int, up_sample: bool, n_stats: int, eps: float) -> None:
        super().__init__()
        mid = c_in // 4
        self.up_sample, self.c_in, self.c_out = up_sample, c_in, c_out
        widths = [(c_in, mid, 1), (mid, mid, 3), (mid, mid, 3), (mid, c_out, 1)]
        for k, (a, b, size) in enumerate(widths):
            setattr(self, f"bn_{k}", ConditionalNorm(a, cond_dim, n_stats, eps))
            setattr(self, f"conv_{k}", SNConv2d(a, b, size, bias=True, eps=eps))

    def norms(self) -> list[ConditionalNorm]:
        return [self.bn_0, self.bn_1, self.bn_2, self.bn_3]

    def forward(
        self, x: torch.Tensor, styles: Sequence[Style], points: Sequence[ControlPoint], features: dict | None
    ) -> torch.Tensor:
        """``x [N, C_in, r, r]`` and the four norm styles -> ``[N, C_out, r', r']`` (r' = 2r when upsampling)."""
        h = x
        for k, conv in enumerate([self.conv_0, self.conv_1, self.conv_2, self.conv_3]):
            h = F.relu(_apply_norm(h, styles[k], points[k]))
            if features is not None:
                features[points[k].name] = h
            if k == 1 and self.up_sample:
                h = F.interpolate(h, scale_factor=2, mode="nearest")
            h = conv(h)
        skip = x[:, : self.c_in // 2] if self.c_out != self.c_in else x
        if self.up_sample:
            skip = F.interpolate(skip, scale_factor=2, mode="nearest")
        return h + skip


def _apply_norm(x: torch.Tensor, style: Style, point: ControlPoint) -> torch.Tensor:
    """``x · gain + bias`` with ``[gain, bias]`` from a vector, a map or a blend (per pixel)."""
    gain, bias = style_map(style, point.channels, point.resolution, point.name).to(x.dtype).chunk(2, dim=1)
    return torch.addcmul(bias, x, gain)


class _Trunk(nn.Module):
    """The package's ``generator`` submodule: ``gen_z``, ``layers`` (blocks and attention), ``bn``, ``conv_to_rgb``."""

    def __init__(self, z_dim: int, ch: int, layers: list[list], attention: int, n_stats: int, eps: float) -> None:
        super().__init__()
        cond_dim = 2 * z_dim
        self.gen_z = SNLinear(cond_dim, 4 * 4 * 16 * ch, bias=True, eps=eps)
        modules: list[nn.Module] = []
        for i, (up, c_in, c_out) in enumerate(layers):
            if i == attention:
                modules.append(SelfAttention(ch * c_in, eps))
            modules.append(GenBlock(ch * c_in, ch * c_out, cond_dim, up, n_stats, eps))
        self.layers = nn.ModuleList(modules)
        self.bn = OutputNorm(ch, n_stats, eps)
        self.conv_to_rgb = SNConv2d(ch, ch, 3, bias=True, eps=eps)


# ------------------------------------------------------------------------------------------------------
# The family


def _row_table(norms: Sequence["ConditionalNorm"]) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor, list[int]]:
    """The conditional norms fed by one ws row as one table: their γ and β weights stacked ``[ΣC, cond]``,
    their statistics side by side ``[n_stats, ΣC]``, and each norm's C. Kept on the first norm while the
    model is frozen in eval and none of the stored tensors changed (as :meth:`_SpectralNormed.weight` keeps
    a weight); ``Σ_i`` of small linear maps is then one."""
    first = norms[0]
    tensors = [t for n in norms for t in (n.scale.weight_orig, n.scale.weight_u, n.scale.weight_v, n.offset.weight_orig,
                                          n.offset.weight_u, n.offset.weight_v, n.running_means, n.running_vars)]  # fmt: skip
    frozen = not first.training and not any(t.requires_grad for t in tensors) and not torch.is_inference_mode_enabled()
    key = tuple((t.data_ptr(), t._version, t.dtype, t.device) for t in tensors) if frozen else None
    cached = first.__dict__.get("_row_table")
    if key is not None and cached is not None and cached[0] == key and cached[1] == len(norms):
        return cached[2]
    table = (
        torch.cat([n.scale.weight() for n in norms]), torch.cat([n.offset.weight() for n in norms]),
        torch.cat([n.running_means for n in norms], dim=1), torch.cat([n.running_vars for n in norms], dim=1),
        [n.running_means.shape[1] for n in norms],
    )  # fmt: skip
    if key is not None:
        first.__dict__["_row_table"] = (key, len(norms), table)
    return table


@register_family("biggan-deep")
class BigGANDeep(nn.Module):
    """BigGAN-deep generator implementing :class:`regiongan.generators.base.Generator`.

    Constructor arguments are the package's ``config.json`` fields (``class_embed_dim`` is kept but, as in
    the package, the class embedding has ``z_dim`` outputs). ``num_classes = 0`` makes an unconditional
    model (the embedding is empty and ``c`` must be None). Parameter names are those of the package's
    state dict (``embeddings.weight``, ``generator.gen_z.weight_orig``, ``generator.layers.3.bn_1.scale.weight_u`` …).
    """

    def __init__(
        self,
        output_dim: int = PACKAGE_DEFAULTS["output_dim"],
        z_dim: int = PACKAGE_DEFAULTS["z_dim"],
        class_embed_dim: int = PACKAGE_DEFAULTS["class_embed_dim"],
        channel_width: int = PACKAGE_DEFAULTS["channel_width"],
        num_classes: int = PACKAGE_DEFAULTS["num_classes"],
        layers: Sequence[Sequence] = tuple(PACKAGE_DEFAULTS["layers"]),
        attention_layer_position: int = PACKAGE_DEFAULTS["attention_layer_position"],
        eps: float = PACKAGE_DEFAULTS["eps"],
        n_stats: int = PACKAGE_DEFAULTS["n_stats"],
    ) -> None:
        super().__init__()
        layers = check_biggan_config(
            output_dim, z_dim, class_embed_dim, channel_width, num_classes, layers, attention_layer_position, eps,
            n_stats,
        )
        self.config: dict[str, Any] = dict(
            output_dim=output_dim, z_dim=z_dim, class_embed_dim=class_embed_dim, channel_width=channel_width,
            num_classes=num_classes, layers=layers, attention_layer_position=attention_layer_position,
            eps=float(eps), n_stats=n_stats,
        )  # fmt: skip
        self.z_dim, self.c_dim, self.w_dim = z_dim, num_classes, 2 * z_dim + 1
        self.num_ws = len(layers) + 1
        self.img_resolution, self.img_channels = output_dim, 3
        self.n_stats = n_stats
        with warnings.catch_warnings():  # num_classes = 0: torch warns that initialising [z_dim, 0] is a no-op
            warnings.simplefilter("ignore", UserWarning)
            self.embeddings = nn.Linear(num_classes, z_dim, bias=False)
        self.generator = _Trunk(z_dim, channel_width, layers, attention_layer_position, n_stats, float(eps))
        self._points = self._build_control_points(layers, channel_width)

    @staticmethod
    def config_cost(config: dict[str, Any]) -> ModelCost:
        """State-dict elements (exact) and the largest activation per image of ``BigGANDeep(**config)``,
        from the config alone after :func:`check_biggan_config`; nothing is built."""
        return _biggan_cost(config)

    def _build_control_points(self, layers: list[list], ch: int) -> list[ControlPoint]:
        cond = 2 * self.z_dim
        points = [ControlPoint("b4.input", "input", 4, 4, cond, 16 * ch, 0)]
        r = 4
        for i, (up, c_in, c_out) in enumerate(layers):
            mid = (ch * c_in) // 4
            r_out = 2 * r if up else r
            for k, (res, width) in enumerate([(r, ch * c_in), (r, mid), (r_out, mid), (r_out, mid)]):
                points.append(ControlPoint(f"b{res}.block{i}.bn{k}", "norm", res, res, 2 * width, width, i + 1))
            r = r_out
        points.append(ControlPoint(f"b{r}.out_bn", "norm", r, r, 2 * ch, ch, len(layers)))
        return points

    # ---------------------------------------------------------------- latents
    @property
    def device(self) -> torch.device:
        """Where the weights live."""
        return self.embeddings.weight.device

    def class_input(self, c: int | torch.Tensor | None, n: int) -> torch.Tensor:
        """Validate a class condition -> ``[n, num_classes]`` float on the model's device.

        ``c``: a class index (int, or an integer tensor ``[n]``), or one-hot / soft class vectors
        ``[n|1, num_classes]`` (non-negative, each summing to one within 1e-4); None for ``num_classes = 0``.
        """
        k = self.c_dim
        if k == 0:
            if c is not None:
                raise ValueError("this BigGAN is unconditional (num_classes = 0): leave the class (c) out")
            return torch.zeros(n, 0, device=self.device)
        if c is None:
            raise ValueError(
                f"this BigGAN is class-conditional: give a class index in 0..{k - 1} or class vectors [N, {k}]"
            )
        if _is_int(c) or (isinstance(c, torch.Tensor) and not c.is_floating_point() and c.ndim <= 1):
            idx = torch.as_tensor(c).reshape(-1).to(torch.int64)
            if idx.numel() not in (1, n) or bool(((idx < 0) | (idx >= k)).any()):
                raise ValueError(f"class index out of range: got {idx.tolist()[:4]}, this model has classes 0..{k - 1}")
            return F.one_hot(idx, k).float().expand(n, -1).to(self.device)
        if not isinstance(c, torch.Tensor) or c.ndim != 2 or c.shape[1] != k or c.shape[0] not in (1, n):
            shape = tuple(c.shape) if isinstance(c, torch.Tensor) else type(c).__name__
            raise ValueError(f"class vectors must be [{n} or 1, {k}] (one-hot or soft), got {shape}")
        c = c.to(device=self.device, dtype=torch.float32)
        if not bool(torch.isfinite(c).all()) or bool((c < 0).any()):
            raise ValueError("class vectors must be finite and non-negative (one-hot or soft class weights)")
        worst = float((c.sum(dim=1) - 1).abs().max())
        if worst > CLASS_SUM_TOLERANCE:
            tol = CLASS_SUM_TOLERANCE
            raise ValueError(f"each class vector must sum to 1 (within {tol}); one is off by {worst:.3g}")
        return c.expand(n, -1)

    def map(
        self,
        z: torch.Tensor,
        c: int | torch.Tensor | None = None,
        truncation_psi: float = 1.0,
        truncation_cutoff: int | None = None,
    ) -> torch.Tensor:
        """``z [N, z_dim]`` (+ class ``c``) -> ``ws [N, num_ws, 2·z_dim + 1]``, each row ``ψ · [z, embed(c), 1]``.

        z is unscaled (a seed's standard normal, or the package's ``truncated_noise_sample(truncation=1)``):
        the package's z is ``ψ · z``. ``truncation_psi`` ψ in (0, 1] also selects the BN statistics.
        ``truncation_cutoff``: truncate only rows ``< cutoff`` (the others keep ψ = 1).
        """
        if not isinstance(z, torch.Tensor) or z.ndim != 2 or z.shape[1] != self.z_dim:
            shape = tuple(z.shape) if isinstance(z, torch.Tensor) else type(z).__name__
            raise ValueError(f"z must be [N, {self.z_dim}], got {shape}")
        psi = _check_psi(truncation_psi)
        cutoff = truncation_cutoff
        if cutoff is not None and (not _is_int(cutoff) or not 0 <= cutoff <= self.num_ws):
            raise ValueError(f"truncation_cutoff must be an int in [0, {self.num_ws}], got {truncation_cutoff!r}")
        z = z.to(device=self.device, dtype=torch.float32)
        embed = self.embeddings(self.class_input(c, z.shape[0]))
        row = torch.cat([z, embed, torch.ones_like(z[:, :1])], dim=1)
        scale = torch.full([self.num_ws], psi, device=z.device)
        if truncation_cutoff is not None:
            scale[truncation_cutoff:] = 1.0
        return row[:, None, :] * scale[None, :, None]

    def package_ws(self, z: torch.Tensor, class_vector: torch.Tensor | None, truncation: float) -> torch.Tensor:
        """ws for the package's ``forward(z, class_vector, truncation)``, whose ``z [N, z_dim]`` is already
        scaled by the truncation: every row is ``[z, ψ · embed(c), ψ]``."""
        psi = _check_psi(truncation, "truncation")
        if not isinstance(z, torch.Tensor) or z.ndim != 2 or z.shape[1] != self.z_dim:
            raise ValueError(f"z must be [N, {self.z_dim}], got {tuple(getattr(z, 'shape', ()))}")
        z = z.to(device=self.device, dtype=torch.float32)
        embed = self.embeddings(self.class_input(class_vector, z.shape[0]))
        row = torch.cat([z, embed * psi, torch.full_like(z[:, :1], psi)], dim=1)
        return row[:, None, :].repeat(1, self.num_ws, 1)

    def latent_mean(self) -> torch.Tensor:
        """``w̄ = 0 [w_dim]``: truncation scales the homogeneous rows, ``ψ' · ψ [z, e, 1]``."""
        return torch.zeros(self.w_dim, device=self.device)

    def truncate(self, ws: torch.Tensor, psi: float | torch.Tensor) -> torch.Tensor:
        """``w̄ + ψ (ws − w̄)`` = ``ψ · ws``: z scaled and the truncation multiplied by ψ, the class kept."""
        w_bar = self.latent_mean().to(ws.dtype)
        return w_bar + (ws - w_bar) * psi

    def decode_ws(self, ws: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``ws [N, num_ws, w_dim]`` -> ``(cond [N, num_ws, 2·z_dim], psi [N, num_ws] float64 on the CPU)``:
        the condition ``[ψz, e]`` each row feeds and its truncation, rounded to :data:`PSI_DECIMALS`."""
        if not isinstance(ws, torch.Tensor) or ws.ndim != 3 or ws.shape[1:] != (self.num_ws, self.w_dim):
            shape = tuple(ws.shape) if isinstance(ws, torch.Tensor) else type(ws).__name__
            raise ValueError(f"ws must be [N, {self.num_ws}, {self.w_dim}], got {shape}")
        zd = self.z_dim
        s = ws[..., 2 * zd]
        scale = 10.0**PSI_DECIMALS
        psi = torch.round(s.detach().to("cpu", torch.float64) * scale) / scale
        bad = ~((psi > 0) & (psi <= 1))
        if bool(bad.any()):
            n, r = (int(v) for v in bad.nonzero()[0])
            raise ValueError(
                f"ws[{n}, {r}] has truncation {float(s[n, r]):.6g}: BigGAN's statistics exist for truncation in "
                "(0, 1] only (ws rows are ψ·[z, embed(c), 1]; truncate with 0 < ψ <= 1)"
            )
        cond = torch.cat([ws[..., :zd], ws[..., zd : 2 * zd] / s[..., None]], dim=-1)
        return cond, psi

    def latent_spaces(self) -> dict[str, LatentSpace | str]:
        """The latent spaces directions can live in beyond z (:func:`regiongan.generators.base.latent_spaces`).

        ``"class"``: the class embedding ``e = E·c`` (``d = z_dim``), the image as a function of ``e`` with z
        fixed; an offset ``δ`` moves every row ``ψ_r·[z, e, 1]`` by ``ψ_r·[0, δ, 0]``, exactly as ``map``
        would embed ``e + δ``. Unavailable (with the reason) on an unconditional model. ``"w"`` / ``"w+"``
        are withdrawn: a row's last entry is its truncation, so a W offset moves ψ (the BN statistics,
        which are not differentiable) together with z and the embedding."""
        reason = (
            "BigGAN's ws rows are homogeneous coordinates ψ·[z, embed(c), 1] whose last entry is the truncation, "
            "so an offset to them mixes z, the class embedding and ψ"
        )
        spaces: dict[str, LatentSpace | str] = {"w": reason, "w+": reason}
        if self.c_dim == 0:
            spaces[CLASS_SPACE] = "this BigGAN is unconditional (num_classes = 0): it has no class embedding to move"
        else:
            zd = self.z_dim

            def read(ws: torch.Tensor) -> torch.Tensor:
                return ws[:, 0, zd : 2 * zd] / ws[:, 0, 2 * zd :]

            def move(ws: torch.Tensor, delta: torch.Tensor) -> torch.Tensor:
                return ws[..., 2 * zd :] * F.pad(delta, (zd, 1))[:, None, :]

            spaces[CLASS_SPACE] = LatentSpace(zd, read, move, "the class embedding e = E·c")
        return spaces

    def styles(self, ws: torch.Tensor) -> list[torch.Tensor]:
        """``ws [N, num_ws, w_dim]`` -> per control point: the condition ``[N, 2·z_dim]`` (input) or
        ``[gain, bias]`` ``[N, 2C]`` (norms, statistics of the row's truncation folded in)."""
        cond, psi = self.decode_ws(ws)
        rows = [statistics_rows(psi[:, r], self.n_stats, ws.device) for r in range(self.num_ws)]
        norms = [m for block in self._blocks() for m in block.norms()]
        by_row: dict[int, list[int]] = {}
        for i, p in enumerate(self._points[1:-1]):
            by_row.setdefault(p.w_index, []).append(i)
        per_norm: list[torch.Tensor] = [cond[:, 0]] * len(norms)
        for r, idx in by_row.items():  # one pair of linear maps per ws row: its norms' weights side by side
            scale_w, offset_w, means, variances, sizes = _row_table([norms[i] for i in idx])
            c = cond[:, r]
            gain = (1 + F.linear(c, scale_w)) / torch.sqrt(rows[r].pick(variances) + norms[idx[0]].eps)
            bias = F.linear(c, offset_w) - rows[r].pick(means) * gain
            for i, g, b in zip(idx, gain.split(sizes, dim=1), bias.split(sizes, dim=1)):
                per_norm[i] = torch.cat([g, b], dim=1)
        out: list[torch.Tensor] = [cond[:, 0], *per_norm]
        last = self._points[-1].w_index
        out.append(self.generator.bn.style(rows[last]))
        return out

    def control_points(self) -> list[ControlPoint]:
        """The input layer, every conditional BN (block order, bn0…bn3) and the output BN."""
        return list(self._points)

    def make_noise(
        self, batch: int, mode: NoiseMode = "random", generator: torch.Generator | None = None
    ) -> list[torch.Tensor | None]:
        """BigGAN has no noise inputs: always ``[]``."""
        if mode not in ("const", "random", "none"):
            raise ValueError(f"noise_mode must be 'const', 'random' or 'none', got {mode!r}")
        return []

    # ---------------------------------------------------------------- synthesis
    def _blocks(self) -> list[GenBlock]:
        return [m for m in self.generator.layers if isinstance(m, GenBlock)]

    def _input(self, style: Style, point: ControlPoint) -> torch.Tensor:
        """The first linear layer, its output read as NHWC ``[N, 4, 4, 16ch]`` -> ``[N, 16ch, 4, 4]``.
        A spatial condition is applied per pixel of the 4×4 grid (the layer is linear, so a blend of
        conditions is the blend of the per-region outputs)."""
        lin = self.generator.gen_z
        w = lin.weight()  # [4·4·16ch, 2·z_dim]
        if isinstance(style, torch.Tensor) and style.ndim == 2:
            if style.shape[1] != point.channels:
                raise ValueError(f"{point.name}: a style must be [N, {point.channels}], got {tuple(style.shape)}")
            return F.linear(style, w, lin.bias).view(-1, 4, 4, point.out_channels).permute(0, 3, 1, 2)
        cond = style_map(style, point.channels, 4, point.name)  # [N, 2·z_dim, 4, 4]
        w4 = w.view(4, 4, point.out_channels, point.channels)
        bias = lin.bias.view(4, 4, point.out_channels).permute(2, 0, 1)
        return torch.einsum("hwcd,ndhw->nchw", w4, cond.to(w.dtype)) + bias

    def synthesize(
        self,
        styles: Sequence[Style],
        noise_mode: NoiseMode = "const",
        generator: torch.Generator | None = None,
        return_features: bool = False,
        noise: Sequence[torch.Tensor | None] | None = None,
        precision: Precision = "fp32",
    ) -> SynthesisOutput:
        """Styles, one per control point -> image ``[N, 3, R, R]`` (float32, tanh range).

        ``noise_mode``/``generator``/``noise`` exist for the Protocol: BigGAN has no noise (``noise`` must be
        None or empty). ``precision="bf16"`` runs under bfloat16 autocast; ``"auto"`` does so only on
        native-bf16 hardware (:func:`~regiongan.hardware.resolve_precision`). ``return_features``: the
        activation after each control point (input: the 4×4 tensor; norms: after BN and ReLU).
        """
        points = self._points
        if len(styles) != len(points):
            raise ValueError(f"expected {len(points)} styles (one per control point), got {len(styles)}")
        if noise_mode not in ("const", "random", "none"):
            raise ValueError(f"noise_mode must be 'const', 'random' or 'none', got {noise_mode!r}")
        if noise is not None and len(noise) != 0:
            raise ValueError(f"BigGAN has no noise inputs: pass noise=None or [], got {len(noise)} maps")
        precision = resolve_precision(precision, self.device)
        features: dict[str, torch.Tensor] | None = {} if return_features else None
        device_type = self.device.type
        with torch.autocast(device_type, dtype=torch.bfloat16, enabled=precision == "bf16"):
            x = self._input(styles[0], points[0])
            if features is not None:
                features[points[0].name] = x
            i = 1
            for layer in self.generator.layers:
                if isinstance(layer, GenBlock):
                    x = layer(x, styles[i : i + 4], points[i : i + 4], features)
                    i += 4
                else:
                    x = layer(x)
            x = F.relu(_apply_norm(x, styles[i], points[i]))
            if features is not None:
                features[points[i].name] = x
            img = torch.tanh(self.generator.conv_to_rgb(x, out_channels=3))
        return SynthesisOutput(image=img.float().contiguous(), features=features or {})

    def forward(self, z: torch.Tensor, class_vector: torch.Tensor | None, truncation: float) -> torch.Tensor:
        """The package's call: ``z [N, z_dim]`` already scaled by the truncation, class vectors
        ``[N, num_classes]`` -> image ``[N, 3, R, R]``."""
        return self.synthesize(self.styles(self.package_ws(z, class_vector, truncation))).image


def _check_psi(psi: Any, what: str = "truncation_psi") -> float:
    """ψ as a float in (0, 1], or a one-line ValueError."""
    try:
        value = float(psi)
    except (TypeError, ValueError):
        raise ValueError(f"{what} must be a number in (0, 1], got {psi!r}") from None
    if isinstance(psi, bool) or not math.isfinite(value) or not 0 < value <= 1:
        raise ValueError(f"{what} must be in (0, 1] for BigGAN (its BN statistics exist only there), got {psi!r}")
    return value
