"""NVlabs StyleGAN2 generators (stylegan2-ada-pytorch, stylegan3's networks_stylegan2) -> our StyleGAN2.

The state dict already uses our parameter names; only the constructor arguments need translating.
"""

from __future__ import annotations

from typing import Any

import torch

from .errors import CheckpointError

__all__ = ["config_from_nvidia_kwargs"]

# Synthesis kwargs that change speed or numerics of fp16 training but not the fp32 function we compute.
_IGNORED = {"num_fp16_res", "fp16_channels_last", "fused_modconv_default", "channels_last", "use_fp16"}
_MAPPING_KEYS = {"num_layers", "embed_features", "layer_features", "activation", "lr_multiplier", "w_avg_beta"}
_SYNTHESIS_KEYS = {"channel_base", "channel_max", "architecture", "resample_filter", "conv_clamp"}
_TOP_KEYS = {"z_dim", "c_dim", "w_dim", "img_resolution", "img_channels", "mapping_kwargs", "synthesis_kwargs"}


def config_from_nvidia_kwargs(
    init_kwargs: dict[str, Any], state_dict: dict[str, torch.Tensor] | None = None, source: str = "checkpoint"
) -> dict[str, Any]:
    """NVIDIA ``Generator`` init kwargs -> :class:`~regiongan.generators.stylegan2.StyleGAN2` config."""
    if state_dict is not None and any(k.startswith("synthesis.input.") for k in state_dict):
        raise CheckpointError(
            f"{source}: this is a StyleGAN3 (alias-free) generator; regiongan supports StyleGAN2 configs only "
            "(stylegan3 repo with --cfg=stylegan2 works)"
        )
    missing = [k for k in ("z_dim", "w_dim", "img_resolution") if k not in init_kwargs]
    if missing:
        raise CheckpointError(f"{source}: generator constructor arguments lack {missing}; found {sorted(init_kwargs)}")
    syn = dict(init_kwargs.get("synthesis_kwargs") or {})
    syn.update({k: v for k, v in init_kwargs.items() if k not in _TOP_KEYS})  # stylegan3 passes them flat
    mapping = dict(init_kwargs.get("mapping_kwargs") or {})
    unknown = sorted((set(syn) - _SYNTHESIS_KEYS - _IGNORED) | (set(mapping) - _MAPPING_KEYS))
    if unknown:
        raise CheckpointError(f"{source}: unsupported generator options {unknown}; regiongan cannot reproduce them exactly")
    if mapping.get("activation", "lrelu") != "lrelu":
        raise CheckpointError(f"{source}: mapping activation {mapping['activation']!r} is not supported (only 'lrelu')")
    filt = syn.get("resample_filter", [1, 3, 3, 1])
    return dict(
        z_dim=int(init_kwargs["z_dim"]),
        c_dim=int(init_kwargs.get("c_dim", 0)),
        w_dim=int(init_kwargs["w_dim"]),
        img_resolution=int(init_kwargs["img_resolution"]),
        img_channels=int(init_kwargs.get("img_channels", 3)),
        mapping_layers=int(mapping.get("num_layers", 8)),
        mapping_lr_multiplier=float(mapping.get("lr_multiplier", 0.01)),
        mapping_embed_features=mapping.get("embed_features"),
        mapping_layer_features=mapping.get("layer_features"),
        channel_base=int(syn.get("channel_base", 32768)),
        channel_max=int(syn.get("channel_max", 512)),
        architecture=str(syn.get("architecture", "skip")),
        resample_filter=[float(t) for t in filt],
        conv_clamp=None if syn.get("conv_clamp") is None else float(syn["conv_clamp"]),
        w_avg_beta=float(mapping.get("w_avg_beta", 0.995)),
    )
