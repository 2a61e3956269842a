"""SPADE (Park et al., CVPR 2019): semantic image synthesis from label maps, weight-compatible with NVlabs/SPADE.

Architecture (docs/spade.md): the input grid ``sh × sw`` (``sw = crop_size / 2^k``, ``sh = round(sw /
aspect_ratio)``, ``k`` = 5, 6 or 7 for ``num_upsampling_layers`` normal / more / most) holds ``16·ngf``
channels, made either by ``fc`` = a 3×3 conv of the label map nearest-resized to the grid (no VAE) or by
``fc`` = a linear map of a style code ``z`` (``use_vae``). Then SPADE residual blocks ``head_0``,
``G_middle_0``, ``G_middle_1``, ``up_0 … up_3`` (``up_4`` for 'most') with nearest ×2 upsampling between
them (:mod:`.spade_blocks`), every norm modulated by the full-resolution label map, and ``conv_img``
(leaky ReLU, 3×3 conv, tanh). With ``use_vae`` the VAE encoder (:class:`~.spade_blocks.ConvEncoder`) is
held as ``self.encoder``, so one ``config.json`` + ``model.safetensors`` stores both. Parameter names are
NVlabs' (``latest_net_G.pth`` loads as it is, ``latest_net_E.pth`` under ``encoder.``).

SPADE is not a latent-space generator and does not implement the :class:`~.base.Generator` Protocol. Its
API: :meth:`SPADEModel.synthesize_labels` (labels -> image), :meth:`~SPADEModel.encode` /
:meth:`~SPADEModel.reparameterize` (image -> style code), :meth:`~SPADEModel.input_features` and
:meth:`~SPADEModel.synthesize_from_input` (the one latent control point: the ``z``-dependent input tensor,
which per-region styles blend spatially), :func:`to_one_hot` and :func:`instance_edges`.

``label_injection="input"`` builds the same-capacity baseline of the paper's comparison (docs/spade.md
"Comparison"): every SPADE norm becomes the same parameter-free norm with a learned per-channel affine, and the
label map enters only at the input, brought down to the grid by strided convs
(:class:`~.spade_blocks.LabelDownsampler`) and, with ``use_vae``, concatenated with ``fc(z)``.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import torch
import torch.nn as nn
import torch.nn.functional as F

from .registry import ModelCost, bind_config, config_int, config_number, register_family
from .spade_blocks import (
    LABEL_INJECTIONS, SPADE_HIDDEN, ConvEncoder, LabelDownsampler, SPADEResnetBlock, SpadeNorm, encoder_widths,
    init_nvlabs, label_down_widths, parse_plain_norm, parse_spade_norm,
)  # fmt: skip

__all__ = [
    "SPADEModel", "SpadeGeometry", "check_spade_config", "to_one_hot", "instance_edges", "kl_divergence",
    "UPSAMPLING_LAYERS", "MASK_SUM_TOLERANCE",
]  # fmt: skip

FAMILY = "spade"
#: ``num_upsampling_layers`` -> how many ×2 upsamplings lie between the input grid and the image.
UPSAMPLING_LAYERS = {"normal": 5, "more": 6, "most": 7}
#: Per-region style masks must sum to one at every pixel within this tolerance.
MASK_SUM_TOLERANCE = 1e-3


class SpadeGeometry(NamedTuple):
    """What a config's sizes come to: the input grid ``sh × sw``, the image ``height × width``, and the
    blocks in order as ``(name, in channels, out channels, upsample before it)``."""

    num_up: int
    sh: int
    sw: int
    height: int
    width: int
    blocks: list[tuple[str, int, int, bool]]


def _block_plan(ngf: int, mode: str, head_in: int | None = None) -> list[tuple[str, int, int, bool]]:
    nf = 16 * ngf
    plan = [("head_0", head_in or nf, nf, False), ("G_middle_0", nf, nf, True), ("G_middle_1", nf, nf, mode != "normal")]
    for i in range(4):
        plan.append((f"up_{i}", nf >> i, nf >> (i + 1), True))
    if mode == "most":
        plan.append(("up_4", ngf, ngf // 2, True))
    return plan


def check_spade_config(
    label_nc: Any, ngf: Any, num_upsampling_layers: Any, crop_size: Any, aspect_ratio: Any, use_vae: Any, z_dim: Any,
    norm_G: Any, norm_E: Any, encoder_ndf: Any, encoder_size: Any, with_encoder: Any, instance_edge: Any,
    label_injection: Any = "spade",
) -> SpadeGeometry:
    """Raise a one-line ValueError unless the arguments describe a SPADE generator NVlabs' code could run
    (plus our encoder generalisation and the label-at-the-input baseline); returns the sizes they come to."""
    f = FAMILY
    if label_injection not in LABEL_INJECTIONS:
        raise ValueError(f"{f} config: label_injection must be 'spade' or 'input', got {label_injection!r}")
    config_int(label_nc, "label_nc", f, 1)
    config_int(ngf, "ngf", f, 1)
    config_int(crop_size, "crop_size", f, 1)
    config_int(z_dim, "z_dim", f, 1)
    config_int(encoder_ndf, "encoder_ndf", f, 1)
    config_int(encoder_size, "encoder_size", f, 8)
    ratio = config_number(aspect_ratio, "aspect_ratio (width / height)", f, low=0, low_open=True)
    for name, value in (("use_vae", use_vae), ("instance_edge", instance_edge)):
        if not isinstance(value, bool):
            raise ValueError(f"{f} config: {name} must be true or false, got {value!r}")
    if with_encoder is not None and not isinstance(with_encoder, bool):
        raise ValueError(f"{f} config: with_encoder must be true, false or null (= use_vae), got {with_encoder!r}")
    if with_encoder and not use_vae:
        raise ValueError(f"{f} config: with_encoder needs use_vae (the encoder's style code feeds the VAE input)")
    if instance_edge and label_nc < 2:
        raise ValueError(f"{f} config: label_nc counts the instance-edge channel too, so it must be >= 2, got {label_nc}")
    if num_upsampling_layers not in UPSAMPLING_LAYERS:
        raise ValueError(f"{f} config: num_upsampling_layers must be 'normal', 'more' or 'most', got {num_upsampling_layers!r}")
    if num_upsampling_layers == "most" and ngf < 2:
        raise ValueError(f"{f} config: 'most' halves ngf in its last block, so ngf must be >= 2, got {ngf}")
    parse_spade_norm(norm_G, f"{f} config: norm_G")
    parse_plain_norm(norm_E, f"{f} config: norm_E")
    if encoder_size & (encoder_size - 1):
        raise ValueError(f"{f} config: encoder_size must be a power of two >= 8 (halved down to 4), got {encoder_size}")
    k = UPSAMPLING_LAYERS[num_upsampling_layers]
    if crop_size % 2**k:
        raise ValueError(
            f"{f} config: crop_size (the image width) must be a multiple of 2^{k} = {2**k} for "
            f"num_upsampling_layers {num_upsampling_layers!r}, got {crop_size}"
        )
    sw = crop_size // 2**k
    sh = round(sw / ratio)  # NVlabs' Python round()
    if sh < 1 or sh > 2**20:
        raise ValueError(f"{f} config: aspect_ratio {ratio:g} makes the input grid {sw} wide and {sh} high; need >= 1")
    if sh * sw == 1 and parse_spade_norm(norm_G).norm == "instance":
        raise ValueError(
            f"{f} config: instance norm needs more than one pixel, but the input grid is 1×1; use a batch norm "
            f"or crop_size >= {2 ** (k + 1)}"
        )
    head_in = 32 * ngf if label_injection == "input" and use_vae else 16 * ngf  # fc(z) ‖ label features
    return SpadeGeometry(k, sh, sw, sh * 2**k, sw * 2**k, _block_plan(ngf, num_upsampling_layers, head_in))


def _spade_cost(config: dict[str, Any]) -> ModelCost:
    """State-dict elements (exact) and the largest activation per image of ``SPADEModel(**config)``."""
    a = bind_config(SPADEModel, config, FAMILY)
    geo = check_spade_config(**a)
    norm = parse_spade_norm(a["norm_G"])
    label_nc, ngf, ks = a["label_nc"], a["ngf"], norm.kernel

    def conv(i: int, o: int, k: int, bias: bool, spectral: bool) -> int:  # + weight_u [o], weight_v [i·k·k]
        return o * i * k * k + (o if bias else 0) + ((o + i * k * k) if spectral else 0)

    baseline = a["label_injection"] == "input"

    def spade(c: int) -> int:
        stats = 2 * c + 1 if norm.norm != "instance" else 0  # running mean, var, num_batches_tracked
        if baseline:  # AffineNorm: weight and bias per channel
            return stats + 2 * c
        return stats + conv(label_nc, SPADE_HIDDEN, ks, True, False) + 2 * conv(SPADE_HIDDEN, c, ks, True, False)

    top = 16 * ngf
    cells = geo.sh * geo.sw
    params = a["z_dim"] * top * cells + top * cells if a["use_vae"] else 0
    activations = top * cells
    if baseline:
        c_in, h, w = label_nc, geo.height, geo.width
        for c_out in label_down_widths(ngf, geo.num_up):
            params += conv(c_in, c_out, 3, True, norm.spectral)
            h, w = h // 2, w // 2
            activations = max(activations, c_out * h * w)
            c_in = c_out
    elif not a["use_vae"]:
        params += conv(label_nc, top, 3, True, False)
    h, w = geo.sh, geo.sw
    for _, fin, fout, up in geo.blocks:
        h, w = (2 * h, 2 * w) if up else (h, w)
        mid = min(fin, fout)
        params += conv(fin, mid, 3, True, norm.spectral) + conv(mid, fout, 3, True, norm.spectral)
        params += spade(fin) + spade(mid)
        if fin != fout:
            params += conv(fin, fout, 1, False, norm.spectral) + spade(fin)
        activations = max(activations, max(fin, SPADE_HIDDEN) * h * w)
    params += conv(geo.blocks[-1][2], 3, 3, True, False)
    with_encoder = a["use_vae"] if a["with_encoder"] is None else a["with_encoder"]
    if with_encoder:
        spectral, kind = parse_plain_norm(a["norm_E"])
        size = a["encoder_size"]
        c_in = 3
        activations = max(activations, 3 * size * size)
        for c_out in encoder_widths(a["encoder_ndf"], size):
            params += conv(c_in, c_out, 3, kind == "none", spectral) + (4 * c_out + 1 if kind == "batch" else 0)
            size //= 2
            activations = max(activations, c_out * size * size)
            c_in = c_out
        params += 2 * (16 * c_in * a["z_dim"] + a["z_dim"])
    declared = (
        f"crop_size {a['crop_size']}, aspect_ratio {a['aspect_ratio']}, ngf {ngf}, label_nc {label_nc}, "
        f"{a['num_upsampling_layers']} upsampling{', VAE' if a['use_vae'] else ''}"
    )
    return ModelCost(params, activations, declared)


# ------------------------------------------------------------------------------------------------------
# Inputs: label maps, instance edges, style masks (one-line ValueErrors)


def _shape(x: Any) -> str:
    return str(tuple(x.shape)) if isinstance(x, torch.Tensor) else type(x).__name__


def _batch(x: Any) -> int:
    """The leading size of a tensor (1 for anything else: the validator that follows names the problem)."""
    return x.shape[0] if isinstance(x, torch.Tensor) and x.ndim else 1


def _is_integer_tensor(x: torch.Tensor) -> bool:
    return not x.is_floating_point() and not x.is_complex() and x.dtype != torch.bool


def to_one_hot(labels: torch.Tensor, label_nc: int) -> torch.Tensor:
    """Integer class ids ``labels [N, H, W]`` (values ``0 .. label_nc − 1``) -> one-hot ``[N, label_nc, H, W]``
    float32 on the same device. Non-integer dtypes, other shapes and values out of range are refused."""
    if not isinstance(labels, torch.Tensor):
        raise ValueError(f"labels must be a tensor of class ids [N, H, W], got {type(labels).__name__}")
    if not _is_integer_tensor(labels):
        raise ValueError(
            f"labels must be integer class ids (torch.long) [N, H, W], got {labels.dtype}; "
            f"soft or one-hot maps are float [N, {label_nc}, H, W]"
        )
    if labels.ndim == 4 and 3 in (labels.shape[1], labels.shape[-1]):
        raise ValueError(
            f"labels {tuple(labels.shape)} look like an RGB colour map: convert the colours to class ids with the "
            "dataset's palette first (integer [N, H, W])"
        )
    if labels.ndim != 3:
        hint = " (add a batch dimension: labels[None])" if labels.ndim == 2 else ""
        raise ValueError(f"labels must be class ids [N, H, W], got {tuple(labels.shape)}{hint}")
    if labels.numel():
        low, high = int(labels.min()), int(labels.max())
        if low < 0:
            raise ValueError(f"labels must be class ids >= 0, got {low}")
        if high >= label_nc:
            raise ValueError(
                f"label value {high} is out of range: this model has {label_nc} classes (ids 0..{label_nc - 1})"
            )
    out = torch.zeros(labels.shape[0], label_nc, *labels.shape[1:], device=labels.device)
    return out.scatter_(1, labels[:, None].long(), 1.0)


def instance_edges(instances: torch.Tensor) -> torch.Tensor:
    """Instance ids ``[N, H, W]`` (integer) -> the edge map ``[N, 1, H, W]`` float32: 1 at a pixel whose
    left/right/upper/lower neighbour has another id (both pixels of a differing pair), as NVlabs' ``get_edges``."""
    if not isinstance(instances, torch.Tensor) or not _is_integer_tensor(instances) or instances.ndim != 3:
        got = f"{instances.dtype} {tuple(instances.shape)}" if isinstance(instances, torch.Tensor) else type(instances).__name__
        raise ValueError(f"instances must be integer instance ids [N, H, W], got {got}")
    t = instances[:, None]
    edge = torch.zeros_like(t, dtype=torch.bool)
    dx = t[..., :, 1:] != t[..., :, :-1]
    dy = t[..., 1:, :] != t[..., :-1, :]
    edge[..., :, 1:] |= dx
    edge[..., :, :-1] |= dx
    edge[..., 1:, :] |= dy
    edge[..., :-1, :] |= dy
    return edge.float()


