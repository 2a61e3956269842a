"""rosinality/stylegan2-pytorch checkpoints -> our StyleGAN2 (NVlabs parameter layout).

Both the converted ``{'g_ema', 'latent_avg'}`` files and full training checkpoints (``g``, ``d``,
``g_optim``, ``d_optim``, ``args``: an ``argparse.Namespace``) are read with ``torch.load(weights_only=True)``;
only ``argparse.Namespace`` is added to the allow-list, so no code from the file runs. The architecture
(size, channels per resolution, style dim, mapping depth) is inferred from the tensor shapes.
"""

from __future__ import annotations

import argparse
import re
from pathlib import Path
from typing import Any

import torch

from .errors import CheckpointError

__all__ = ["read_rosinality", "convert_rosinality_state", "is_rosinality_state"]

_STANDARD_BLUR = torch.tensor([1.0, 3.0, 3.0, 1.0])


def read_rosinality(path: str | Path) -> dict[str, Any]:
    """Load a rosinality ``.pt`` safely -> the raw checkpoint dict."""
    with torch.serialization.safe_globals([argparse.Namespace]):
        return torch.load(path, map_location="cpu", weights_only=True)


def is_rosinality_state(obj: Any) -> bool:
    """True when ``obj`` is a rosinality checkpoint dict or a bare rosinality generator state dict."""
    if isinstance(obj, dict) and "g_ema" in obj:
        obj = obj["g_ema"]
    return isinstance(obj, dict) and "input.input" in obj and "conv1.conv.weight" in obj


def convert_rosinality_state(ckpt: dict[str, Any], source: str = "checkpoint") -> tuple[dict, dict[str, torch.Tensor]]:
    """rosinality checkpoint -> ``(config, state_dict)`` for :class:`~regiongan.generators.stylegan2.StyleGAN2`.

    Uses ``g_ema`` (else ``g``); ``latent_avg`` becomes ``mapping.w_avg`` (zeros when absent, with truncation
    then meaning nothing until it is estimated).
    """
    if "g_ema" in ckpt:
        g = ckpt["g_ema"]
    elif "g" in ckpt:
        g = ckpt["g"]
    else:
        g = ckpt
    if not is_rosinality_state(g):
        raise CheckpointError(f"{source}: not a rosinality StyleGAN2 generator (no 'input.input' / 'conv1.conv.weight')")
    g = {k: v.float() for k, v in g.items()}

    mapping_idx = sorted({int(m.group(1)) for k in g if (m := re.fullmatch(r"style\.(\d+)\.weight", k))})
    if not mapping_idx or mapping_idx != list(range(1, len(mapping_idx) + 1)):
        raise CheckpointError(f"{source}: mapping layers style.1 … style.N not found or not contiguous")
    style_dim = g["style.1.weight"].shape[1]
    n_conv_pairs = len({int(m.group(1)) for k in g if (m := re.fullmatch(r"convs\.(\d+)\.conv\.weight", k))}) // 2
    size = 4 * 2**n_conv_pairs
    channels = {4: int(g["input.input"].shape[1])}
    for j in range(n_conv_pairs):
        channels[8 * 2**j] = int(g[f"convs.{2 * j}.conv.weight"].shape[1])
    for k, v in g.items():
        if k.endswith("blur.kernel") or k.endswith("upsample.kernel"):
            # Stored kernels are scaled by up² (sum 4); compare the normalised filters.
            ref = torch.outer(_STANDARD_BLUR, _STANDARD_BLUR)
            if v.shape != ref.shape or not torch.allclose(v / v.sum(), ref / ref.sum(), atol=1e-4):
                raise CheckpointError(f"{source}: {k} is not the standard [1,3,3,1] blur; this variant is not supported")

    sd: dict[str, torch.Tensor] = {}
    for i in mapping_idx:
        sd[f"mapping.fc{i - 1}.weight"] = g[f"style.{i}.weight"]
        sd[f"mapping.fc{i - 1}.bias"] = g[f"style.{i}.bias"]
    latent_avg = ckpt.get("latent_avg") if isinstance(ckpt, dict) else None
    sd["mapping.w_avg"] = latent_avg.float().reshape(style_dim) if latent_avg is not None else torch.zeros(style_dim)

    def styled_conv(src: str, dst: str, noise_key: str) -> None:
        sd[f"{dst}.weight"] = g[f"{src}.conv.weight"][0]
        sd[f"{dst}.affine.weight"] = g[f"{src}.conv.modulation.weight"]
        sd[f"{dst}.affine.bias"] = g[f"{src}.conv.modulation.bias"]
        sd[f"{dst}.noise_strength"] = g[f"{src}.noise.weight"].reshape([])
        sd[f"{dst}.bias"] = g[f"{src}.activate.bias"]
        if noise_key in g:
            sd[f"{dst}.noise_const"] = g[noise_key][0, 0]

    def to_rgb(src: str, dst: str) -> None:
        sd[f"{dst}.weight"] = g[f"{src}.conv.weight"][0]
        sd[f"{dst}.affine.weight"] = g[f"{src}.conv.modulation.weight"]
        sd[f"{dst}.affine.bias"] = g[f"{src}.conv.modulation.bias"]
        sd[f"{dst}.bias"] = g[f"{src}.bias"].reshape(-1)

    sd["synthesis.b4.const"] = g["input.input"][0]
    styled_conv("conv1", "synthesis.b4.conv1", "noises.noise_0")
    to_rgb("to_rgb1", "synthesis.b4.torgb")
    for j in range(n_conv_pairs):
        res = 8 * 2**j
        styled_conv(f"convs.{2 * j}", f"synthesis.b{res}.conv0", f"noises.noise_{2 * j + 1}")
        styled_conv(f"convs.{2 * j + 1}", f"synthesis.b{res}.conv1", f"noises.noise_{2 * j + 2}")
        to_rgb(f"to_rgbs.{j}", f"synthesis.b{res}.torgb")

    config = dict(
        z_dim=style_dim, c_dim=0, w_dim=style_dim, img_resolution=size, img_channels=3,
        mapping_layers=len(mapping_idx), mapping_lr_multiplier=_lr_mlp(ckpt), channels=channels,
        channel_max=max(channels.values()), architecture="skip",
    )  # fmt: skip
    return config, sd


def _lr_mlp(ckpt: Any) -> float:
    """Mapping learning-rate multiplier: from ``args.lr_mlp`` of training checkpoints, else rosinality's 0.01.

    It changes the forward pass only through the bias (bias * lr_mul), which rosinality stores unscaled.
    """
    args = ckpt.get("args") if isinstance(ckpt, dict) else None
    return float(getattr(args, "lr_mlp", 0.01)) if args is not None else 0.01
