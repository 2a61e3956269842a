"""rosinality/stylegan2-pytorch checkpoints -> our StyleGAN2 (NVlabs parameter layout).

Both the converted ``{'g_ema', 'latent_avg'}`` files and full training checkpoints (``g``, ``d``,
``g_optim``, ``d_optim``, ``args``: an ``argparse.Namespace``) are read with ``torch.load(weights_only=True)``;
only ``argparse.Namespace`` is added to the allow-list, so no code from the file runs. The architecture
(size, channels per resolution, style dim, mapping depth) is inferred from the tensor shapes, checked like
any other config (field ranges and the parameter budget) before a single tensor is converted.
"""

from __future__ import annotations

import argparse
import math
import re
from pathlib import Path
from typing import Any

import torch

from ..generators.registry import check_config
from ..limits import LimitError
from .errors import CheckpointError
from .reading import check_state_tensors, first_line, torch_load

__all__ = ["read_rosinality", "convert_rosinality_state", "is_rosinality_state"]

_STANDARD_BLUR = torch.tensor([1.0, 3.0, 3.0, 1.0])


def read_rosinality(path: str | Path) -> dict[str, Any]:
    """Load a rosinality ``.pt`` safely -> the raw checkpoint dict (see :func:`regiongan.checkpoints.load_model`,
    which also checks the file's size and kind first)."""
    return torch_load(Path(path))


def is_rosinality_state(obj: Any) -> bool:
    """True when ``obj`` is a rosinality checkpoint dict or a bare rosinality generator state dict."""
    if isinstance(obj, dict) and "g_ema" in obj:
        obj = obj["g_ema"]
    return isinstance(obj, dict) and "input.input" in obj and "conv1.conv.weight" in obj


def convert_rosinality_state(ckpt: Any, source: str = "checkpoint") -> tuple[dict, dict[str, torch.Tensor]]:
    """rosinality checkpoint -> ``(config, state_dict)`` for :class:`~regiongan.generators.stylegan2.StyleGAN2`.

    Uses ``g_ema`` (else ``g``); ``latent_avg`` becomes ``mapping.w_avg`` (zeros when absent, with truncation
    then meaning nothing until it is estimated). A damaged or foreign file raises a one-line
    :class:`CheckpointError`; a declared model above the budget :class:`~regiongan.limits.LimitError`.
    """
    if not isinstance(ckpt, dict):
        raise CheckpointError(f"{source}: a rosinality checkpoint is a dict, got {type(ckpt).__name__}")
    g = ckpt["g_ema"] if "g_ema" in ckpt else ckpt["g"] if "g" in ckpt else ckpt
    if not is_rosinality_state(g):
        raise CheckpointError(f"{source}: not a rosinality StyleGAN2 generator (no 'input.input' / 'conv1.conv.weight')")
    g = check_state_tensors(g, source, "rosinality generator")
    config = _infer_config(g, ckpt, source)
    g = {k: v.float() for k, v in g.items()}
    return config, _convert(g, ckpt, config, source)


def _infer_config(g: dict[str, torch.Tensor], ckpt: dict, source: str) -> dict[str, Any]:
    """The StyleGAN2 config the tensor shapes describe, validated and budget-checked (nothing converted yet)."""
    mapping_idx = sorted({int(m.group(1)) for k in g if (m := re.fullmatch(r"style\.(\d{1,9})\.weight", k))})
    if not mapping_idx or mapping_idx != list(range(1, len(mapping_idx) + 1)):
        raise CheckpointError(f"{source}: mapping layers style.1 … style.N not found or not contiguous")
    style_dim = _shape(g, "style.1.weight", 2, source)[1]
    conv_idx = sorted({int(m.group(1)) for k in g if (m := re.fullmatch(r"convs\.(\d{1,9})\.conv\.weight", k))})
    if conv_idx != list(range(len(conv_idx))) or len(conv_idx) % 2:
        raise CheckpointError(f"{source}: upsampling convs convs.0 … convs.2N-1 not found in pairs or not contiguous")
    n_conv_pairs = len(conv_idx) // 2
    channels = {4: _shape(g, "input.input", 4, source)[1]}
    for j in range(n_conv_pairs):
        channels[8 << j] = _shape(g, f"convs.{2 * j}.conv.weight", 5, source)[1]
    for k, v in g.items():
        if k.endswith("blur.kernel") or k.endswith("upsample.kernel"):
            # Stored kernels are scaled by up² (sum 4); compare the normalised filters.
            ref = torch.outer(_STANDARD_BLUR, _STANDARD_BLUR)
            v = v.float()
            if v.shape != ref.shape or not torch.allclose(v / v.sum(), ref / ref.sum(), atol=1e-4):
                raise CheckpointError(f"{source}: {k} is not the standard [1,3,3,1] blur; this variant is not supported")
    config = dict(
        z_dim=style_dim, c_dim=0, w_dim=style_dim, img_resolution=4 << n_conv_pairs, img_channels=3,
        mapping_layers=len(mapping_idx), mapping_lr_multiplier=_lr_mlp(ckpt, source), channels=channels,
        channel_max=max(channels.values()), architecture="skip",
    )  # fmt: skip
    try:
        check_config("stylegan2", config)
    except LimitError as e:
        raise LimitError(f"{source}: {e}") from None
    except ValueError as e:
        raise CheckpointError(f"{source}: the architecture inferred from the tensors is invalid: {first_line(e)}") from None
    return config