def kl_divergence(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """The VAE's KL term against N(0, I), summed over batch and dimensions as NVlabs' ``KLDLoss``:
    ``−½ Σ (1 + logvar − mu² − exp(logvar))`` (a scalar; the paper weights it by 0.05)."""
    return -0.5 * torch.sum(1 + logvar - mu.pow(2) - logvar.exp())


# ------------------------------------------------------------------------------------------------------
# The family


@register_family(FAMILY)
class SPADEModel(nn.Module):
    """SPADE generator (and, with ``use_vae``, its style encoder as ``encoder``), NVlabs' parameter names.

    Constructor arguments are the config (NVlabs option names where they exist):

    * ``label_nc`` — channels of the semantic input = NVlabs' ``semantic_nc`` (its ``label_nc`` + 1 for
      ``contain_dontcare_label`` + 1 for the instance-edge map unless ``no_instance``);
    * ``instance_edge`` — the last of those channels is the instance-edge map (not a class), so integer
      label maps have ``label_nc − 1`` classes;
    * ``ngf``, ``num_upsampling_layers`` ('normal' | 'more' | 'most'), ``crop_size`` (the image width),
      ``aspect_ratio`` (width / height), ``norm_G``, ``use_vae``, ``z_dim`` (used only with ``use_vae``);
    * ``with_encoder`` (None = ``use_vae``), ``norm_E``, ``encoder_ndf`` (NVlabs uses ``ngf``),
      ``encoder_size`` (images are resized to ``encoder_size²`` and halved to 4 × 4; NVlabs: 256).
    * ``label_injection`` — ``"spade"`` (the label map modulates every norm) or ``"input"`` (the baseline:
      affine norms, the label map only at the input through ``label_down``; not an NVlabs model).

    A new model is initialised as NVlabs does (Xavier-normal, gain 0.02), from torch's global generator.
    """

    def __init__(
        self,
        label_nc: int = 184,
        ngf: int = 64,
        num_upsampling_layers: str = "normal",
        crop_size: int = 256,
        aspect_ratio: float = 1.0,
        use_vae: bool = False,
        z_dim: int = 256,
        norm_G: str = "spectralspadesyncbatch3x3",
        norm_E: str = "spectralinstance",
        encoder_ndf: int = 64,
        encoder_size: int = 256,
        with_encoder: bool | None = None,
        instance_edge: bool = False,
        label_injection: str = "spade",
    ) -> None:
        super().__init__()
        geo = check_spade_config(
            label_nc, ngf, num_upsampling_layers, crop_size, aspect_ratio, use_vae, z_dim, norm_G, norm_E, encoder_ndf,
            encoder_size, with_encoder, instance_edge, label_injection,
        )
        with_encoder = use_vae if with_encoder is None else with_encoder
        self.config: dict[str, Any] = dict(
            label_nc=label_nc, ngf=ngf, num_upsampling_layers=num_upsampling_layers, crop_size=crop_size,
            aspect_ratio=float(aspect_ratio), use_vae=use_vae, z_dim=z_dim, norm_G=norm_G, norm_E=norm_E,
            encoder_ndf=encoder_ndf, encoder_size=encoder_size, with_encoder=with_encoder, instance_edge=instance_edge,
            label_injection=label_injection,
        )  # fmt: skip
        self.geometry = geo
        self.label_nc = label_nc
        self.num_classes = label_nc - int(instance_edge)
        self.instance_edge = instance_edge
        self.use_vae = use_vae
        self.z_dim = z_dim if use_vae else 0
        self.img_resolution, self.img_width, self.img_channels = geo.height, geo.width, 3
        self.input_channels = 16 * ngf
        norm: SpadeNorm = parse_spade_norm(norm_G)
        self.label_injection = label_injection
        self.label_down = LabelDownsampler(label_nc, ngf, geo.num_up, norm.spectral) if label_injection == "input" else None
        if use_vae:
            self.fc: nn.Module | None = nn.Linear(z_dim, self.input_channels * geo.sh * geo.sw)
        elif self.label_down is None:
            self.fc = nn.Conv2d(label_nc, self.input_channels, 3, padding=1)
        else:
            self.fc = None  # the baseline without VAE: the input is label_down(seg) alone
        for name, fin, fout, _ in geo.blocks:
            setattr(self, name, SPADEResnetBlock(fin, fout, label_nc, norm, label_injection))
        self.conv_img = nn.Conv2d(geo.blocks[-1][2], 3, 3, padding=1)
        self.encoder = ConvEncoder(encoder_ndf, encoder_size, z_dim, norm_E) if with_encoder else None
        init_nvlabs(self)

    @staticmethod
    def config_cost(config: dict[str, Any]) -> ModelCost:
        """State-dict elements (exact) and the largest activation per image of ``SPADEModel(**config)``,
        from the config alone after :func:`check_spade_config`; nothing is built."""
        return _spade_cost(config)

    @property
    def device(self) -> torch.device:
        """Where the weights live."""
        return self.conv_img.weight.device

    # ---------------------------------------------------------------- inputs
    def _check_size(self, x: torch.Tensor, what: str) -> None:
        size = tuple(x.shape[-2:])
        want = (self.img_resolution, self.img_width)
        if size != want:
            raise ValueError(
                f"{what} is {size[0]}×{size[1]} (H×W) but this model makes {want[0]}×{want[1]} images "
                f"(crop_size {self.config['crop_size']}, aspect_ratio {self.config['aspect_ratio']:g}); resize it "
                "(nearest for label maps)"
            )

    def label_input(self, labels: torch.Tensor, instances: torch.Tensor | None = None) -> torch.Tensor:
        """Labels -> the semantic input ``[N, label_nc, H, W]`` float32 on the model's device.

        ``labels``: integer class ids ``[N, H, W]`` (``0 .. num_classes − 1``) or a one-hot / soft map
        ``[N, label_nc, H, W]`` (float; with ``instance_edge`` its last channel is the edge map).
        ``instances``: integer instance ids ``[N, H, W]`` whose edges fill the edge channel of integer
        labels (zeros when absent); only for models with ``instance_edge``.
        """
        if not isinstance(labels, torch.Tensor):
            raise ValueError(f"labels must be a tensor ([N, H, W] class ids or [N, {self.label_nc}, H, W]), got {type(labels).__name__}")
        if instances is not None and not self.instance_edge:
            raise ValueError("this model has no instance-edge channel (instance_edge false): leave instances out")
        if labels.is_floating_point():
            if labels.ndim != 4 or labels.shape[1] != self.label_nc:
                hint = " (integer class ids need an integer dtype such as torch.long)" if labels.ndim == 3 else ""
                raise ValueError(
                    f"float labels must be one-hot or soft maps [N, {self.label_nc}, H, W], got {tuple(labels.shape)}{hint}"
                )
            if instances is not None:
                raise ValueError("instances go with integer labels; a one-hot map carries its edge channel itself")
            self._check_size(labels, "the label map")
            if not bool(torch.isfinite(labels).all()):
                raise ValueError("the label map holds NaN or infinite values")
            return labels.to(self.device, torch.float32)
        if labels.ndim == 3:
            self._check_size(labels, "the label map")
        seg = to_one_hot(labels.to(self.device), self.num_classes)
        if self.instance_edge:
            if instances is None:
                edges = torch.zeros_like(seg[:, :1])
            else:
                if tuple(instances.shape) != tuple(labels.shape):
                    raise ValueError(f"instances must be [N, H, W] like labels {tuple(labels.shape)}, got {_shape(instances)}")
                edges = instance_edges(instances.to(self.device))
            seg = torch.cat([seg, edges], dim=1)
        return seg

    def _check_z(self, z: Any, n: int, per_region: bool) -> torch.Tensor:
        want = f"[{n} or 1, K, {self.z_dim}]" if per_region else f"[{n} or 1, {self.z_dim}]"
        ok = isinstance(z, torch.Tensor) and z.is_floating_point() and z.ndim == (3 if per_region else 2)
        if not ok or z.shape[-1] != self.z_dim or z.shape[0] not in (1, n) or (per_region and z.shape[1] < 1):
            raise ValueError(f"z must be {want}{' with z_masks' if per_region else ''}, got {_shape(z)}")
        if not bool(torch.isfinite(z).all()):
            raise ValueError("z holds NaN or infinite values")
        return z.to(self.device, torch.float32).expand(n, *z.shape[1:])

    def _check_masks(self, masks: Any, n: int, k: int) -> torch.Tensor:
        h, w = self.img_resolution, self.img_width
        ok = isinstance(masks, torch.Tensor) and masks.is_floating_point() and masks.ndim == 4
        if not ok or masks.shape[1] != k or masks.shape[0] not in (1, n):
            raise ValueError(f"z_masks must be float [{n} or 1, {k}, {h}, {w}] (one mask per style code), got {_shape(masks)}")
        self._check_size(masks, "z_masks")
        masks = masks.to(self.device, torch.float32)
        if not bool(torch.isfinite(masks).all()) or bool((masks < 0).any()):
            raise ValueError("z_masks must be finite and non-negative")
        worst = float((masks.sum(dim=1) - 1).abs().max())
        if worst > MASK_SUM_TOLERANCE:
            raise ValueError(f"z_masks must sum to 1 at every pixel (within {MASK_SUM_TOLERANCE}); one pixel is off by {worst:.3g}")
        return masks.expand(n, -1, -1, -1)

    # ---------------------------------------------------------------- the latent control point
    def input_features(self, z: torch.Tensor, z_masks: torch.Tensor | None = None) -> torch.Tensor:
        """The VAE input tensor ``fc(z)`` ``[N, 16·ngf, sh, sw]`` — SPADE's only latent control point.

        ``z [N, z_dim]``; or per-region styles: ``z [N, K, z_dim]`` with ``z_masks [N, K, H, W]`` (image
        size, summing to 1 per pixel). Then each grid cell gets ``Σ_k a_k · fc(z_k)`` where ``a_k`` is mask
        ``k``'s mean over the cell (area downsampling): since ``fc`` is linear this is ``fc`` of the blended
        code, per cell. Spatial precision is one cell, ``2^k`` pixels (32 for 'normal', 64 for 'more').
        """
        if not self.use_vae:
            raise ValueError("this SPADE has no VAE (use_vae false): its input is the downsampled label map, not fc(z)")
        geo = self.geometry
        if z_masks is None:
            z = self._check_z(z, _batch(z), False)
            return self.fc(z).view(-1, self.input_channels, geo.sh, geo.sw)
        n = max(_batch(z), _batch(z_masks))
        z = self._check_z(z, n, True)
        k = z.shape[1]
        masks = self._check_masks(z_masks, n, k)
        weights = F.interpolate(masks, size=(geo.sh, geo.sw), mode="area")  # [N, K, sh, sw]
        weights = weights / weights.sum(dim=1, keepdim=True).clamp_min(1e-8)
        per_style = self.fc(z.reshape(n * k, -1)).view(n, k, self.input_channels, geo.sh, geo.sw)
        return (per_style * weights[:, :, None]).sum(dim=1)

    def label_features(self, seg: torch.Tensor) -> torch.Tensor:
        """Without VAE: ``fc`` of the semantic input ``seg [N, label_nc, H, W]`` nearest-resized to the grid
        -> ``[N, 16·ngf, sh, sw]`` (the baseline, ``label_injection`` "input": ``label_down(seg)``)."""
        if self.use_vae:
            raise ValueError("this SPADE uses a VAE (use_vae true): its input is fc(z); see input_features")
        if self.label_down is not None:
            return self.label_down(seg)
        return self.fc(F.interpolate(seg, size=(self.geometry.sh, self.geometry.sw), mode="nearest"))

    def synthesize_from_input(self, x: torch.Tensor, seg: torch.Tensor) -> torch.Tensor:
        """The blocks and ``conv_img``: input tensor ``x [N, 16·ngf, sh, sw]`` (from :meth:`input_features`
        or :meth:`label_features`, or a blend of them) and semantic input ``seg [N, label_nc, H, W]``
        (:meth:`label_input`) -> image ``[N, 3, H, W]`` in [-1, 1]. The baseline with VAE (``label_injection``
        "input") appends ``label_down(seg)`` to ``x`` here: its one view of the label map."""
        geo = self.geometry
        if x.ndim != 4 or tuple(x.shape[1:]) != (self.input_channels, geo.sh, geo.sw) or seg.shape[0] != x.shape[0]:
            raise ValueError(
                f"the input tensor must be [{seg.shape[0]}, {self.input_channels}, {geo.sh}, {geo.sw}], got {_shape(x)}"
            )
        if self.label_down is not None and self.use_vae:
            x = torch.cat([x, self.label_down(seg)], dim=1)
        for name, _, _, up in geo.blocks:
            if up:
                x = F.interpolate(x, scale_factor=2, mode="nearest")
            x = getattr(self, name)(x, seg)
        return torch.tanh(self.conv_img(F.leaky_relu(x, 0.2)))

    # ---------------------------------------------------------------- synthesis
    def synthesize_labels(
        self,
        labels: torch.Tensor,
        z: torch.Tensor | None = None,
        generator: torch.Generator | None = None,
        z_masks: torch.Tensor | None = None,
        instances: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Label maps -> images ``[N, 3, H, W]`` (float32, [-1, 1]).

        labels: integer class ids ``[N, H, W]`` or one-hot / soft ``[N, label_nc, H, W]`` (see
            :meth:`label_input`), ``H × W`` = ``img_resolution × img_width``.
        z: with ``use_vae``, style codes ``[N, z_dim]`` (None: standard normal drawn from ``generator``),
            or ``[N, K, z_dim]`` together with ``z_masks [N, K, H, W]`` for per-region styles
            (:meth:`input_features`). A batch of 1 on either side is repeated to the other's (one map in
            N styles, one style on N maps). Without VAE, z and z_masks must be None.
        instances: integer instance ids ``[N, H, W]`` for the edge channel (models with ``instance_edge``).
        """
        seg = self.label_input(labels, instances)
        if not self.use_vae:
            if z is not None or z_masks is not None:
                raise ValueError(
                    "this SPADE has no VAE (use_vae false): it is driven by the label map alone, leave z and z_masks out"
                )
            return self.synthesize_from_input(self.label_features(seg), seg)
        if z is None:
            if z_masks is not None:
                raise ValueError("z_masks need per-region style codes z [N, K, z_dim]")
            device = generator.device if generator is not None else self.device
            z = torch.randn(seg.shape[0], self.z_dim, generator=generator, device=device)
        x = self.input_features(z, z_masks)
        n = max(x.shape[0], seg.shape[0])
        if x.shape[0] not in (1, n) or seg.shape[0] not in (1, n):
            raise ValueError(f"z gives {x.shape[0]} styles for {seg.shape[0]} label maps; give as many, or one of either")
        return self.synthesize_from_input(x.expand(n, -1, -1, -1), seg.expand(n, -1, -1, -1))

    def forward(self, seg: torch.Tensor, z: torch.Tensor | None = None) -> torch.Tensor:
        """NVlabs' call ``G(seg, z)``: semantic input ``[N, label_nc, H, W]`` (or class ids) -> image."""
        return self.synthesize_labels(seg, z)

    # ---------------------------------------------------------------- encoder
    def encode(self, image: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Image ``[N, 3, H, W]`` in [-1, 1] (the model's image size) -> ``(mu, logvar)`` ``[N, z_dim]`` each.

        As NVlabs, the image is resized (bilinear) to ``encoder_size × encoder_size`` when it is not that size.
        """
        if self.encoder is None:
            why = "use_vae false" if not self.use_vae else "built without its encoder (no latest_net_E.pth)"
            raise ValueError(f"this SPADE has no style encoder ({why}); example-guided synthesis needs one")
        if not isinstance(image, torch.Tensor) or not image.is_floating_point() or image.ndim != 4 or image.shape[1] != 3:
            got = f"{image.dtype} {tuple(image.shape)}" if isinstance(image, torch.Tensor) else type(image).__name__
            raise ValueError(f"the encoder takes float RGB images [N, 3, H, W] in [-1, 1], got {got}")
        self._check_size(image, "the encoder image")
        image = image.to(self.device, torch.float32)
        size = self.encoder.size
        if tuple(image.shape[2:]) != (size, size):
            image = F.interpolate(image, size=(size, size), mode="bilinear", align_corners=False)
        return self.encoder(image)

    def reparameterize(
        self, mu: torch.Tensor, logvar: torch.Tensor, generator: torch.Generator | None = None
    ) -> torch.Tensor:
        """``z = mu + ε · exp(logvar / 2)`` ``[N, z_dim]``, ε standard normal from ``generator``."""
        if mu.shape != logvar.shape:
            raise ValueError(f"mu and logvar must have one shape, got {tuple(mu.shape)} and {tuple(logvar.shape)}")
        device = generator.device if generator is not None else mu.device
        eps = torch.randn(mu.shape, generator=generator, device=device).to(mu.device, mu.dtype)
        return mu + eps * torch.exp(0.5 * logvar)