def _shape(g: dict[str, torch.Tensor], key: str, ndim: int, source: str) -> tuple[int, ...]:
    if key not in g:
        raise CheckpointError(f"{source}: the rosinality generator lacks {key!r}")
    shape = tuple(g[key].shape)
    if len(shape) != ndim or not all(shape):
        raise CheckpointError(f"{source}: {key!r} has shape {shape}, expected {ndim} non-zero dimensions")
    return shape


def _convert(g: dict[str, torch.Tensor], ckpt: dict, config: dict[str, Any], source: str) -> dict[str, torch.Tensor]:
    style_dim = config["w_dim"]

    def take(key: str, min_ndim: int = 0) -> torch.Tensor:
        if key not in g:
            raise CheckpointError(f"{source}: the rosinality generator lacks {key!r}")
        if g[key].ndim < min_ndim:
            raise CheckpointError(f"{source}: {key!r} has shape {tuple(g[key].shape)}, expected {min_ndim}+ dimensions")
        return g[key]

    def scalar(key: str) -> torch.Tensor:
        t = take(key)
        if t.numel() != 1:
            raise CheckpointError(f"{source}: {key!r} has shape {tuple(t.shape)}, expected one number")
        return t.reshape([])

    sd: dict[str, torch.Tensor] = {}
    for i in range(1, config["mapping_layers"] + 1):
        sd[f"mapping.fc{i - 1}.weight"] = take(f"style.{i}.weight")
        sd[f"mapping.fc{i - 1}.bias"] = take(f"style.{i}.bias")
    latent_avg = ckpt.get("latent_avg")
    if latent_avg is None:
        sd["mapping.w_avg"] = torch.zeros(style_dim)
    elif not isinstance(latent_avg, torch.Tensor) or latent_avg.numel() != style_dim:
        got = tuple(latent_avg.shape) if isinstance(latent_avg, torch.Tensor) else type(latent_avg).__name__
        raise CheckpointError(f"{source}: latent_avg must be a tensor of {style_dim} numbers, got {got}")
    else:
        sd["mapping.w_avg"] = check_state_tensors({"latent_avg": latent_avg}, source)["latent_avg"].float().reshape(style_dim)

    def styled_conv(src: str, dst: str, noise_key: str) -> None:
        sd[f"{dst}.weight"] = take(f"{src}.conv.weight", 1)[0]
        sd[f"{dst}.affine.weight"] = take(f"{src}.conv.modulation.weight")
        sd[f"{dst}.affine.bias"] = take(f"{src}.conv.modulation.bias")
        sd[f"{dst}.noise_strength"] = scalar(f"{src}.noise.weight")
        sd[f"{dst}.bias"] = take(f"{src}.activate.bias")
        if noise_key in g:
            sd[f"{dst}.noise_const"] = take(noise_key, 2)[0, 0]

    def to_rgb(src: str, dst: str) -> None:
        sd[f"{dst}.weight"] = take(f"{src}.conv.weight", 1)[0]
        sd[f"{dst}.affine.weight"] = take(f"{src}.conv.modulation.weight")
        sd[f"{dst}.affine.bias"] = take(f"{src}.conv.modulation.bias")
        sd[f"{dst}.bias"] = take(f"{src}.bias").reshape(-1)

    sd["synthesis.b4.const"] = take("input.input", 1)[0]
    styled_conv("conv1", "synthesis.b4.conv1", "noises.noise_0")
    to_rgb("to_rgb1", "synthesis.b4.torgb")
    for j in range(len(config["channels"]) - 1):
        res = 8 << j
        styled_conv(f"convs.{2 * j}", f"synthesis.b{res}.conv0", f"noises.noise_{2 * j + 1}")
        styled_conv(f"convs.{2 * j + 1}", f"synthesis.b{res}.conv1", f"noises.noise_{2 * j + 2}")
        to_rgb(f"to_rgbs.{j}", f"synthesis.b{res}.torgb")
    return sd


def _lr_mlp(ckpt: dict, source: str) -> float:
    """Mapping learning-rate multiplier: from ``args.lr_mlp`` of training checkpoints, else rosinality's 0.01.

    It changes the forward pass only through the bias (bias * lr_mul), which rosinality stores unscaled.
    """
    args = ckpt.get("args")
    value = getattr(args, "lr_mlp", 0.01) if isinstance(args, argparse.Namespace) else 0.01
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value <= 0:
        raise CheckpointError(f"{source}: args.lr_mlp must be a finite number > 0, got {value!r:.60}")
    return float(value)
